"""Benchmark ingestion end to end through a real Celery worker, against the bare embedding model.

    python manage.py bench_ingest --scifact ../shared/eval/scifact --limit 1000   # many small documents
    python manage.py bench_ingest --pdf-pages 300                                 # one large PDF
    python manage.py bench_ingest --ocr-pages 20                                  # a scan: seconds per OCR'd page
    python manage.py bench_ingest --scifact DIR --pdf-pages 300 --images --ocr-pages 5   # all three, and a summary

Starts its own worker and starts the clock once that worker answers a Celery ping. Prints chunks/s, MB of
extracted text/s, seconds per document, peak worker RSS (MB, process tree, tesseract included), the ratio of
end-to-end throughput to ``model.encode`` throughput on the same chunks (the physical limit:
``bench_corpus.bare_encode_seconds``) and the CPU model. With a scan: pages read by OCR, the seconds they took
(each page's time in its OCR record) in all and per page, and their mean confidence. Given several workloads
(``--scifact``, ``--pdf-pages``, ``--ocr-pages``), runs them one after another, each with a worker of its own, and
ends with a summary of the ratios and the OCR seconds per page. Uses a scratch workspace in the configured
database (``documents.scratch``), deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.worker_process import CeleryWorkerProcess, WorkerStartError
from documents.bench_corpus import bare_encode_seconds, big_pdf, scanned_pdf, scifact_files
from documents.embedding_variants import configured_variant, cpu_description
from documents.models import Document, DocumentVersion
from documents.scratch import BENCH_OWNER, Scratch, scratch_upload, scratch_workspace

Status = Document.Status


def _wait_done(worker: CeleryWorkerProcess, ids: list[int], deadline: float) -> None:
    """Poll until every document is ready or failed (or ``deadline``, a ``perf_counter`` time, passes),
    sampling the worker's memory meanwhile."""
    while time.perf_counter() < deadline:
        worker.sample()
        if not Document.objects.filter(pk__in=ids).exclude(status__in=[Status.READY, Status.FAILED]).exists():
            return
        time.sleep(0.25)  # a polling interval, not synchronisation: the loop re-checks the database


def _report(
    scratch: Scratch, ids: list[int], total_bytes: int, upload_s: float, elapsed: float, worker: CeleryWorkerProcess
) -> dict[str, Any]:
    documents = Document.objects.filter(pk__in=ids)
    statuses = {s: documents.filter(status=s).count() for s in (Status.READY, Status.FAILED)}
    versions = DocumentVersion.objects.filter(document__in=documents)
    text_mb = sum(len(t) for t in versions.values_list("extracted_text", flat=True)) / 1e6
    chunks, bare_seconds = bare_encode_seconds(scratch.workspace.pk, document_ids=ids)
    bare = chunks / bare_seconds if chunks and bare_seconds else 0.0
    e2e = chunks / elapsed if elapsed else 0.0
    return {
        "documents": len(ids),
        "ready": statuses[Status.READY],
        "failed": statuses[Status.FAILED],
        "not_finished": len(ids) - statuses[Status.READY] - statuses[Status.FAILED],
        "input_MB": round(total_bytes / 1e6, 2),
        "chunks": chunks,
        "upload_s": round(upload_s, 2),
        "wall_s": round(elapsed, 2),
        "chunks_per_s": round(e2e, 1),
        "text_MB_per_s": round(text_mb / elapsed, 3) if elapsed else 0,
        "s_per_document": round(elapsed / len(ids), 3) if ids else 0,
        "peak_worker_rss_MB": round(worker.peak_rss / 1e6),
        "bare_encode_chunks_per_s": round(bare, 1),
        "e2e_to_encode_ratio": round(e2e / bare, 2) if bare else 0,
        "variant": configured_variant(),
        "cpu": cpu_description(),
    }


def _ocr_report(ids: list[int]) -> dict[str, Any]:
    """Pages read by OCR in the documents, the seconds they took (each page's ``ms`` in its OCR record: rendering
    and tesseract) in all and per page, their mean confidence (weighted by words), and this machine's CPU."""
    records = [
        record for record in DocumentVersion.objects.filter(document_id__in=ids).values_list("ocr", flat=True) if record
    ]
    pages = [page for record in records for page in record["pages"] if not page["error"]]
    words = sum(page["words"] for page in pages)
    seconds = sum(page["ms"] for page in pages) / 1000
    return {
        "ocr_pages": len(pages),
        "ocr_extract_s": round(seconds, 1),
        "ocr_s_per_page": round(seconds / len(pages), 2) if pages else 0,
        "ocr_mean_confidence": round(sum(p["confidence"] * p["words"] for p in pages) / words, 1) if words else None,
    }


