"""Benchmark ``search_chunks`` latency at scale, in a separate database (``<name>_bench``, kept between runs).

    python manage.py bench_search --chunks 100000            # build (or reuse) and measure
    python manage.py bench_search --chunks 1000000 --queries 300
    python manage.py bench_search --chunks 300 --small 3 --queries 5 --in-place --json   # a smoke run

Builds one workspace of ``--chunks`` chunks among several small ones (three of ``--small`` documents) from
real text: SciFact abstracts and SQuAD paragraphs (``../shared/eval``), embedded once with the product's model
and cached under ``var/bench/``. Larger sizes are synthesized from them: each chunk is a base passage plus one
sentence of another, with the embedding mixed the same way (0.85·v_p + 0.15·v_q) plus Gaussian noise,
renormalized, so no two vectors are equal. Chunk rows are written with ingestion's own statement
(``documents.search_vector``: the production ``tsvector`` of title, heading path and text). Indexes are
dropped for the bulk load and rebuilt, as one would for a first import. Then it runs real queries (SciFact
test and SQuAD questions) through ``search_chunks`` (hybrid, k=10, query embedding included) and prints
p50/p95/p99 in ms, plus each stage's share. ``--in-place`` uses the configured database instead (the
workspaces are scratch workspaces there, removed afterwards unless ``--keep``).
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import sys
import time
import uuid
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import connection, transaction
from django.test import override_settings

from accounts.models import Workspace
from config.bootstrap import process_setup
from config.progress import ProgressBar
from config.stats import percentiles
from documents.embeddings import (
    DIMENSIONS,
    MAX_TEXT_TOKENS,
    count_tokens,
    embed_query,
    embed_texts,
    embedding_threads,
    fresh_query_cache,
)
from documents.models import Chunk, Document, DocumentVersion
from documents.scratch import BENCH_OWNER, scratch_workspace
from documents.search_vector import chunk_insert_sql
from retrieval.bm25 import bm25_search
from retrieval.models import Posting, WorkspaceStats
from retrieval.query import parse_query
from retrieval.selectors import search_chunks
from retrieval.services import vector_indexes_ensure
from retrieval.vector import vector_search

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
    digest = hashlib.sha256("\n".join(passages).encode()).hexdigest()[:16]
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


class _Corpus(NamedTuple):
    passages: list[str]
    sentences: list[str]  # the first sentence of each passage
    vectors: np.ndarray  # (passages, DIMENSIONS) float32


@transaction.atomic
def _load(
    workspace: Workspace, start: int, count: int, per_document: int, corpus: _Corpus, rng: np.random.Generator
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
    """The GIN and HNSW indexes of ``Chunk.Meta`` (dropped for the bulk load, then rebuilt as defined)."""
    names = ("chunk_embedding_hnsw", "chunk_search_vector_gin")
    return [index for index in Chunk._meta.indexes if index.name in names]


_POSTING_KEY = f"{Posting._meta.db_table}_pkey"


def _drop_indexes() -> None:
    with connection.schema_editor(atomic=False) as editor:
        for index in _search_indexes():
            editor.remove_index(Chunk, index)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {Posting._meta.db_table} DROP CONSTRAINT IF EXISTS {_POSTING_KEY}")


def _create_indexes() -> None:
    sys.stderr.write("building the GIN and HNSW indexes …\n")
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


def _fill(workspace: Workspace, size: int, corpus: _Corpus, rng: np.random.Generator) -> None:
    """Give ``workspace`` ``size`` synthetic chunks, unless it already has them (a kept benchmark
    database). Raises CommandError for a workspace left incomplete by an interrupted run."""
    stats = WorkspaceStats.objects.filter(workspace=workspace).first()
    if stats and stats.chunk_count == size:
        return
    if stats and stats.chunk_count:
        raise CommandError(f"Workspace {workspace.name!r} is incomplete; run again with --rebuild.")
    per_document = CHUNKS_PER_DOCUMENT if size > 1000 else 3
    big = size >= 200_000
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


def _use_bench_database(*, rebuild: bool) -> None:
    """Switch the default connection to ``<name>_bench`` (created when missing, dropped first with ``rebuild``)."""
    db: dict[str, Any] = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"{db['NAME']}_bench"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=not rebuild)


def _bm25_agreement(workspace: Workspace, questions: list[str], depth: int) -> float:
    """Mean share of exhaustive BM25's top 10 that the pruned BM25 (the settings) also ranks in its top 10."""
    shares = []
    for q in questions:
        terms = parse_query(q, config=workspace.text_search_config).terms
        pruned = [c for c, _ in bm25_search(workspace_id=workspace.pk, terms=terms, limit=depth)[:10]]
        with override_settings(BM25_MAX_CANDIDATES=2**62):
            full = [c for c, _ in bm25_search(workspace_id=workspace.pk, terms=terms, limit=depth)[:10]]
        if full:
            shares.append(len(set(pruned) & set(full)) / len(full))
    return round(statistics.mean(shares), 4) if shares else 1.0


