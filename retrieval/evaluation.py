"""Retrieval evaluation: BEIR-format collections and workspace golden sets, through ``search_chunks``.

Documents go through the product's own upload, extraction, chunking and embedding code; search results
(chunks) are mapped to the evaluated unit (a document, or a passage) by their best rank; metrics come from
``ir-measures`` on trec_eval (nDCG@10, R@10, R@100, RR@10 = MRR@10), averaged over *all* judged queries
(a query with no results scores 0, unlike trec_eval's default of skipping it).

BEIR format (Thakur et al., 2021): ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(only ``_id`` and ``text`` are read), ``qrels/<split>.tsv`` (``query-id  corpus-id  score`` with a header).
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ir_measures
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from ir_measures import RR, R, nDCG

from accounts.models import Workspace
from config.stats import percentiles
from documents.embedding_service import EmbeddingServiceError
from documents.models import Chunk, Document
from documents.services.ingest_batch import IngestBatch, Prepared, documents_claim, embed_chunks
from documents.services.upload import document_upload
from documents.vector_cache import fresh_query_cache
from retrieval.models import GoldenQuery
from retrieval.selectors import Mode, search_chunks

MEASURES = {"ndcg@10": nDCG @ 10, "recall@10": R @ 10, "recall@100": R @ 100, "mrr@10": RR @ 10}
Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ModeResult:
    """Metrics of one mode (averaged over the judged queries) and query latency in ms."""

    metrics: dict[str, float]
    latency_ms: dict[str, float]

    def as_dict(self) -> dict[str, float]:
        return {**self.metrics, **{f"latency_{key}_ms": value for key, value in self.latency_ms.items()}}


def read_beir_queries(directory: Path, split: str) -> tuple[dict[str, str], Qrels]:
    """The judged queries of ``split`` (``{query id: text}``, reading only ``_id`` and ``text``) and their
    qrels ``{query id: {corpus id: relevance}}``. Raises FileNotFoundError for a missing file."""
    qrels: Qrels = {}
    with open(directory / "qrels" / f"{split}.tsv", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries: dict[str, str] = {}
    with open(directory / "queries.jsonl") as handle:
        for line in handle:
            item = json.loads(line)
            if item["_id"] in qrels:
                queries[item["_id"]] = item["text"]
    return queries, {qid: rels for qid, rels in qrels.items() if qid in queries}


def iter_beir_corpus(directory: Path) -> Iterator[tuple[str, str, str]]:
    """``(corpus id, title, text)`` for every line of ``corpus.jsonl``."""
    with open(directory / "corpus.jsonl") as handle:
        for line in handle:
            item = json.loads(line)
            yield item["_id"], item.get("title") or "", item.get("text") or ""


def _beir_filename(corpus_id: str) -> str:
    return f"beir-{re.sub(r'[^A-Za-z0-9_.-]', '_', corpus_id)}.txt"


def beir_document_ids(workspace: Workspace) -> dict[int, str]:
    """``{document pk: corpus id}`` of a workspace loaded by ``load_beir_corpus`` (from the stored filenames)."""
    mapping: dict[int, str] = {}
    for pk, filename in Document.objects.filter(workspace=workspace).values_list(
        "pk", "current_version__original_filename"
    ):
        if filename and filename.startswith("beir-"):
            mapping[pk] = filename[len("beir-") : -len(".txt")]
    return mapping


class _BatchPipeline:
    """Batches of claimed documents through ``ingest_batch``: ``send`` prepares one and hands its chunks to the
    embedding thread, then stores the batch before it (its vectors are ready or nearly so) while this one is
    embedded; ``drain`` stores what is left. ``counts`` gets each document's outcome."""

    def __init__(self, pool: ThreadPoolExecutor, counts: dict[str, int]) -> None:
        self.pool = pool
        self.counts = counts
        self.embedding: deque[tuple[IngestBatch, list[Prepared], Future[list[np.ndarray]]]] = deque()

    def send(self, document_ids: list[int]) -> None:
        batch = IngestBatch(documents_claim(document_ids=document_ids))
        self.counts["failed"] += len(document_ids) - len(batch.documents)  # taken by a worker meanwhile
        prepared = batch.prepare()
        self.embedding.append((batch, prepared, self.pool.submit(embed_chunks, prepared)))  # behind the last
        if len(self.embedding) > 1:
            self._store_oldest()

    def drain(self) -> None:
        while self.embedding:
            self._store_oldest()

    def _store_oldest(self) -> None:
        batch, prepared, future = self.embedding.popleft()
        started = time.perf_counter()
        try:
            vectors = future.result()
        except EmbeddingServiceError as exc:
            batch.embedding_failed(prepared, exc)
        else:
            batch.store(prepared, vectors, embed_seconds=time.perf_counter() - started)  # the seconds waited
        for document in batch.documents:
            self.counts["ingested" if batch.outcomes.get(document.pk) == Document.Status.READY else "failed"] += 1


