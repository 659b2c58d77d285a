"""A user's own uploads-per-hour limit (``User.uploads_per_hour``, set by staff in the admin; issue 13): from the
outside, through the upload API and the page's form, the user may send more than ``UPLOADS_PER_USER_PER_HOUR``
and is still refused past their own limit; other users keep the setting's."""

import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import User
from documents.models import Document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _upload(client, name: str, data: bytes, **extra):
    return client.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


def test_api_accepts_more_than_the_setting_up_to_the_users_override(
    alice, bob, workspace, api_client_for, settings, caplog
):
    settings.UPLOADS_PER_USER_PER_HOUR = 2
    User.objects.filter(pk=alice.pk).update(uploads_per_hour=4)  # what the admin field stores
    client = api_client_for(User.objects.get(pk=alice.pk))  # as a request loads its user

    accepted = [_upload(client, f"{n}.txt", f"file {n}".encode(), workspace=workspace.pk) for n in range(4)]
    with caplog.at_level(logging.WARNING, logger="documents.services.upload"):
        refused = _upload(client, "5.txt", b"file 5")

    assert [r.status_code for r in accepted] == [201] * 4  # twice the setting's 2
    assert refused.status_code == 429
    assert refused.json()["code"] == "upload_rate_limited" and "4 uploads per hour" in refused.json()["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert f"user {alice.pk} is over 4 uploads" in caplog.text
    assert Document.objects.filter(uploaded_by=alice).count() == 4
    # New versions count against the same limit.
    doc = Document.objects.filter(uploaded_by=alice).first()
    assert doc is not None
    Document.objects.filter(pk=doc.pk).update(status="ready")
    version = client.post(
        f"/api/v1/documents/{doc.pk}/versions/", {"file": SimpleUploadedFile("v.txt", b"new")}, format="multipart"
    )
    assert version.status_code == 429 and version.json()["code"] == "upload_rate_limited"
    # bob has no override: the setting's 2 per hour.
    bob_client = api_client_for(bob)
    assert [_upload(bob_client, f"b{n}.txt", f"bob {n}".encode()).status_code for n in range(3)] == [201, 201, 429]


def test_override_takes_effect_without_waiting_for_the_hour(alice, api_client_for, settings):
    """Staff raising the limit of a user who was just refused lets the next upload through (same hour)."""
    settings.UPLOADS_PER_USER_PER_HOUR = 1
    client = api_client_for(alice)
    assert _upload(client, "1.txt", b"one").status_code == 201
    assert _upload(client, "2.txt", b"two").status_code == 429
    User.objects.filter(pk=alice.pk).update(uploads_per_hour=3)
    client = api_client_for(User.objects.get(pk=alice.pk))  # the next request loads the user afresh
    # The refused attempt counted (2 of 3): one more passes, then the override refuses.
    assert _upload(client, "3.txt", b"three").status_code == 201
    refused = _upload(client, "4.txt", b"four")
    assert refused.status_code == 429 and "3 uploads per hour" in refused.json()["detail"]


def test_page_form_accepts_more_than_the_setting_up_to_the_users_override(alice, client_for, settings):
    settings.UPLOADS_PER_USER_PER_HOUR = 1
    User.objects.filter(pk=alice.pk).update(uploads_per_hour=3)
    client = client_for(alice)
    files = [SimpleUploadedFile(f"p{n}.txt", f"page file {n}".encode()) for n in range(4)]

    page = client.post(reverse("documents:upload"), {"file": files}, follow=True).content.decode()

    assert Document.objects.filter(uploaded_by=alice).count() == 3
    assert "p3.txt: You have reached the limit of 3 uploads per hour" in page
