"""Backup and restore from the outside (issue 14, item 6): a workspace with ingested documents (a text and a
two-page PDF) answers a question through the chat API; ``manage.py backup`` writes the database, media and manifest;
``manage.py restore`` into a new, empty database (and an empty MEDIA_ROOT) gives a workspace that answers the same
question with the same citations (chunk and document ids, pages, quotes) and serves the same file bytes. A backup
with one flipped byte, and a restore into a non-empty database without --force, are refused.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files import File
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User, Workspace
from accounts.selectors import workspace_get_personal
from chat.tests.factories import VOLCANO, ask
from config.backup import MANIFEST_NAME, MEDIA_NAME, SUMS_NAME, sha256_file
from documents.models import Document, DocumentVersion
from documents.services.ingest import document_ingest
from documents.services.upload import document_upload
from documents.tests.samples import make_pdf
from retrieval.tests.factories import ingest_text

# pg_dump sees only committed rows: this module's tests commit (and pytest-django truncates afterwards).
pytestmark = pytest.mark.django_db(transaction=True)

LIGHTHOUSE_PAGES = [
    "The harbour was built of granite in the eighteenth century. Fishing boats moored along its inner wall.",
    "The lighthouse keeper lit the lamp every evening at dusk. Its beam reached twenty nautical miles out to sea.",
]
QUESTION = "How far out to sea did the lighthouse beam reach?"


def _citations(body: dict) -> list[tuple]:
    return [
        (c["marker"], c["chunk_id"], c["document_id"], c["page_start"], c["page_end"], c["quote"])
        for c in body["citations"]
    ]


def _ask_fresh(client, question: str) -> dict:
    conversation = client.post("/api/v1/conversations/", {"title": "Backup"}, format="json").json()["id"]
    response = ask(client, conversation, question)
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def space(alice: User, media: Path, tmp_path: Path) -> Workspace:
    workspace = workspace_get_personal(user=alice)
    ingest_text(workspace, VOLCANO[1], title=VOLCANO[0])
    pdf = make_pdf(tmp_path, LIGHTHOUSE_PAGES, name="harbour.pdf")
    with pdf.open("rb") as f:
        result = document_upload(
            workspace=workspace, user=alice, file=File(f, name=pdf.name), filename=pdf.name, enqueue=False
        )
    assert document_ingest(document_id=result.document.pk) == Document.Status.READY
    return workspace


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A new empty database on the same server; the default connection points at it for the test's duration."""
    original = connection.settings_dict["NAME"]
    name = f"{original}_restore"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield name
    finally:
        connection.close()
        connection.settings_dict["NAME"] = original
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _flip_a_byte(source: Path, target: Path, name: str) -> None:
    shutil.copytree(source, target)
    path = target / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_restored_backup_answers_the_same_question_with_the_same_citations(
    alice, space, api_client_for, settings, tmp_path, request
):
    before = _ask_fresh(api_client_for(alice), QUESTION)
    assert before["provider"] == "extractive" and before["citations"], before
    assert any(c["page_start"] == 2 for c in before["citations"]), before  # the PDF's second page is cited
    files = {v.pk: Path(v.file.path).read_bytes() for v in DocumentVersion.objects.all()}

    settings.GIT_COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # as in the image (no .git there)
    call_command("backup", str(tmp_path / "backup"))
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["postgresql"]["pgvector"] and manifest["postgresql"]["server"]
    assert manifest["groundwork"]["commit"] == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    assert manifest["extra"]["embedding_model"]["dimensions"] == 384 and manifest["media_files"] == len(files)
    with pytest.raises(CommandError, match="is not empty"):  # the live database still holds everything
        call_command("restore", str(tmp_path / "backup"))

    _flip_a_byte(tmp_path / "backup", tmp_path / "damaged", "database.dump")
    request.getfixturevalue("empty_database")
    settings.MEDIA_ROOT = tmp_path / "restored-media"
    with pytest.raises(CommandError, match=re.escape("database.dump does not match its SHA-256")):
        call_command("restore", str(tmp_path / "damaged"))
    assert not settings.MEDIA_ROOT.exists()  # refused before anything was written

    call_command("restore", str(tmp_path / "backup"))
    cache.clear()  # nothing may come from the cache of the original database's answers
    assert {v.pk: Path(v.file.path).read_bytes() for v in DocumentVersion.objects.all()} == files
    after = _ask_fresh(api_client_for(alice), QUESTION)
    assert (after["provider"], after["answer"]) == (before["provider"], before["answer"])
    assert _citations(after) == _citations(before)