def load_corpus(
    workspace: Workspace, items: list[tuple[str, str, str]], *, progress: Progress | None = None
) -> dict[str, int]:
    """Upload and ingest (in this process) every ``(id, title, text)`` not yet in the workspace, through the
    workers' pipeline for small documents (``documents.services.ingest_batch``), ``INGEST_BATCH_DOCUMENTS`` at a
    time: while one batch's chunks are embedded (on a thread of their own), the next batch is uploaded, extracted
    and chunked, and the one before stored, so the model rarely waits for the database.

    The id is kept in the stored file name (``beir-<id>.txt``, sanitized to ``[A-Za-z0-9_.-]``) so a kept
    workspace can be reused; ``beir_document_ids`` reads it back. Returns counts
    ``{"ingested": n, "present": n, "failed": n}``.
    """
    present = set(beir_document_ids(workspace).values())
    counts = {"ingested": 0, "present": 0, "failed": 0}
    pending: list[int] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="corpus-embedding") as pool:
        pipeline = _BatchPipeline(pool, counts)
        for done, (item_id, title, text) in enumerate(items, start=1):
            if _beir_filename(item_id)[len("beir-") : -len(".txt")] in present:
                counts["present"] += 1
            elif not text.strip():
                counts["failed"] += 1
            else:
                result = document_upload(
                    workspace=workspace,
                    user=None,
                    file=ContentFile(text.encode()),
                    filename=_beir_filename(item_id),
                    title=title or item_id,
                    enqueue=False,
                )
                if result.created:
                    pending.append(result.document.pk)
                else:
                    counts["present"] += 1
            if len(pending) >= max(1, settings.INGEST_BATCH_DOCUMENTS) or (pending and done == len(items)):
                pipeline.send(pending[:])
                pending.clear()
            if progress:
                progress(done, len(items))
        pipeline.drain()
    return counts


def load_beir_corpus(workspace: Workspace, directory: Path, *, progress: Progress | None = None) -> dict[str, int]:
    """``load_corpus`` of a BEIR ``corpus.jsonl``: a document's text is its ``text``, its title the title."""
    return load_corpus(workspace, list(iter_beir_corpus(directory)), progress=progress)


def run_queries(
    workspace: Workspace,
    queries: dict[str, str],
    *,
    mode: Mode,
    unit_of: Callable[[Chunk], str | None],
    depth: int,
    progress: Progress | None = None,
) -> tuple[Run, list[float]]:
    """Search every query; map chunk hits to units (``unit_of(chunk)``, e.g. a corpus id) keeping each unit's
    best rank. Returns the run ``{query id: {unit: score}}`` (score = depth − rank, so ranks are kept exactly)
    and the latency of each ``search_chunks`` call in ms (query embedding included)."""
    run: Run = {}
    latencies: list[float] = []
    for done, (qid, text) in enumerate(queries.items(), start=1):
        with fresh_query_cache():  # each mode pays for its own query embedding
            started = time.perf_counter()
            hits = search_chunks(workspace=workspace, query=text, k=depth, mode=mode, depth=depth)
            latencies.append((time.perf_counter() - started) * 1000)
        ranked: dict[str, float] = {}
        for hit in hits:
            unit = unit_of(hit.chunk)
            if unit is not None and unit not in ranked:
                ranked[unit] = float(depth - len(ranked))
        run[qid] = ranked
        if progress:
            progress(done, len(queries))
    return run, latencies


