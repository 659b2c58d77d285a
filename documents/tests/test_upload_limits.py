"""Per-workspace storage and document caps, and uploads per user per hour (issue 13, finding 7), from the outside:
through the upload API (and the page's form), with small limits set per test."""

import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from accounts.models import Workspace
from accounts.tests.factories import UserFactory
from documents.models import Document, DocumentVersion
from documents.services import upload as upload_service
from documents.services.upload import UploadRateLimited, document_upload, upload_rate_check

pytestmark = pytest.mark.django_db


def _upload(client, name: str, data: bytes, **extra):
    return client.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


def _stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_upload_past_the_workspace_storage_cap_is_refused_with_413_and_nothing_stored(alice, api_client_for, settings):
    settings.WORKSPACE_STORAGE_MAX_BYTES = 1000
    client = api_client_for(alice)
    assert _upload(client, "a.txt", b"a" * 600).status_code == 201
    files_before = _stored_files(settings)

    response = _upload(client, "b.txt", b"b" * 401)  # 600 + 401 > 1000

    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "workspace_storage_full" and "storage limit" in body["detail"]
    assert Document.objects.count() == 1 and DocumentVersion.objects.count() == 1
    assert _stored_files(settings) == files_before
    assert _upload(client, "c.txt", b"c" * 400).status_code == 201  # exactly at the cap still fits


def test_new_version_counts_against_the_storage_cap(alice, api_client_for, settings):
    settings.WORKSPACE_STORAGE_MAX_BYTES = 1000
    client = api_client_for(alice)
    doc = _upload(client, "v.txt", b"1" * 500).json()
    Document.objects.filter(pk=doc["id"]).update(status="ready")
    url = f"/api/v1/documents/{doc['id']}/versions/"
    files_before = _stored_files(settings)

    response = client.post(url, {"file": SimpleUploadedFile("v2.txt", b"2" * 501)}, format="multipart")

    assert response.status_code == 413 and response.json()["code"] == "workspace_storage_full"
    assert DocumentVersion.objects.count() == 1 and _stored_files(settings) == files_before
    ok = client.post(url, {"file": SimpleUploadedFile("v2.txt", b"2" * 500)}, format="multipart")
    assert ok.status_code == 202


def test_documents_cap_answers_409_per_workspace_and_duplicates_still_answer(
    alice, workspace, api_client_for, settings
):
    settings.WORKSPACE_DOCUMENTS_MAX = 2
    client = api_client_for(alice)
    assert _upload(client, "1.txt", b"one").status_code == 201
    assert _upload(client, "2.txt", b"two").status_code == 201
    files_before = _stored_files(settings)

    refused = _upload(client, "3.txt", b"three")

    assert refused.status_code == 409
    assert refused.json()["code"] == "workspace_documents_full" and "2 documents" in refused.json()["detail"]
    assert Document.objects.filter(workspace=alice.personal_workspace).count() == 2
    assert _stored_files(settings) == files_before
    again = _upload(client, "copy.txt", b"one")  # the same bytes: nothing new is stored, the existing one answers
    assert again.status_code == 200 and again.json()["created"] is False
    assert _upload(client, "3.txt", b"three", workspace=workspace.pk).status_code == 201  # another workspace


def test_uploads_per_user_per_hour_are_counted_across_workspaces(alice, bob, workspace, api_client_for, settings):
    settings.UPLOADS_PER_USER_PER_HOUR = 3
    client = api_client_for(alice)
    assert _upload(client, "1.txt", b"one").status_code == 201
    assert _upload(client, "2.txt", b"two", workspace=workspace.pk).status_code == 201
    doc = _upload(client, "3.txt", b"three", workspace=workspace.pk).json()
    Document.objects.filter(pk=doc["id"]).update(status="ready")

    refused = _upload(client, "4.txt", b"four")
    version = client.post(
        f"/api/v1/documents/{doc['id']}/versions/", {"file": SimpleUploadedFile("v.txt", b"new")}, format="multipart"
    )

    for response in (refused, version):
        assert response.status_code == 429
        assert response.json()["code"] == "upload_rate_limited" and "3 uploads per hour" in response.json()["detail"]
        assert 1 <= int(response["Retry-After"]) <= 3600
    assert Document.objects.count() == 3 and DocumentVersion.objects.count() == 3
    assert _upload(api_client_for(bob), "b.txt", b"bob's").status_code == 201  # another user's own count


