"""Hostile files through the real upload path (issue 17, part 4): every one is refused at upload with its message in
the API's error shape, or its ingestion in a real worker ends ``failed`` with the reason (or, for a file that is only
strange, ``ready`` with its real text): never a 500, never stuck, never ``ready`` with a bomb's garbage, within the
per-task time and memory ceilings, while a normal upload in another workspace still becomes ready. Stored names and
titles are clean (no path or control characters) and every stored file lies inside ``MEDIA_ROOT``.

The files are built in code (``documents.tests.hostile_files``); extraction-level hostile text is
``documents/tests/test_hostile.py``'s.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.selectors import workspace_get_personal
from documents.models import Document, DocumentVersion
from documents.tests import hostile_files as hostile
from documents.tests.ingestion import upload, wait_finished

CEILINGS = {  # the worker's per-task ceilings: far above what any file below needs
    "INGEST_STALE_SECONDS": "3",
    "CELERY_TASK_SOFT_TIME_LIMIT": "60",
    "CELERY_TASK_TIME_LIMIT": "90",
    "INGEST_TASK_MAX_MEMORY_MB": "1500",
}
PASSWD = "root:x:0:0"  # what /etc/passwd would have leaked into the text
Build = Callable[[Path], bytes]


@dataclass(frozen=True)
class Case:
    """``name`` is sent with ``build(tmp_path)``'s bytes; ``outcome`` "refused" (HTTP ``status``, error ``code``),
    "failed" or "ready"; ``words``: in the refusal's ``detail`` or the failure's ``error``."""

    name: str
    build: Build
    outcome: str
    words: str = ""
    code: str = ""
    status: int = 400
    kind: str = ""  # ready: the kind the content decided, whatever the name says


def _laughs(kind: str, member: str) -> Case:
    bomb = hostile.billion_laughs("root", "urn:groundwork:bomb")
    if kind == "docx":
        return Case("laughs.docx", lambda d: hostile.docx_member(d, "l.docx", member, bomb), "failed", "XML bomb")
    return Case(f"laughs.{kind}", lambda d: hostile.office_member(d, kind, member, bomb), "failed", "XML bomb")


_XXE_RUN = f"<w:body><w:p><w:r><w:t>{hostile.PROSE.decode()} XXE</w:t></w:r></w:p></w:body>"
_XXE_DOCX = hostile.external_entity("w:document", hostile.W_NS, _XXE_RUN).replace(b" xmlns=", b" xmlns:w=")

CASES = [
    Case("locked.pdf", hostile.pdf_encrypted, "refused", "password-protected", "encrypted_pdf"),
    Case("truncated.pdf", hostile.pdf_truncated, "refused", "damaged", "corrupt_file"),
    Case("javascript.pdf", lambda d: hostile.pdf_javascript(), "ready", kind="pdf"),
    Case("10000-pages.pdf", lambda d: hostile.pdf_pages(10_000), "failed", "10,000 pages, more than the 2,000"),
    Case("huge-image.pdf", lambda d: hostile.pdf_huge_image(), "failed", "scanned pdf"),
    Case("huge.png", lambda d: hostile.png(100_000, 100_000), "refused", "10,000,000,000 pixels", "image_too_large"),
    Case("huge.jpg", lambda d: hostile.jpeg(65_000, 65_000), "refused", "4,225,000,000 pixels", "image_too_large"),
    Case("huge.tiff", lambda d: hostile.tiff(100_000, 100_000), "refused", "pixels", "image_too_large"),
    Case("page.png", lambda d: hostile.png(64, 64, text=b"<html><script>alert(1)</script>"), "failed", "No text"),
    Case("report.docx", lambda d: hostile.pdf_pages(1), "ready", kind="pdf"),  # a PDF named .docx
    Case("invoice.pdf", lambda d: b"MZ\x90\x00" + bytes(500), "refused", "Windows program", "unsupported_type", 415),
    Case("polyglot.docx", hostile.polyglot_pdf_zip, "ready", kind="pdf"),
    Case("logo.svg", lambda d: b'<svg onload="alert(1)"/>', "refused", "SVG image", "unsupported_type", 415),
    Case("empty.txt", lambda d: b"   \n", "refused", "empty", "empty_file"),
    Case("deep.html", lambda d: hostile.deep_html(), "failed", "nested"),
    Case("long-line.txt", lambda d: b"lorem ipsum " * 500_000, "failed", "more than 5,000,000 characters"),
    Case("nul-tail.txt", lambda d: hostile.nul_after_the_sniffed_head(), "failed", "binary data"),
    Case("bomb.docx", hostile.zip_ratio_bomb, "refused", "zip bomb", "zip_bomb"),
    Case("lying-sizes.docx", hostile.zip_lying_sizes, "failed", "damaged"),
    _laughs("docx", "word/document.xml"),
    _laughs("xlsx", "xl/worksheets/sheet1.xml"),
    _laughs("pptx", "ppt/slides/slide1.xml"),
    _laughs("odt", "content.xml"),
    _laughs("ods", "content.xml"),
    _laughs("odp", "content.xml"),
    _laughs("epub", "OEBPS/content.opf"),
    Case("xxe.docx", lambda d: hostile.docx_member(d, "x.docx", "word/document.xml", _XXE_DOCX), "ready", kind="docx"),
    Case("xxe.html", lambda d: hostile.xxe_html(), "ready", kind="html"),
    Case(
        "xxe.odt",
        lambda d: hostile.office_member(d, "odt", "content.xml", hostile.external_entity("root", "urn:x")),
        "failed",
        "XML bomb",
    ),
    Case("message.eml", lambda d: hostile.eml_hostile_attachments(), "ready", kind="eml"),
]


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch)[0] == "C" for ch in text)


def assert_stored_clean(document: Document) -> None:
    """A document's title and file names have no control characters (nor path separators), and its files lie
    inside MEDIA_ROOT."""
    media = Path(django_settings.MEDIA_ROOT).resolve()
    assert not _has_control(document.title), repr(document.title)
    for version in DocumentVersion.objects.filter(document=document):
        name = version.original_filename
        assert name and not _has_control(name) and "/" not in name and "\\" not in name, repr(name)
        assert Path(version.file.path).resolve().is_relative_to(media), version.file.path
    for note in DocumentVersion.objects.filter(document=document).values_list("attachment_notes", flat=True):
        for entry in note or []:
            assert not _has_control(entry["filename"]) and "/" not in entry["filename"], repr(entry)


def _send(client, workspace_id: int, case: Case, tmp_path: Path):
    data = case.build(tmp_path)
    file = SimpleUploadedFile(case.name, data)
    return client.post("/api/v1/documents/", {"file": file, "workspace": workspace_id}, format="multipart")


def _check_refused(case: Case, response) -> None:
    assert response.status_code == case.status, (case.name, response.status_code, response.content[:300])
    body = response.json()
    assert body["code"] == case.code and case.words in body["detail"], (case.name, body)


def _check_finished(case: Case, document: Document) -> None:
    assert document.status == case.outcome, (case.name, document.status, document.error)
    if case.outcome == "failed":
        assert case.words.lower() in document.error.lower(), (case.name, document.error)
        assert document.chunk_count == 0 and not document.chunks.exists(), case.name
        return
    version = document.current_version
    assert version is not None and version.kind == case.kind, (case.name, version and version.kind)
    assert hostile.PROSE.decode()[:40] in version.extracted_text, (case.name, version.extracted_text[:200])
    assert PASSWD not in version.extracted_text and document.chunk_count > 0, case.name


@pytest.mark.django_db(transaction=True)
def test_hostile_files_are_refused_or_fail_with_a_reason_while_another_workspace_ingests(
    start_own_worker, bob, charlie, workspace, api_client_for, tmp_path
):
    worker = start_own_worker(CEILINGS)
    client = api_client_for(bob)  # a member of "Acme"
    created: dict[str, int] = {}
    for case in CASES:
        response = _send(client, workspace.pk, case, tmp_path)
        if case.outcome == "refused":
            _check_refused(case, response)
        else:
            assert response.status_code == 201, (case.name, response.status_code, response.content[:300])
            created[case.name] = response.json()["id"]
    refused = {case.name for case in CASES if case.outcome == "refused"}
    assert not DocumentVersion.objects.filter(original_filename__in=refused).exists()  # nothing of them stored

    normal = upload(api_client_for(charlie), "minutes.md", b"# Minutes\n\n" + hostile.PROSE * 20)
    assert workspace_get_personal(user=charlie).documents.filter(pk=normal).exists()

    for case in CASES:
        if case.name in created:
            _check_finished(case, wait_finished(created[case.name], timeout=120, worker=worker))
    assert wait_finished(normal, worker=worker).status == "ready"
    _check_attachments(Document.objects.get(pk=created["message.eml"]), worker)
    for document in Document.objects.filter(workspace=workspace):
        assert document.status in ("ready", "failed"), (document.title, document.status)  # attachments too
        assert_stored_clean(document)
    log = worker.log.read_text()
    assert "Soft time limit" not in log and "went over the memory ceiling" not in log  # no ceiling was needed


def _check_attachments(message: Document, worker) -> None:
    """The text attachment named "../../../etc/cron.d/evil<ESC>[31m.txt" became a document named "evil[31m.txt";
    the program behind an RTL override was refused, its note named without control characters."""
    (child,) = Document.objects.filter(parent=message)
    child = wait_finished(child.pk, worker=worker)
    assert child.status == "ready", child.error
    assert child.current_version is not None and child.current_version.original_filename == "evil[31m.txt"
    (note,) = DocumentVersion.objects.get(document=message).attachment_notes
    assert "Windows program" in note["reason"] and note["filename"] == "invoicegpj.exe.pdf", note


# --- names and titles: what the multipart request says, byte for byte --------------------------------------------


def _multipart(disposition: str, data: bytes, title: str | None = None) -> tuple[bytes, str]:
    """A multipart body whose file part has the Content-Disposition parameters ``disposition`` (and a "title"
    field), as a hostile client would send it."""
    boundary = "hostile-boundary-7f3a"
    parts = []
    if title is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n{title}\r\n'.encode())
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n'
    parts.append(head.encode() + b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _encoded(name: str) -> str:
    return "filename*=UTF-8''" + quote(name, safe="")


LONG_STEM = "quarterly-report-" * 35  # 595 characters (Django refuses part headers over 1,024 bytes)
FILENAMES = [  # (Content-Disposition parameters, the stored original filename, the title it gives)
    ('filename="../../etc/passwd"', "passwd", "passwd"),
    ('filename="..\\\\..\\\\windows\\\\x.pdf"', "x.pdf", "x"),
    (_encoded("../../../tmp/evil\x00.md"), "evil.md", "evil"),
    (_encoded("red\x1b[31malert\x1b[0m.txt"), "red[31malert[0m.txt", "red[31malert[0m"),
    (_encoded("line\r\nSet-Cookie: x=1.txt"), "lineSet-Cookie: x=1.txt", "lineSet-Cookie: x=1"),
    (_encoded("invoice\u202egpj.exe.txt"), "invoicegpj.exe.txt", "invoicegpj.exe"),
    (_encoded(LONG_STEM + ".md"), LONG_STEM[:252] + ".md", LONG_STEM[:252]),
]


@pytest.mark.django_db
@pytest.mark.parametrize("disposition, stored, title", FILENAMES, ids=range(len(FILENAMES)))
def test_hostile_filenames_are_stored_clean(bob, workspace, api_client_for, disposition, stored, title):
    body, content_type = _multipart(disposition, f"Notes {disposition}".encode())
    response = api_client_for(bob).post("/api/v1/documents/", body, content_type=content_type)

    assert response.status_code == 201, response.content
    document = Document.objects.get(pk=response.json()["id"])
    assert DocumentVersion.objects.get(document=document).original_filename == stored
    assert document.title == title
    assert_stored_clean(document)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "disposition",
    ['filename=".."', 'filename="../"', _encoded("\x00\x1b"), 'filename=""'],
    ids=["dotdot", "slash", "controls", "empty"],
)
def test_a_name_that_is_nothing_once_cleaned_is_refused_with_a_message(bob, api_client_for, disposition):
    body, content_type = _multipart(disposition, b"Some notes.")
    response = api_client_for(bob).post("/api/v1/documents/", body, content_type=content_type)

    assert response.status_code == 400 and response.json()["code"] == "invalid", response.content
    assert "file" in response.json()["detail"]
    assert not Document.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed, title",
    [
        ("Budget\x00 2024", "Budget 2024"),
        ("\x1b[31mRed\x1b[0m alert", "[31mRed [0m alert"),
        ("Line one\r\nLine two\u202e", "Line one Line two"),
        ("x" * 5000, "x" * 300),
        ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f469\u200d\U0001f4bb", None),  # kept whole
    ],
    ids=["nul", "escape", "crlf-rtl", "long", "joiners"],
)
def test_a_typed_title_is_stored_clean(bob, api_client_for, typed, title):
    body, content_type = _multipart('filename="notes.txt"', f"Notes for {typed[:50]!r}".encode(), title=typed)
    response = api_client_for(bob).post("/api/v1/documents/", body, content_type=content_type)

    assert response.status_code == 201, response.content
    assert Document.objects.get(pk=response.json()["id"]).title == (typed if title is None else title)


def test_a_long_name_keeps_its_extension():
    """E-mail attachments' names reach the upload service as written (Django's own 255-character cut, which keeps
    the extension, only applies to request files): the extension decides the kind among text formats."""
    from documents.services.upload import clean_filename

    assert clean_filename("../" + "a" * 400 + ".md") == "a" * 252 + ".md"
    assert clean_filename("b" * 400) == "b" * 255