def score_run(qrels: Qrels, run: Run) -> dict[str, float]:
    """Mean of each measure over all queries of ``qrels`` (0 for a query without results)."""
    totals = dict.fromkeys(MEASURES, 0.0)
    by_measure = {measure: name for name, measure in MEASURES.items()}
    for metric in ir_measures.iter_calc(list(MEASURES.values()), qrels, {q: r for q, r in run.items() if r}):
        if metric.query_id in qrels:
            totals[by_measure[metric.measure]] += metric.value
    return {name: total / len(qrels) for name, total in totals.items()} if qrels else totals


def evaluate_beir(
    workspace: Workspace,
    directory: Path,
    *,
    split: str,
    modes: list[Mode],
    depth: int,
    progress: Progress | None = None,
) -> dict[str, ModeResult]:
    """Evaluate ``modes`` on a BEIR collection already loaded into ``workspace`` (``load_beir_corpus``)."""
    queries, qrels = read_beir_queries(directory, split)
    corpus_ids = beir_document_ids(workspace)
    results: dict[str, ModeResult] = {}
    for mode in modes:
        run, latencies = run_queries(
            workspace,
            queries,
            mode=mode,
            depth=depth,
            progress=progress,
            unit_of=lambda chunk: corpus_ids.get(chunk.document_id),
        )
        results[mode] = ModeResult(score_run(qrels, run), percentiles(latencies))
    return results


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


def evaluate_golden_set(
    workspace: Workspace, *, modes: list[Mode], depth: int, progress: Progress | None = None
) -> dict[str, ModeResult]:
    """Evaluate ``modes`` on the workspace's golden set (``GoldenQuery``).

    A case with only an expected document is judged per document (any chunk of it is a hit for that
    document); a case with an expected passage is judged per chunk (chunks containing the passage,
    whitespace and case normalized, are relevant). Raises ValueError when the golden set is empty.
    """
    cases = list(GoldenQuery.objects.filter(workspace=workspace))
    if not cases:
        raise ValueError("This workspace has no golden queries; add some in the admin (Retrieval → Golden queries).")
    qrels: Qrels = {}
    passage_cases: set[str] = set()
    for case in cases:
        qid = str(case.pk)
        if case.expected_passage:
            passage_cases.add(qid)
            wanted = _normalize(case.expected_passage)
            chunks = Chunk.objects.filter(document_id=case.expected_document_id).only("pk", "text")
            qrels[qid] = {f"chunk:{c.pk}": 1 for c in chunks if wanted in _normalize(c.text)}
        else:
            qrels[qid] = {f"document:{case.expected_document_id}": 1}
    results: dict[str, ModeResult] = {}
    for mode in modes:
        run: Run = {}
        latencies: list[float] = []
        for case in cases:
            qid = str(case.pk)
            as_chunks = qid in passage_cases
            one_run, one_latency = run_queries(
                workspace,
                {qid: case.question},
                mode=mode,
                depth=depth,
                unit_of=(lambda c: f"chunk:{c.pk}") if as_chunks else (lambda c: f"document:{c.document_id}"),
            )
            run.update(one_run)
            latencies.extend(one_latency)
            if progress:
                progress(len(run), len(cases))
        judged = {qid: rels for qid, rels in qrels.items() if rels}  # a passage found in no chunk is not judged
        results[mode] = ModeResult(score_run(judged, run), percentiles(latencies))
    return results


def compare_results(
    current: dict[str, dict[str, float]], baseline: dict[str, dict[str, float]], *, tolerance: float
) -> list[str]:
    """Regression gate: the quality metrics (not latencies) of ``current`` that fell more than ``tolerance``
    below ``baseline`` (both ``{mode: {metric: value}}``), as readable lines; empty when none did."""
    regressions = []
    for mode, metrics in baseline.items():
        for name, old in metrics.items():
            if name.startswith("latency") or mode not in current or name not in current[mode]:
                continue
            new = current[mode][name]
            if new < old - tolerance:
                regressions.append(f"{mode} {name}: {new:.4f} < baseline {old:.4f} - {tolerance}")
    return regressions
