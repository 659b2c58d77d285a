"""E-mail messages (EML): sniffed from their headers, read with the standard library (subject as title, headers as
a first paragraph, text or HTML body) and their attachments ingested as documents of their own, linked to the
message, through the real upload API and a real worker."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from documents.models import Document, DocumentVersion
from documents.services.extract import extract
from documents.services.extract_errors import CorruptFile
from documents.services.filetypes import sniff_kind
from documents.tests import samples
from documents.tests.emails import make_message
from documents.tests.ingestion import upload, wait_finished

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def test_messages_are_sniffed_from_their_headers():
    message = make_message().as_bytes()
    assert sniff_kind(message, "message.txt") == "eml"
    assert sniff_kind(message, "") == "eml"
    assert sniff_kind(b"From alice@example.com Fri Mar  1 09:30:00 2024\n" + message, "inbox") == "eml"  # mbox line
    assert sniff_kind(b"Subject: notes\nTodo: call Bob\n\nNot a message.\n", "notes.txt") == "text"
    assert sniff_kind(b"Note: x\nFrom: y\n\nbody\n", "n.txt") == "text"  # one message header is not enough
    assert sniff_kind(b"# From: the title\n\nbody\n", "n.md") == "markdown"


def test_a_message_is_read_subject_headers_body_and_attachment_names(tmp_path):
    message = make_message(
        subject="Re: Harbour works",
        body="The harbour opens on Monday.\n\nRegards,\nAlice",
        attachments=[("plan.txt", b"The plan.", "text/plain")],
    )
    extracted = extract(samples.write(tmp_path, "m.eml", message.as_bytes()), "eml")

    assert extracted.title == "Re: Harbour works"
    paragraphs = extracted.text.split("\n\n")
    assert paragraphs[0] == "Re: Harbour works"
    assert paragraphs[1] == (
        "From: Alice Example <alice@example.com>; To: Bob Example <bob@example.com>; "
        "Date: Fri, 01 Mar 2024 09:30:00 +0000"
    )
    assert "The harbour opens on Monday." in paragraphs and paragraphs[-1] == "Attachments: plan.txt"
    assert [section.heading_path for section in extracted.sections] == [("Re: Harbour works",)]


def test_an_html_only_body_goes_through_the_html_reader(tmp_path):
    html = (
        "<html><body><nav>Home | Subscribe to our newsletter</nav><h1>Minutes</h1>"
        f"<p>{samples.REAL_TEXT}</p><footer>Unsubscribe</footer></body></html>"
    )
    html_only = make_message(body=html)
    html_only.set_content(html, subtype="html")
    del html_only["Subject"]
    html_only["Subject"] = "=?utf-8?q?R=C3=A9union_du_port?="  # an encoded-word subject, decoded
    empty_text_part = make_message(body="\n", html=html)
    for message in (html_only, empty_text_part):
        extracted = extract(samples.write(tmp_path, "m.eml", message.as_bytes()), "eml")
        assert "Four score and seven years ago" in extracted.text
        assert "newsletter" not in extracted.text and "Unsubscribe" not in extracted.text
    assert extract(samples.write(tmp_path, "m.eml", html_only.as_bytes()), "eml").title == "Réunion du port"


def test_an_unknown_charset_and_garbage_are_read_not_fatal(tmp_path):
    raw = (
        b"From: a@example.com\r\nSubject: Odd\r\nMessage-ID: <1@x>\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nCaf\xc3\xa9 au lait, please.\r\n"
    )
    extracted = extract(samples.write(tmp_path, "odd.eml", raw), "eml")
    assert "Café au lait, please." in extracted.text


def test_a_deeply_nested_message_fails_with_a_reason_quickly(tmp_path):
    depth = 5000  # the parser's time grows with lines x nesting: 1.3 s for 500 levels in 27 kB
    head = b"From: a@example.com\nSubject: Deep\nMessage-ID: <1@x>\nMIME-Version: 1.0\n"
    parts = [head] + [f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'.encode() for i in range(depth)]
    path = samples.write(tmp_path, "deep.eml", b"".join(parts) + b"Content-Type: text/plain\n\ndeep text\n")
    started = time.perf_counter()
    with pytest.raises(CorruptFile, match="more than 50 multipart sections"):
        extract(path, "eml")
    assert time.perf_counter() - started < 1
    shallow = samples.write(tmp_path, "ok.eml", b"".join(parts[:40]) + b"Content-Type: text/plain\n\ndeep text\n")
    assert "deep text" in extract(shallow, "eml").text


def test_huge_headers_are_clipped_not_parsed_for_minutes(tmp_path):
    to = ", ".join(f"user{i}@example.com" for i in range(20_000))  # policy.default's parser: ~50 s
    subject = "\n ".join(["Tide tables for the harbour"] * 5000)
    raw = f"From: a@example.com\nTo: {to}\nSubject: {subject}\nMessage-ID: <1@x>\n\nThe body.\n".encode()
    started = time.perf_counter()
    extracted = extract(samples.write(tmp_path, "big.eml", raw), "eml")
    assert time.perf_counter() - started < 2
    assert extracted.title.startswith("Tide tables for the harbour Tide tables") and extracted.title.endswith("\u2026")
    header_line = extracted.text.split("\n\n")[1]
    assert header_line.startswith("From: a@example.com; To: user0@example.com, user1@example.com")
    assert len(header_line) < 2100 and "The body." in extracted.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_attachments_become_documents_linked_to_the_message(alice, api_client_for, client_for, tmp_path, settings):
    client = api_client_for(alice)
    already = samples.REAL_TEXT.encode()
    upload(client, "gettysburg.txt", already)  # an attachment already in the workspace stays where it is
    pdf = samples.make_pdf(tmp_path, [samples.REAL_TEXT], name="speech.pdf").read_bytes()
    docx = samples.make_docx(tmp_path, [("Heading 1", "Dedication"), ("Normal", samples.REAL_TEXT)]).read_bytes()
    nested = make_message(subject="Inner note", attachments=[("deep.txt", b"Deep attachment text.", "text/plain")])
    message = make_message(
        attachments=[
            ("speech.pdf", pdf, "application/pdf"),
            ("handbook.docx", docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            ("notes.txt", b"The harbour master keeps the tide tables.", "text/plain"),
            ("logo.png", PNG, "image/png"),
            ("copy.txt", already, "text/plain"),
            ("forwarded.eml", nested.as_bytes(), "message/rfc822"),
        ]
    )

    message_id = upload(client, "mail-0001.eml", message.as_bytes())
    document = wait_finished(message_id)
    assert (document.status, document.title) == ("ready", "Harbour works: the Gettysburg text"), document.error

    attachments = Document.objects.filter(parent=document).order_by("pk")
    assert [a.versions.get().original_filename for a in attachments] == [
        "speech.pdf",
        "handbook.docx",
        "notes.txt",
        "forwarded.eml",
    ]
    for attachment in attachments:
        finished = wait_finished(attachment.pk)
        assert finished.status == "ready", (finished.title, finished.error)
        assert finished.uploaded_by == alice and finished.workspace_id == document.workspace_id
    assert Document.objects.get(versions__original_filename="forwarded.eml").title == "Inner note"
    assert document.current_version is not None
    notes = {note["filename"]: note["reason"] for note in document.current_version.attachment_notes}
    assert notes.keys() == {"logo.png", "copy.txt"}
    assert "This image is damaged" in notes["logo.png"] and "already in the workspace" in notes["copy.txt"].lower()
    inner = Document.objects.get(versions__original_filename="forwarded.eml")
    assert inner.current_version is not None
    assert inner.current_version.attachment_notes == [
        {"filename": "deep.txt", "reason": "Attachments of an attached message are not read."}
    ]  # one level deep
    assert not Document.objects.filter(versions__original_filename="deep.txt").exists()

    detail = client.get(f"/api/v1/documents/{message_id}/").json()
    assert [a["id"] for a in detail["attachments"]] == [a.pk for a in attachments]
    assert {n["filename"] for n in detail["attachment_notes"]} == {"logo.png", "copy.txt"}
    assert client.get(f"/api/v1/documents/{attachments[0].pk}/").json()["attachment_of"] == message_id

    page = client_for(alice).get(reverse("documents:detail", kwargs={"document_id": message_id})).content.decode()
    assert "Attachments:" in page and "speech" in page and "logo.png" in page and "This image is damaged" in page
    child = client_for(alice).get(reverse("documents:detail", kwargs={"document_id": attachments[0].pk}))
    assert "Attachment of" in child.content.decode() and document.title in child.content.decode()

    # Ingesting the message again links nothing twice and notes nothing new.
    assert client.post(f"/api/v1/documents/{message_id}/reprocess/").status_code == 202
    assert wait_finished(message_id).status == "ready"
    assert Document.objects.filter(parent=document).count() == 4
    assert {n["filename"] for n in DocumentVersion.objects.get(document=document).attachment_notes} == notes.keys()


@pytest.mark.django_db
def test_at_most_eml_max_attachments_are_read(alice, workspace, settings):
    from documents.tests.ingestion import ingest_here

    settings.EML_MAX_ATTACHMENTS = 2
    files = [(f"part-{n}.txt", f"Attachment number {n} about tides.".encode(), "text/plain") for n in range(5)]
    message = ingest_here(workspace, alice, "m.eml", make_message(attachments=files).as_bytes())

    assert message.status == "ready"
    assert Document.objects.filter(parent=message).count() == 2
    assert message.current_version is not None
    assert message.current_version.attachment_notes == [
        {"filename": "3 more", "reason": "Only a message's first 2 attachments are read."}
    ]


@pytest.mark.django_db
def test_it_checks_access(alice, charlie, api_client_for, client_for, workspace):
    from documents.tests.ingestion import ingest_here

    message = ingest_here(
        workspace, alice, "m.eml", make_message(attachments=[("a.txt", b"Tide tables.", "text/plain")]).as_bytes()
    )
    attachment = Document.objects.get(parent=message)
    for document in (message, attachment):
        assert api_client_for(charlie).get(f"/api/v1/documents/{document.pk}/").status_code == 404
        page = client_for(charlie).get(reverse("documents:detail", kwargs={"document_id": document.pk}))
        assert page.status_code == 404
