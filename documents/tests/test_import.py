"""``manage.py import_documents``: folders and ZIP archives through the upload service; a re-run imports only what
is new, a changed file at a known path becomes a new version, and the hourly upload limit does not stop it."""

from __future__ import annotations

import logging
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from documents.models import Document, DocumentVersion
from documents.tests import samples
from documents.tests.emails import make_message

ELF = b"\x7fELF\x02\x01\x01" + bytes(200)


def _text(n: int) -> str:
    return f"Record {n}: the harbour master logged {n * 7} ships on tide {n}.\n\n{samples.REAL_TEXT[: 200 + n % 50]}"


def make_folder(root: Path) -> Path:
    """500 distinct importable files (text, Markdown, CSV, HTML, e-mail, PDF, DOCX and 20 inside a ZIP), plus 5
    copies of some of them, one Linux program and hidden files."""
    (root / "a").mkdir(parents=True)
    (root / "b" / "sub").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "copies").mkdir()
    for n in range(50):
        samples.write(root / "a", f"note-{n:03}.txt", _text(n))
        samples.write(root / "a", f"page-{n:03}.md", f"# Page {n}\n\n{_text(n + 1000)}")
        samples.write(root / "a", f"table-{n:03}.csv", f"ship,tide\nS{n},{n}\nT{n},{n + 1}\nU{n},{n + 2}\n")
        samples.write(
            root / "a", f"site-{n:03}.html", f"<html><head><title>Site {n}</title></head><p>{_text(n + 2000)}</p>"
        )
        samples.write(
            root / "b" / "sub", f"mail-{n:03}.eml", make_message(subject=f"Tides {n}", body=_text(n + 3000)).as_bytes()
        )
    for n in range(150):
        samples.write(root / "b" / "sub", f"log-{n:03}.txt", _text(n + 4000))
    for n in range(40):
        samples.make_pdf(root / "docs", [_text(n + 5000)], name=f"report-{n:03}.pdf")
        samples.make_docx(
            root / "docs", [("Heading 1", f"Memo {n}"), ("Normal", _text(n + 6000))], name=f"memo-{n:03}.docx"
        )
    members = {f"inside/part-{n:02}.txt": _text(n + 7000).encode() for n in range(20)}
    members["__MACOSX/._part-00.txt"] = b"resource fork"
    samples.make_zip(root, "bundle.zip", members)
    for name in ("a/note-000.txt", "a/page-001.md", "docs/report-000.pdf", "docs/memo-000.docx", "b/sub/log-007.txt"):
        shutil.copy(root / name, root / "copies" / Path(name).name)
    samples.write(root, "program.bin", ELF)
    samples.write(root, ".DS_Store", b"\x00\x00\x00\x01Bud1")
    return root


def summary(out: str) -> dict[str, int]:
    return {
        name: int(count.replace(",", ""))
        for name, count in re.findall(r"^  (new|unchanged|new version|refused):\s+([\d,]+)$", out, re.M)
    }


