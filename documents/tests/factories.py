"""Factories for documents and their versions, built by hand (no file parsing, no ingestion).

For a document that went through the real pipeline, use ``retrieval.tests.factories.ingest_text`` or the
upload service instead.
"""

from __future__ import annotations

import hashlib

import factory

from accounts.tests.factories import WorkspaceFactory
from documents.models import Document, DocumentVersion


class DocumentFactory(factory.django.DjangoModelFactory[Document]):
    """A queued document of a new workspace (pass ``workspace=``), with no version."""

    class Meta:
        model = Document

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Document {n}")


class DocumentVersionFactory(factory.django.DjangoModelFactory[DocumentVersion]):
    """Version 1 of a new document (pass ``document=``), a text file that is not stored anywhere."""

    class Meta:
        model = DocumentVersion

    document = factory.SubFactory(DocumentFactory)
    workspace = factory.SelfAttribute("document.workspace")
    number = 1
    file = factory.Sequence(lambda n: f"uploads/factory/{n}.txt")
    original_filename = factory.LazyAttribute(lambda v: f"{v.document.title}.txt")
    kind = "text"
    size_bytes = 0
    sha256 = factory.Sequence(lambda n: hashlib.sha256(str(n).encode()).hexdigest())
