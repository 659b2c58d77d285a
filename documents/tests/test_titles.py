"""Titles people recognise: the file's own title (PDF Title, HTML <title>, first Markdown heading, e-mail Subject)
replaces the one made from its file name at ingestion; junk titles are ignored and a typed title is never replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from reportlab.pdfgen import canvas

from documents.demo_corpus.builders.common import FILES
from documents.models import Chunk, Document
from documents.services.extract import extract
from documents.services.ingest import document_ingest
from documents.services.titles import title_clean, title_from_filename
from documents.services.upload import document_upload
from documents.tests import samples
from documents.tests.ingestion import ingest_here


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  The   Constitution\nof the United States ", "The Constitution of the United States"),
        ("Microsoft Word - Annual report 2024.docx", "Annual report 2024"),
        ("Microsoft PowerPoint - Roadmap.pptx", "Roadmap"),
        ("Untitled", ""),
        ("untitled document", ""),
        ("Document1", ""),
        ("Presentation1", ""),
        ("Slide 1", ""),
        ("us-constitution", ""),  # a slug: the file name again
        ("annual_report_final", ""),
        ("C:\\Users\\bob\\Desktop\\report.doc", ""),
        ("/tmp/x.pdf", ""),
        ("12345", ""),
        ("", ""),
        ("COVID-19", "COVID-19"),
        ("Jean-Paul Sartre: Being and Nothingness", "Jean-Paul Sartre: Being and Nothingness"),
        ("Re: Budget \x00 2025", "Re: Budget 2025"),
    ],
)
def test_title_clean(raw, clean):
    assert title_clean(raw) == clean


def test_a_long_title_is_cut_at_a_word():
    title = title_clean("word " * 100)
    assert len(title) <= 300 and title.endswith("word\u2026")


def test_title_from_filename():
    assert title_from_filename("us-constitution.pdf") == "us-constitution"
    assert title_from_filename("annual_report.final.docx") == "annual report.final"
    assert title_from_filename(".pdf") == "Untitled"


def _pdf_with_title(directory: Path, title: str) -> Path:
    path = directory / "scan-0001.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setTitle(title)
    pdf.drawString(72, 720, samples.REAL_TEXT[:90])
    pdf.save()
    return path


def test_extractors_find_the_files_own_title(tmp_path):
    assert extract(_pdf_with_title(tmp_path, "Quarterly Report"), "pdf").title == "Quarterly Report"
    html = samples.write(
        tmp_path, "p.html", f"<html><head><title>Widget Handbook | ACME Docs</title></head><p>{samples.REAL_TEXT}</p>"
    )
    assert extract(html, "html").title == "Widget Handbook"
    markdown = samples.write(tmp_path, "n.md", f"Intro line.\n\n# The Title\n\n## Part\n\n{samples.REAL_TEXT}")
    assert extract(markdown, "markdown").title == "The Title"
    second_level_first = samples.write(tmp_path, "m.md", f"## Part\n\n# Later\n\n{samples.REAL_TEXT}")
    assert extract(second_level_first, "markdown").title == ""  # the first heading is not a title
    assert extract(samples.write(tmp_path, "t.txt", samples.REAL_TEXT), "text").title == ""


@pytest.mark.django_db
def test_the_demo_corpus_shows_real_titles_not_slugs(alice, workspace):
    titles = {}
    for name in ("us-constitution.pdf", "declaration-of-independence.html", "gettysburg-address.md"):
        titles[name] = ingest_here(workspace, alice, name, (FILES / name).read_bytes()).title
    assert titles == {
        "us-constitution.pdf": "The Constitution of the United States",
        "declaration-of-independence.html": "The Declaration of Independence",
        "gettysburg-address.md": "The Gettysburg Address",
    }
    assert not Document.objects.filter(title_from_file=True).exists()


@pytest.mark.django_db
def test_a_typed_title_is_never_replaced_and_junk_is_ignored(alice, workspace, tmp_path):
    typed = document_upload(
        workspace=workspace,
        user=alice,
        file=ContentFile(_pdf_with_title(tmp_path, "Quarterly Report").read_bytes()),
        filename="q.pdf",
        title="Q3 numbers",
        enqueue=False,
    ).document
    assert typed.title_from_file is False
    document_ingest(document_id=typed.pk)
    assert Document.objects.get(pk=typed.pk).title == "Q3 numbers"

    junk = ingest_here(workspace, alice, "notes_2024.pdf", _pdf_with_title(tmp_path, "Untitled").read_bytes())
    assert (junk.status, junk.title, junk.title_from_file) == ("ready", "notes 2024", True)


@pytest.mark.django_db
def test_the_chunks_are_made_with_the_new_title(alice, workspace, tmp_path):
    pdf = _pdf_with_title(tmp_path, "Quarterly Harbour Regulations").read_bytes()  # words only in the metadata
    document = ingest_here(workspace, alice, "scan-0001.pdf", pdf)
    assert document.title == "Quarterly Harbour Regulations"
    assert Chunk.objects.filter(document=document, search_vector="harbour").exists()


@pytest.mark.django_db
def test_the_migration_marks_documents_still_titled_from_their_file_name(workspace):
    from importlib import import_module

    from django.apps import apps

    from documents.tests.factories import DocumentFactory, DocumentVersionFactory

    migration = import_module("documents.migrations.0010_import_titles_attachments")
    from_name = DocumentFactory.create(workspace=workspace, title="us-constitution")
    typed = DocumentFactory.create(workspace=workspace, title="The Constitution")
    for document in (from_name, typed):
        DocumentVersionFactory.create(document=document, original_filename="us-constitution.pdf")
    Document.objects.update(title_from_file=False)

    migration.mark_titles_from_file(apps, None)

    assert set(Document.objects.filter(title_from_file=True)) == {from_name}
    assert Document.objects.get(pk=typed.pk).title == "The Constitution"