@pytest.mark.django_db
def test_a_folder_of_500_files_imports_500_then_nothing_then_new_versions(alice, workspace, tmp_path, capsys, settings):
    settings.UPLOADS_PER_USER_PER_HOUR = 3  # an operator's import is not an upload through the API
    root = make_folder(tmp_path / "share")
    args = [str(root), "--workspace", str(workspace.pk), "--recursive", "--user", alice.email]
    levels = [logging.getLogger(name).level for name in ("documents", "django_structlog")]

    call_command("import_documents", *args)
    first = capsys.readouterr()
    assert [logging.getLogger(name).level for name in ("documents", "django_structlog")] == levels  # given back
    assert summary(first.out) == {"new": 500, "unchanged": 5, "new version": 0, "refused": 1}, first.out
    assert f"refused: {root / 'program.bin'}: This looks like a Linux program" in first.out
    assert "506 files" in first.out and "files/s" in first.out
    assert "importing" in first.err and "506/506 files" in first.err  # the progress bar, on stderr
    documents = Document.objects.filter(workspace=workspace)
    assert documents.count() == 500 and not documents.filter(source_path="").exists()
    assert documents.filter(uploaded_by=alice).count() == 500
    member = documents.get(source_path=f"{root / 'bundle.zip'}/inside/part-03.txt")
    assert member.versions.get().original_filename == "part-03.txt"
    assert not documents.filter(versions__original_filename__startswith="._").exists()  # __MACOSX, hidden files

    call_command("import_documents", *args)
    again = capsys.readouterr().out
    assert summary(again) == {"new": 0, "unchanged": 505, "new version": 0, "refused": 1}, again

    samples.write(root / "a", "note-003.txt", "A changed note: the harbour closes at noon.")
    with zipfile.ZipFile(root / "bundle.zip", "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("inside/part-04.txt", "A changed part: the tide turns at six.")  # as `zip -u` does
    call_command("import_documents", *args)
    changed = capsys.readouterr().out
    assert summary(changed) == {"new": 0, "unchanged": 503, "new version": 2, "refused": 1}, changed
    assert Document.objects.filter(workspace=workspace).count() == 500
    note = Document.objects.get(source_path=str(root / "a" / "note-003.txt"))
    assert note.pending_version is not None and note.pending_version.number == 2 and note.status == "queued"
    assert DocumentVersion.objects.filter(document=note).count() == 2


@pytest.mark.django_db
def test_include_exclude_recursion_and_archive_limits(alice, workspace, tmp_path, capsys, settings):
    root = tmp_path / "share"
    (root / "sub").mkdir(parents=True)
    samples.write(root, "keep.md", "# Keep\n\nThe harbour.")
    samples.write(root, "drop.txt", "Dropped by the include glob.")
    samples.write(root / "sub", "deep.md", "# Deep\n\nOnly with --recursive.")
    samples.make_zip(root, "many.zip", {f"m{n}.md": f"# M{n}\n\nText {n}.".encode() for n in range(6)})
    settings.ZIP_MAX_MEMBERS = 5

    call_command("import_documents", str(root), "--workspace", str(workspace.pk), "--include", "*.md")
    out = capsys.readouterr().out
    assert summary(out) == {"new": 1, "unchanged": 0, "new version": 0, "refused": 1}, out
    assert "possible zip bomb" in out and "left out by --include/--exclude: 1" in out
    assert "sub-folders not read (no --recursive): 1" in out

    settings.ZIP_MAX_MEMBERS = 10
    call_command(
        "import_documents", str(root), "--workspace", str(workspace.pk), "--recursive", "--exclude", "m[0-3].md"
    )
    out = capsys.readouterr().out
    assert summary(out) == {"new": 4, "unchanged": 1, "new version": 0, "refused": 0}, out  # drop, deep, m4, m5
    assert Document.objects.get(title_from_file=True, source_path=str(root / "sub" / "deep.md")).uploaded_by is None


@pytest.mark.django_db
def test_bad_arguments_are_refused(alice, charlie, workspace, tmp_path):
    with pytest.raises(CommandError, match="No workspace"):
        call_command("import_documents", str(tmp_path), "--workspace", "999999")
    with pytest.raises(CommandError, match="not a member"):
        call_command("import_documents", str(tmp_path), "--workspace", str(workspace.pk), "--user", charlie.email)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_wait_follows_ingestion_to_the_end(alice, workspace, tmp_path, capsys):
    root = tmp_path / "share"
    root.mkdir()
    samples.write(root, "a.md", "# Tides\n\nThe tide turns at six.")
    samples.write(root, "b.txt", samples.REAL_TEXT)
    message = make_message(attachments=[("plan.txt", b"The harbour plan for the spring.", "text/plain")])
    samples.write(root, "c.eml", message.as_bytes())
    samples.write(root, "empty.txt", b"")

    call_command("import_documents", str(root), "--workspace", str(workspace.pk), "--wait")
    captured = capsys.readouterr()
    assert summary(captured.out) == {"new": 3, "unchanged": 0, "new version": 0, "refused": 1}, captured.out
    assert "Ingestion: 4 ready, 0 failed of 4." in captured.out  # the message's attachment too
    assert "ingesting" in captured.err and "ready 4, failed 0" in captured.err
    assert set(Document.objects.values_list("title", flat=True)) == {
        "Tides",
        "b",
        "Harbour works: the Gettysburg text",
        "plan",
    }
