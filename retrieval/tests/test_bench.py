"""bench_search measures the production index: its chunk rows equal those the ingestion pipeline writes."""

from __future__ import annotations

import numpy as np
import pytest

from documents.models import Chunk
from documents.tests.factories import DocumentVersionFactory
from retrieval.bench_corpus import ChunkRow, insert_chunk_rows
from retrieval.models import Posting
from retrieval.tests.factories import ingest_text

pytestmark = pytest.mark.django_db

MARKDOWN = """# Orchard handbook

## Pruning apple trees

Prune apple trees in late winter, while they are dormant. Cut out dead wood first, then crossing branches,
and keep the centre open so light reaches every fruiting spur.
"""


def _postings(chunk: Chunk) -> list[tuple[str, int, int]]:
    return list(Posting.objects.filter(chunk_id=chunk.pk).order_by("lexeme").values_list("lexeme", "tf", "length"))


def test_bench_chunk_rows_index_title_headings_and_text_as_ingestion_does(workspace):
    ingested = ingest_text(workspace, MARKDOWN, title="Greenfield farm notes", filename="orchard.md")
    chunk = ingested.chunks.get()
    assert chunk.heading_path == ["Orchard handbook", "Pruning apple trees"]
    version = DocumentVersionFactory.create(document__workspace=workspace, document__title=ingested.title)

    insert_chunk_rows(
        workspace=workspace,
        rows=[
            ChunkRow(
                document_id=version.document.pk,
                version_id=version.pk,
                ordinal=0,
                title=ingested.title,
                heading_path=chunk.heading_path,
                text=chunk.text,
                embedding=np.asarray(chunk.embedding, dtype=np.float32),
            )
        ],
    )

    bench = Chunk.objects.get(document=version.document)
    assert bench.search_vector == chunk.search_vector
    assert {"greenfield", "orchard", "prune", "dormant"} <= {lexeme for lexeme, _, _ in _postings(bench)}
    assert bench.search_length == chunk.search_length > 30
    assert _postings(bench) == _postings(chunk)