def test_hourly_count_is_atomic_across_threads(settings):
    """Each thread has its own connection to the shared Redis cache (as separate web processes would):
    exactly the limit passes however the increments interleave."""
    settings.UPLOADS_PER_USER_PER_HOUR = 10
    user = UserFactory.build(pk=987654)
    passed: list[int] = []
    start = threading.Barrier(25)

    def attempt() -> None:
        start.wait()
        try:
            upload_rate_check(user=user)
        except UploadRateLimited:
            return
        passed.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) == 10


def _lock_waiters() -> int:
    """Backends of this database waiting for a row or transaction lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_cannot_both_pass_the_documents_cap(settings, monkeypatch):
    """Room for one document; the first upload is held right after its check inside the transaction, the second
    one must then wait for the workspace lock (seen in pg_stat_activity), and is refused once the first commits.
    Without the lock the second would find room too and both would be created."""
    settings.WORKSPACE_DOCUMENTS_MAX = 1
    owner = UserFactory.create()
    workspace = Workspace.objects.get(personal_for=owner)
    checked, release = threading.Event(), threading.Event()
    real_check = upload_service.workspace_room_check
    outcomes: dict[str, str] = {}

    def held_check(**kwargs) -> None:
        real_check(**kwargs)
        if threading.current_thread().name == "first" and connection.in_atomic_block:
            checked.set()
            assert release.wait(timeout=30)

    monkeypatch.setattr(upload_service, "workspace_room_check", held_check)

    def upload(data: bytes) -> None:
        name = threading.current_thread().name
        try:
            file = SimpleUploadedFile("x.txt", data)
            document_upload(workspace=workspace, user=owner, file=file, filename="x.txt", enqueue=False)
            outcomes[name] = "created"
        except Exception as exc:
            outcomes[name] = type(exc).__name__
        finally:
            connection.close()

    first = threading.Thread(target=upload, args=(b"first file",), name="first")
    second = threading.Thread(target=upload, args=(b"second file",), name="second")
    first.start()
    assert checked.wait(timeout=30)
    second.start()
    deadline = time.monotonic() + 20
    while _lock_waiters() == 0 and second.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)  # polling an observable condition (a waiting backend), not a guess at timing
    waited = _lock_waiters() > 0
    release.set()
    first.join()
    second.join()
    assert waited, outcomes
    assert outcomes == {"first": "created", "second": "WorkspaceDocumentsFull"}
    assert Document.objects.filter(workspace=workspace).count() == 1


def test_page_form_shows_the_refusal(client_for, alice, settings):
    settings.WORKSPACE_DOCUMENTS_MAX = 1
    client = client_for(alice)
    files = [SimpleUploadedFile("one.md", b"# One\n\nwords"), SimpleUploadedFile("two.md", b"# Two\n\nwords")]

    response = client.post(reverse("documents:upload"), {"file": files}, follow=True)

    page = response.content.decode()
    assert "“one” was uploaded and queued" in page
    assert "two.md: This workspace has reached its limit of 1 documents" in page
    assert Document.objects.count() == 1


def test_documents_page_shows_the_workspace_usage_and_limits(client_for, alice, api_client_for, settings):
    settings.WORKSPACE_DOCUMENTS_MAX = 7
    settings.WORKSPACE_STORAGE_MAX_BYTES = 2_000_000_000
    assert _upload(api_client_for(alice), "a.txt", b"abc").status_code == 201

    page = client_for(alice).get(reverse("documents:index")).content.decode()

    assert "This workspace: 1 of 7 documents · 0.00 of 2 GB stored" in page


def test_a_dead_cache_does_not_stop_uploads(alice, api_client_for, settings):
    """The hourly upload count lives in Redis; with it unreachable uploads go on (and wait in ``queued``)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = api_client_for(alice).post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("notes.txt", b"Notes while the cache is down.")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