def _summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures of the issue's targets side by side: end-to-end/bare-encode ratios of the small and large
    documents, OCR seconds per page, and the CPU."""
    summary: dict[str, Any] = {}
    for workload in ("small", "large"):
        if workload in results:
            summary[f"{workload}_e2e_to_encode_ratio"] = results[workload]["e2e_to_encode_ratio"]
    if "ocr" in results:
        summary["ocr_s_per_page"] = results["ocr"]["ocr_s_per_page"]
    summary["cpu"] = cpu_description()
    return summary


class Command(BaseCommand):
    help = "Benchmark ingestion through a real worker (see module docstring)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scifact", type=Path, help="BEIR SciFact folder: its abstracts become .txt documents")
        parser.add_argument("--limit", type=int, default=1000, help="how many SciFact abstracts (default 1000)")
        parser.add_argument("--pdf-pages", type=int, default=0, help="also ingest one generated PDF of N pages")
        parser.add_argument("--images", action="store_true", help="add noise images to the PDF (~10 MB at 300 pages)")
        parser.add_argument("--ocr-pages", type=int, default=0, help="also ingest a scanned PDF of N pages (OCR)")
        parser.add_argument(
            "--concurrency",
            type=int,
            help="worker processes (default: 2 for the small documents, 1 for a single PDF or scan, which one"
            " process ingests: a second would only take half the cores from it)",
        )
        parser.add_argument("--threads", type=int, default=0, help="torch threads per worker process (0: default)")
        parser.add_argument("--timeout", type=float, default=1800)
        parser.add_argument("--keep", action="store_true", help="keep the scratch workspace")
        parser.add_argument("--json", action="store_true", help="print only a JSON result on stdout")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not opts["scifact"] and not opts["pdf_pages"] and not opts["ocr_pages"]:
            raise CommandError("Give --scifact DIR, --pdf-pages N and/or --ocr-pages N.")
        name = f"bench {time.strftime('%Y-%m-%d %H:%M:%S')}"
        with (
            tempfile.TemporaryDirectory() as tmp,
            scratch_workspace(owner_email=BENCH_OWNER, name=name, keep=opts["keep"]) as scratch,
        ):
            out = Path(tmp)
            workloads: dict[str, list[Path]] = {}
            if opts["scifact"]:
                workloads["small"] = scifact_files(opts["scifact"], opts["limit"], out)
            if opts["pdf_pages"]:
                workloads["large"] = [big_pdf(opts["pdf_pages"], out, opts["scifact"], opts["images"])]
            if opts["ocr_pages"]:
                workloads["ocr"] = [scanned_pdf(opts["ocr_pages"], out)]
            results = {}
            for workload, files in workloads.items():  # one after another, each with a worker of its own
                if len(workloads) > 1:
                    self.stderr.write(f"bench_ingest: {workload} ({len(files)} files)")
                results[workload] = self._run(scratch, files, opts, ocr=workload == "ocr")
        result = results[next(iter(results))] if len(results) == 1 else {**results, "summary": _summary(results)}
        if opts["json"]:
            self.stdout.write(json.dumps(result))
            return
        for section, values in [("", result)] if len(results) == 1 else result.items():
            if section:
                self.stdout.write(f"[{section}]")
            width = max(len(k) for k in values)
            for key, value in values.items():
                self.stdout.write(f"{key:<{width}}  {value}")

    def _run(self, scratch: Scratch, files: list[Path], opts: dict[str, Any], *, ocr: bool) -> dict[str, Any]:
        """Start a worker, wait until it answers, then time uploading and ingesting ``files``."""
        env = {"EMBEDDING_THREADS": str(opts["threads"])} if opts["threads"] else {}
        concurrency = opts["concurrency"] or (1 if len(files) == 1 else 2)
        worker = CeleryWorkerProcess(concurrency=concurrency, env=env, prefix="bench")
        try:
            try:
                worker.start(timeout=120)  # the clock starts once it consumes tasks
            except WorkerStartError as exc:
                raise CommandError(str(exc)) from exc
            started = time.perf_counter()
            ids = scratch_upload(scratch, files)
            uploaded = time.perf_counter()
            _wait_done(worker, ids, started + opts["timeout"])
            elapsed = time.perf_counter() - started
        finally:
            worker.stop()
        total_bytes = sum(p.stat().st_size for p in files)
        return {
            **_report(scratch, ids, total_bytes, uploaded - started, elapsed, worker),
            "worker_concurrency": concurrency,
            **(_ocr_report(ids) if ocr else {}),
        }
