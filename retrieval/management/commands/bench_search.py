"""Benchmark ``search_chunks`` latency at scale, in a separate database (``<name>_bench``, kept between runs).

    python manage.py bench_search --chunks 100000            # build (or reuse) and measure
    python manage.py bench_search --chunks 1000000 --queries 300

Builds one workspace of ``--chunks`` chunks among several small ones (three of 50 documents) from real
text: SciFact abstracts and SQuAD paragraphs (``../shared/eval``), embedded once with the product's model
and cached under ``var/bench/``. Larger sizes are synthesized from them: each chunk is a base passage plus one
sentence of another, with the embedding mixed the same way (0.85·v_p + 0.15·v_q) plus Gaussian noise,
renormalized, so no two vectors are equal. Indexes are dropped for the bulk load and rebuilt, as one would
for a first import. Then it runs real queries (SciFact test and SQuAD questions) through ``search_chunks``
(hybrid, k=10, query embedding included) and prints p50/p95/p99 in ms, plus each stage's share.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.test import override_settings

from accounts.models import Workspace
from accounts.services import workspace_create
from config.stats import percentiles
from documents.embeddings import (
    MAX_TEXT_TOKENS,
    count_tokens,
    embed_query,
    embed_texts,
    embedding_threads,
    forget_queries,
    share_cores_with,
)
from documents.models import Chunk, Document, DocumentVersion
from retrieval.bm25 import bm25_search
from retrieval.models import WorkspaceStats
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
    vectors = np.concatenate([embed_texts(passages[i : i + 512]) for i in range(0, len(passages), 512)])
    np.save(path, vectors)
    return vectors


class Command(BaseCommand):
    help = "Measure search_chunks latency (hybrid, k=10) at 100k–1M chunks in a separate benchmark database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the measured workspace")
        parser.add_argument("--queries", type=int, default=300)
        parser.add_argument("--mode", default="hybrid", choices=["bm25", "vector", "hybrid"])
        parser.add_argument("--eval-dir", type=Path, default=settings.BASE_DIR.parent / "shared" / "eval")
        parser.add_argument("--rebuild", action="store_true", help="drop the benchmark database first")
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
        share_cores_with(opts["processes"])
        db = settings.DATABASES["default"]
        db.setdefault("TEST", {})["NAME"] = f"{db['NAME']}_bench"
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=not opts["rebuild"])
        passages, questions = _base_passages(opts["eval_dir"])
        vectors = _base_vectors(passages, settings.DATA_DIR / "bench")
        owner, _ = get_user_model().objects.get_or_create(email="bench@groundwork.local")
        rng = np.random.default_rng(7)
        started = time.perf_counter()
        target = self._workspace(owner, f"bench {opts['chunks']}", opts["chunks"], passages, vectors, rng)
        small = [self._workspace(owner, f"bench small {i}", 50 * 3, passages, vectors, rng) for i in range(3)]
        own_indexes = vector_indexes_ensure()  # what Celery beat does in production
        build_s = time.perf_counter() - started
        result = self._measure(target, small[0], questions[: opts["queries"]], opts["mode"])
        result = {
            "chunks_in_workspace": opts["chunks"],
            "chunks_in_table": self._table_rows(),
            "build_s": round(build_s, 1),
            "own_vector_indexes_built": own_indexes["built"],
            "embedding_threads": embedding_threads(),
            **result,
        }
        if opts["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key:<28} {value}")

    @staticmethod
    def _table_rows() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM documents_chunk")
            return int(cursor.fetchone()[0])

    def _workspace(
        self, owner: Any, name: str, size: int, passages: list[str], vectors: np.ndarray, rng: np.random.Generator
    ) -> Workspace:
        workspace = Workspace.objects.filter(name=name).first()
        if workspace is not None:
            stats = WorkspaceStats.objects.filter(workspace=workspace).first()
            if stats and stats.chunk_count == size:
                return workspace
            raise CommandError(f"Workspace {name!r} is incomplete; run again with --rebuild.")
        workspace = workspace_create(owner=owner, name=name)
        per_document = CHUNKS_PER_DOCUMENT if size > 1000 else 3
        big = size >= 200_000
        if big:
            self._drop_indexes()
        sentences = [_SENTENCE.split(p)[0] for p in passages]
        for start in range(0, size, BATCH):
            count = min(BATCH, size - start)
            self._load(workspace, start, count, per_document, passages, sentences, vectors, rng)
            sys.stderr.write(f"\r{name}: {start + count}/{size} chunks")
        sys.stderr.write("\n")
        if big:
            self._create_indexes()
        with connection.cursor() as cursor:  # statistics, and the visibility map index-only scans rely on
            cursor.execute("VACUUM ANALYZE documents_chunk")
            cursor.execute("VACUUM ANALYZE retrieval_posting")
        return workspace

    @transaction.atomic
    def _load(
        self,
        workspace: Workspace,
        start: int,
        count: int,
        per_document: int,
        passages: list[str],
        sentences: list[str],
        vectors: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        from pgvector.psycopg import register_vector

        n_docs = -(-count // per_document)
        documents = Document.objects.bulk_create(
            [
                Document(
                    workspace=workspace,
                    title=f"Synthetic {start // per_document + i}",
                    status="ready",
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
        m = len(passages)
        base = (start + np.arange(count)) % m
        other = rng.integers(0, m, count)
        mixed = 0.85 * vectors[base] + 0.15 * vectors[other] + rng.normal(0, 0.02, (count, vectors.shape[1]))
        mixed = (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)
        connection.ensure_connection()
        register_vector(connection.connection)
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS bench_load (document_id bigint, version_id bigint, ordinal int,"
                " text text, embedding vector(384)) ON COMMIT DROP"
            )
            with cursor.cursor.copy("COPY bench_load FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int8", "int4", "text", "vector"])
                for i in range(count):
                    d = i // per_document
                    text = passages[base[i]] + " " + sentences[other[i]]
                    copy.write_row([documents[d].pk, versions[d].pk, i % per_document, text, mixed[i]])
            cursor.execute(
                """INSERT INTO documents_chunk (workspace_id, document_id, version_id, ordinal, text, heading_path,
                       char_start, char_end, token_count, embedding, search_vector, search_length)
                   SELECT %s, document_id, version_id, ordinal, text, '[]'::jsonb, 0, length(text), 200, embedding,
                       tsv, (SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0) FROM unnest(tsv))
                   FROM bench_load, LATERAL to_tsvector(%s::regconfig, text) AS tsv""",
                [workspace.pk, workspace.text_search_config],
            )

    @staticmethod
    def _search_indexes() -> list[Any]:
        """The GIN and HNSW indexes of ``Chunk.Meta`` (dropped for the bulk load, then rebuilt as defined)."""
        names = ("chunk_embedding_hnsw", "chunk_search_vector_gin")
        return [index for index in Chunk._meta.indexes if index.name in names]

    def _drop_indexes(self) -> None:
        with connection.schema_editor(atomic=False) as editor:
            for index in self._search_indexes():
                editor.remove_index(Chunk, index)
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE retrieval_posting DROP CONSTRAINT IF EXISTS retrieval_posting_pkey")

    def _create_indexes(self) -> None:
        sys.stderr.write("building the GIN and HNSW indexes …\n")
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '4GB'")
        with connection.schema_editor(atomic=False) as editor:
            for index in self._search_indexes():
                editor.add_index(Chunk, index)
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE retrieval_posting ADD CONSTRAINT retrieval_posting_pkey"
                " PRIMARY KEY (workspace_id, lexeme, chunk_id) INCLUDE (tf, length, document_id)"
            )

    @staticmethod
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

    @staticmethod
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

    def _measure(self, workspace: Workspace, small: Workspace, questions: list[str], mode: Any) -> dict[str, Any]:
        for q in questions[:20]:  # warm-up: model, caches
            search_chunks(workspace=workspace, query=q, k=10, mode=mode)
        total, embed, bm25, vector = [], [], [], []
        depth = settings.SEARCH_CANDIDATES
        for q in questions:
            forget_queries()  # measure the model, not the query cache
            t0 = time.perf_counter()
            search_chunks(workspace=workspace, query=q, k=10, mode=mode)
            t1 = time.perf_counter()
            parsed = parse_query(q, config=workspace.text_search_config)
            forget_queries()
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
        agreement = self._bm25_agreement(workspace, questions[:100], depth)
        recall = self._vector_recall(workspace, questions[:30], depth)
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