def test_a_damaged_media_archive_or_manifest_is_refused(alice, media, tmp_path):
    (media / "documents").mkdir(parents=True)
    (media / "documents" / "a.txt").write_text("hello")
    call_command("backup", str(tmp_path / "backup"))
    _flip_a_byte(tmp_path / "backup", tmp_path / "bad-media", "media.tar")
    with pytest.raises(CommandError, match=re.escape("media.tar does not match")):
        call_command("restore", str(tmp_path / "bad-media"))
    _flip_a_byte(tmp_path / "backup", tmp_path / "bad-manifest", "manifest.json")
    with pytest.raises(CommandError, match=re.escape("manifest.json does not match its SHA-256 checksum in")):
        call_command("restore", str(tmp_path / "bad-manifest"))
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "backup", capture_output=True, text=True)
    assert sums.returncode == 0 and sums.stdout.count(": OK") == 3, sums  # an operator can check with coreutils
    (tmp_path / "backup" / "SHA256SUMS").unlink()
    with pytest.raises(CommandError, match="is not a complete backup"):
        call_command("restore", str(tmp_path / "backup"))
    with pytest.raises(CommandError, match="is not empty: a backup goes into a new or empty directory"):
        call_command("backup", str(tmp_path / "bad-media"))


def test_restore_with_force_replaces_a_non_empty_database_and_media(alice, media, tmp_path):
    (media / "documents").mkdir(parents=True)
    (media / "documents" / "kept.txt").write_text("in the backup")
    call_command("backup", str(tmp_path / "backup"))
    User.objects.create_user(email="later@example.com", password="x-later-1234")
    (media / "documents" / "later.txt").write_text("after the backup")
    call_command("restore", str(tmp_path / "backup"), "--force")
    assert User.objects.filter(email=alice.email).exists() and not User.objects.filter(email="later@example.com")
    assert sorted(str(p.relative_to(media)) for p in media.rglob("*")) == ["documents", "documents/kept.txt"]


def _replace_media_archive(directory: Path, members: list[tuple[str, bytes]]) -> None:
    """Give the backup in ``directory`` another media.tar (these members, in order) with matching checksums: a
    backup whose archive passes verification but fails to extract part-way."""
    with tarfile.open(directory / MEDIA_NAME, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    archive = directory / MEDIA_NAME
    manifest["files"][MEDIA_NAME] = {"sha256": sha256_file(archive), "bytes": archive.stat().st_size}
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    sums = dict(line.split()[::-1] for line in (directory / SUMS_NAME).read_text().splitlines())
    sums.update({name: sha256_file(directory / name) for name in (MEDIA_NAME, MANIFEST_NAME)})
    (directory / SUMS_NAME).write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()))


def test_a_media_archive_failing_to_extract_leaves_the_database_and_the_media_as_they_were(alice, media, tmp_path):
    """The second member escapes the target folder (the extraction's ``data`` filter refuses it, after the first
    was written): nothing is restored, neither the database nor a single media file."""
    (media / "documents").mkdir(parents=True)
    (media / "documents" / "kept.txt").write_text("in the backup")
    call_command("backup", str(tmp_path / "backup"))
    _replace_media_archive(tmp_path / "backup", [("documents/new.txt", b"restored"), ("../escaped.txt", b"out")])
    User.objects.create_user(email="later@example.com", password="x-later-1234")
    (media / "documents" / "later.txt").write_text("after the backup")

    with pytest.raises(CommandError, match=re.escape("media.tar could not be extracted")):
        call_command("restore", str(tmp_path / "backup"), "--force")
    assert User.objects.filter(email="later@example.com").exists()  # the database was not restored
    assert sorted(str(p.relative_to(media)) for p in media.rglob("*")) == [
        "documents",
        "documents/kept.txt",
        "documents/later.txt",
    ]


def test_a_database_url_style_connection_is_reached_and_its_password_stays_off_the_output(
    alice, media, tmp_path, capsys
):
    """DATABASE_URL (django-environ) puts a socket host into OPTIONS and a password into PASSWORD."""
    original = dict(connection.settings_dict)
    connection.settings_dict.update(
        HOST="", PASSWORD="planted-password-77", OPTIONS={**original["OPTIONS"], "host": original["HOST"]}
    )
    try:
        call_command("backup", str(tmp_path / "backup"))
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
    assert User.objects.filter(pk=alice.pk).exists()
    assert "planted-password-77" not in capsys.readouterr().out + (tmp_path / "backup" / "manifest.json").read_text()