def _vector_recall(workspace: Workspace, questions: list[str], depth: int) -> float:
    """Mean share of the exact top 10 (a full scan of the workspace) that the index search also returns."""
    shares = []
    for q in questions:
        vector = embed_query(q)
        found = [c for c, _ in vector_search(workspace_id=workspace.pk, embedding=vector, limit=depth)[:10]]
        with override_settings(VECTOR_EXACT_MAX_CHUNKS=2**62):
            exact = [c for c, _ in vector_search(workspace_id=workspace.pk, embedding=vector, limit=depth)[:10]]
        shares.append(len(set(found) & set(exact)) / max(len(exact), 1))
    return round(statistics.mean(shares), 4) if shares else 1.0


def _measure(workspace: Workspace, small: Workspace, questions: list[str], mode: Any) -> dict[str, Any]:
    for q in questions[:20]:  # warm-up: model, caches
        search_chunks(workspace=workspace, query=q, k=10, mode=mode)
    total, embed, bm25, vector = [], [], [], []
    depth = settings.SEARCH_CANDIDATES
    for q in questions:
        with fresh_query_cache():  # measure the model, not the query cache
            t0 = time.perf_counter()
            search_chunks(workspace=workspace, query=q, k=10, mode=mode)
            t1 = time.perf_counter()
        parsed = parse_query(q, config=workspace.text_search_config)
        with fresh_query_cache():
            t2 = time.perf_counter()
            vec = embed_query(parsed.text)
            t3 = time.perf_counter()
        bm25_search(workspace_id=workspace.pk, terms=parsed.terms, limit=depth)
        t4 = time.perf_counter()
        vector_search(workspace_id=workspace.pk, embedding=vec, limit=depth)
        t5 = time.perf_counter()
        total.append((t1 - t0) * 1000)
        embed.append((t3 - t2) * 1000)
        bm25.append((t4 - t3) * 1000)
        vector.append((t5 - t4) * 1000)
    agreement = _bm25_agreement(workspace, questions[:100], depth)
    recall = _vector_recall(workspace, questions[:30], depth)
    own = set(Document.objects.filter(workspace=small).values_list("pk", flat=True))
    small_hits = [search_chunks(workspace=small, query=q, k=10, mode=mode) for q in questions[:50]]
    return {
        "mode": mode,
        "queries": len(questions),
        "search_chunks_ms": percentiles(total),
        "embed_query_ms": percentiles(embed),
        "bm25_ms": percentiles(bm25),
        "vector_ms": percentiles(vector),
        "bm25_top10_agreement": agreement,
        "vector_recall@10_vs_exact": recall,
        "small_workspace_k_results": all(len(h) == 10 for h in small_hits),
        "small_workspace_only_own": all(hit.chunk.document_id in own for h in small_hits for hit in h),
    }


class Command(BaseCommand):
    help = "Measure search_chunks latency (hybrid, k=10) at 100k–1M chunks in a separate benchmark database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the measured workspace")
        parser.add_argument("--small", type=int, default=50, help="documents of each of the 3 small workspaces")
        parser.add_argument("--queries", type=int, default=300)
        parser.add_argument("--mode", default="hybrid", choices=["bm25", "vector", "hybrid"])
        parser.add_argument("--eval-dir", type=Path, default=settings.BASE_DIR.parent / "shared" / "eval")
        parser.add_argument("--rebuild", action="store_true", help="drop the benchmark database first")
        parser.add_argument("--in-place", action="store_true", help="use the configured database, not <name>_bench")
        parser.add_argument("--keep", action="store_true", help="with --in-place: keep the workspaces")
        parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
        parser.add_argument(
            "--processes",
            type=int,
            default=2,
            help="web processes sharing the cores, as gunicorn's WEB_CONCURRENCY (default 2): torch gets "
            "cores // processes threads, as a web process does (config/gunicorn.py)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if not (opts["eval_dir"] / "scifact" / "corpus.jsonl").exists():
            raise CommandError(f"Needs SciFact and SQuAD under {opts['eval_dir']} (--eval-dir).")
        process_setup(role="web", processes=opts["processes"])
        if not opts["in_place"]:
            _use_bench_database(rebuild=opts["rebuild"])
        passages, questions = _base_passages(opts["eval_dir"])
        vectors = _base_vectors(passages, settings.DATA_DIR / "bench")
        corpus = _Corpus(passages, [_SENTENCE.split(p)[0] for p in passages], vectors)
        keep = opts["keep"] or not opts["in_place"]
        sizes = {f"bench {opts['chunks']}": opts["chunks"]}
        sizes.update({f"bench small {i}": opts["small"] * 3 for i in range(3)})
        with ExitStack() as stack:
            spaces = [
                stack.enter_context(scratch_workspace(owner_email=BENCH_OWNER, name=name, keep=keep)).workspace
                for name in sizes
            ]
            rng = np.random.default_rng(7)
            started = time.perf_counter()
            for workspace, size in zip(spaces, sizes.values(), strict=True):
                _fill(workspace, size, corpus, rng)
            own_indexes = vector_indexes_ensure()  # what Celery beat does in production
            build_s = time.perf_counter() - started
            result = {
                "chunks_in_workspace": opts["chunks"],
                "chunks_in_table": Chunk.objects.count(),
                "build_s": round(build_s, 1),
                "own_vector_indexes_built": own_indexes["built"],
                "embedding_threads": embedding_threads(),
                **_measure(spaces[0], spaces[1], questions[: opts["queries"]], opts["mode"]),
            }
        if opts["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key:<28} {value}")
