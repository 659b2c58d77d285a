"""The synthetic corpus of ``manage.py bench_search``: real passages, embedded once, grown to any size.

Builds a workspace's chunks from real text: SciFact abstracts and SQuAD paragraphs (``../shared/eval``),
embedded once with the product's model and cached under ``var/bench/``. Larger sizes are synthesized from them:
each chunk is a base passage plus one sentence of another, with the embedding mixed the same way
(0.85·v_p + 0.15·v_q) plus Gaussian noise, renormalized, so no two vectors are equal. Chunk rows are written with
ingestion's own statement (``documents.search_vector``: the production ``tsvector`` of title, heading path and
text). Indexes are dropped for the bulk load and rebuilt, as one would for a first import.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from django.core.management.base import CommandError, OutputWrapper
from django.db import connection, transaction

from accounts.models import Workspace
from config.progress import ProgressBar
from documents.embedding_variants import configured_variant
from documents.embeddings import DIMENSIONS, MAX_TEXT_TOKENS, count_tokens, embed_texts
from documents.models import Chunk, Document, DocumentVersion
from documents.search_vector import chunk_insert_sql
from retrieval.models import Posting, WorkspaceStats

CHUNKS_PER_DOCUMENT = 100
BATCH = 20_000
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _base_passages(eval_dir: Path) -> tuple[list[str], list[str]]:
    """Real passages (SciFact abstracts and SQuAD paragraphs cut to ≤ 120 words, and to the model's window)
    and real questions."""
    passages: list[str] = []
    with open(eval_dir / "scifact" / "corpus.jsonl") as handle:
        for line in handle:
            words = json.loads(line)["text"].split()
            passages.extend(" ".join(words[i : i + 120]) for i in range(0, len(words), 120))
    squad = json.loads((eval_dir / "squad-v1.1-dev" / "dev-v1.1.json").read_text())
    questions: list[str] = []
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            passages.append(" ".join(paragraph["context"].split()[:120]))
            questions.extend(qa["question"] for qa in paragraph["qas"][:1])
    with open(eval_dir / "scifact" / "queries.jsonl") as handle:
        questions = [json.loads(line)["text"] for line in handle][:300] + questions
    fits = count_tokens(passages)
    return [p for p, n in zip(passages, fits, strict=True) if 0 < n <= MAX_TEXT_TOKENS], questions


def _base_vectors(passages: list[str], cache_dir: Path) -> np.ndarray:
    digest = hashlib.sha256("\n".join([configured_variant(), *passages]).encode()).hexdigest()[:16]
    path = cache_dir / f"base-{digest}.npy"
    if path.exists():
        return np.load(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    sys.stderr.write(f"embedding {len(passages)} base passages once (cached in {path})\n")
    bar, parts = ProgressBar("embedding passages", OutputWrapper(sys.stderr)), []
    for start in range(0, len(passages), 512):
        parts.append(embed_texts(passages[start : start + 512]))
        bar(min(start + 512, len(passages)), len(passages))
    vectors = np.concatenate(parts)
    np.save(path, vectors)
    return vectors


def corpus_load(*, eval_dir: Path, cache_dir: Path) -> tuple[Corpus, list[str]]:
    """The base corpus and the real questions (SciFact test queries, then one SQuAD question per paragraph).

    ``eval_dir`` holds ``scifact/{corpus,queries}.jsonl`` and ``squad-v1.1-dev/dev-v1.1.json``; the passages'
    embeddings are computed once with the product's model and cached in ``cache_dir`` (keyed by the variant and
    the passages).
    """
    passages, questions = _base_passages(eval_dir)
    vectors = _base_vectors(passages, cache_dir)
    return Corpus(passages, [_SENTENCE.split(p)[0] for p in passages], vectors), questions


class ChunkRow(NamedTuple):
    """One chunk to insert: its document and version, ordinal, the indexed title, heading path and text,
    and its embedding (``(DIMENSIONS,)`` float32)."""

    document_id: int
    version_id: int
    ordinal: int
    title: str
    heading_path: list[str]
    text: str
    embedding: np.ndarray


@transaction.atomic
def insert_chunk_rows(*, workspace: Workspace, rows: Iterable[ChunkRow]) -> None:
    """Bulk-insert chunk rows into ``workspace``: a binary COPY into a temporary table, then ingestion's
    ``INSERT … SELECT`` (``documents.search_vector.chunk_insert_sql``), so ``search_vector`` and
    ``search_length`` are exactly those an ingested chunk with that title, heading path and text gets.
    ``char_start``/``char_end`` span the text; ``token_count`` is a nominal 200."""
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    connection.ensure_connection()
    register_vector(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_load (document_id bigint, version_id bigint, ordinal int, title text,"
            f" heading_path jsonb, text text, embedding vector({DIMENSIONS})) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY bench_load FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "int4", "text", "jsonb", "text", "vector"])
            for row in rows:
                copy.write_row([*row[:4], Jsonb(list(row.heading_path)), row.text, row.embedding])
        values = {
            "workspace_id": "%s",
            "document_id": "document_id",
            "version_id": "version_id",
            "ordinal": "ordinal",
            "text": "text",
            "heading_path": "heading_path",
            "char_start": "0",
            "char_end": "length(text)",
            "token_count": "200",
            "embedding": "embedding",
        }
        sql = chunk_insert_sql(source="bench_load", values=values, config="%s", title="title")
        cursor.execute(sql, [workspace.pk, workspace.text_search_config])
        cursor.execute("DROP TABLE bench_load")


def _documents(workspace: Workspace, start: int, count: int, per_document: int) -> list[DocumentVersion]:
    """Ready documents (``Synthetic <n>``) for ``count`` chunks from chunk ``start`` on, with their first
    version current; returns the versions (``version.document`` set)."""
    n_docs = -(-count // per_document)
    documents = Document.objects.bulk_create(
        [
            Document(
                workspace=workspace,
                title=f"Synthetic {start // per_document + i}",
                status=Document.Status.READY,
                chunk_count=min(per_document, count - i * per_document),
            )
            for i in range(n_docs)
        ]
    )
    versions = DocumentVersion.objects.bulk_create(
        [
            DocumentVersion(
                document=d,
                workspace=workspace,
                number=1,
                file=f"bench/{uuid.uuid4().hex}",
                original_filename="synthetic.txt",
                kind="text",
                size_bytes=0,
                sha256=uuid.uuid4().hex + uuid.uuid4().hex,
            )
            for d in documents
        ]
    )
    for document, version in zip(documents, versions, strict=True):
        document.current_version = version
    Document.objects.bulk_update(documents, ["current_version"])
    return versions


class Corpus(NamedTuple):
    """The base passages, the first sentence of each, and their embeddings (see ``corpus_load``)."""

    passages: list[str]
    sentences: list[str]  # the first sentence of each passage
    vectors: np.ndarray  # (passages, DIMENSIONS) float32


@transaction.atomic
def _load(
    workspace: Workspace, start: int, count: int, per_document: int, corpus: Corpus, rng: np.random.Generator
) -> None:
    """Synthesize and insert ``count`` chunks (see the module docstring)."""
    versions = _documents(workspace, start, count, per_document)
    vectors = corpus.vectors
    m = len(corpus.passages)
    base = (start + np.arange(count)) % m
    other = rng.integers(0, m, count)
    mixed = 0.85 * vectors[base] + 0.15 * vectors[other] + rng.normal(0, 0.02, (count, vectors.shape[1]))
    mixed = (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)
    rows = (
        ChunkRow(
            document_id=versions[i // per_document].document.pk,
            version_id=versions[i // per_document].pk,
            ordinal=i % per_document,
            title=versions[i // per_document].document.title,
            heading_path=[],
            text=corpus.passages[base[i]] + " " + corpus.sentences[other[i]],
            embedding=mixed[i],
        )
        for i in range(count)
    )
    insert_chunk_rows(workspace=workspace, rows=rows)


def _search_indexes() -> list[Any]:
    """The HNSW index of ``Chunk.Meta`` (dropped for the bulk load, then rebuilt as defined)."""
    names = ("chunk_embedding_hnsw",)
    return [index for index in Chunk._meta.indexes if index.name in names]


_POSTING_KEY = f"{Posting._meta.db_table}_pkey"


def _drop_indexes() -> None:
    with connection.schema_editor(atomic=False) as editor:
        for index in _search_indexes():
            editor.remove_index(Chunk, index)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {Posting._meta.db_table} DROP CONSTRAINT IF EXISTS {_POSTING_KEY}")


def _create_indexes() -> None:
    sys.stderr.write("building the HNSW index …\n")
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '4GB'")
    with connection.schema_editor(atomic=False) as editor:
        for index in _search_indexes():
            editor.add_index(Chunk, index)
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {Posting._meta.db_table} ADD CONSTRAINT {_POSTING_KEY}"
            " PRIMARY KEY (workspace_id, lexeme, chunk_id) INCLUDE (tf, length, document_id)"
        )


def workspace_fill(*, workspace: Workspace, size: int, corpus: Corpus, rng: np.random.Generator) -> None:
    """Give ``workspace`` ``size`` synthetic chunks, unless it already has them (a kept benchmark
    database): ``size`` chunks in documents of ``CHUNKS_PER_DOCUMENT`` (3 for a workspace of at most 1,000),
    written in batches of ``BATCH``; from 200,000 chunks on, the search indexes are dropped for the load and rebuilt.
    Raises CommandError for a workspace left incomplete by an interrupted run."""
    stats = WorkspaceStats.objects.filter(workspace=workspace).first()
    if stats and stats.chunk_count == size:
        return
    if stats and stats.chunk_count:
        raise CommandError(f"Workspace {workspace.name!r} is incomplete; run again with --rebuild.")
    per_document = CHUNKS_PER_DOCUMENT if size > 1000 else 3
    big = size >= 200_000
    # the base vectors' variant: the workspace's queries follow it (documents.embeddings.effective_variant)
    workspace.embedding_variant = configured_variant()
    Workspace.objects.filter(pk=workspace.pk).update(embedding_variant=workspace.embedding_variant)
    if big:
        _drop_indexes()
    for start in range(0, size, BATCH):
        count = min(BATCH, size - start)
        _load(workspace, start, count, per_document, corpus, rng)
        sys.stderr.write(f"\r{workspace.name}: {start + count}/{size} chunks")
    sys.stderr.write("\n")
    if big:
        _create_indexes()
    if not connection.in_atomic_block:  # statistics, and the visibility map index-only scans rely on
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {Chunk._meta.db_table}")
            cursor.execute(f"VACUUM ANALYZE {Posting._meta.db_table}")
