"""Benchmark fairness between workspaces: how long a flood of uploads in one workspace delays one upload in another.

    python manage.py bench_fairness                                  # generated flood, 300-page PDF, hostile corpus
    python manage.py bench_fairness --scifact ../shared/eval/scifact --flood 500 --max-delay 30

Starts its own worker (``--concurrency``, default 2 as ``make run``) with the configured settings. First times
a small probe document in workspace B with the worker idle (the median of three: the time it needs anyway).
Then workspace A uploads the flood at once: a large PDF, the hostile-text corpus (``documents.hostile``) and
many small documents. While the flood is ingested, a probe is uploaded to B every ``--interval`` seconds;
each probe's *delay* is its upload-to-ready time minus the idle time. Prints each probe, the worst delay and
the flood's totals (``--json``: one JSON object), and exits non-zero when the worst delay is over
``--max-delay`` seconds (issue 13: 30 s on a 2-core machine). Uses scratch workspaces (``documents.scratch``),
deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from config.worker_process import CeleryWorkerProcess, WorkerStartError
from documents.bench_corpus import big_pdf, scifact_files
from documents.demo_corpus.builders.common import gettysburg_address
from documents.hostile import hostile_corpus
from documents.models import Document
from documents.scratch import BENCH_OWNER, Scratch, scratch_upload, scratch_workspace
from documents.services.extract_errors import ExtractionError

Status = Document.Status
FINISHED = (Status.READY, Status.FAILED)


@dataclass
class Probe:
    """One probe document in workspace B: uploaded ``uploaded_s`` seconds into the flood, ready after
    ``seconds`` (upload to ready), ``delay_s`` more than with the worker idle."""

    document_id: int
    uploaded_s: float
    started: float  # perf_counter at upload
    seconds: float = 0.0
    delay_s: float = 0.0
    status: str = ""


def _probe_file(directory: Path, number: int) -> Path:
    path = directory / f"probe-{number}.txt"
    path.write_text(f"Probe {number}. {gettysburg_address()}\n")  # numbered: no two share a content hash
    return path


def _flood_files(directory: Path, opts: dict[str, Any]) -> list[Path]:
    """The big PDF first, then the hostile corpus, then the small documents (all uploaded at once)."""
    files = []
    if opts["pdf_pages"]:
        files.append(big_pdf(opts["pdf_pages"], directory, opts["scifact"], images=True))
    if opts["hostile_size"]:
        hostile = directory / "hostile"
        hostile.mkdir()
        files += hostile_corpus(hostile, size=opts["hostile_size"])
    if opts["scifact"]:
        files += scifact_files(opts["scifact"], opts["flood"], directory)
    else:
        for i in range(opts["flood"]):
            path = directory / f"flood-{i}.txt"
            path.write_text(f"Flood document {i}.\n\n{gettysburg_address()}\n")
            files.append(path)
    return files


def _upload_flood(scratch: Scratch, files: list[Path]) -> tuple[list[int], list[str]]:
    """Upload every file through the upload service: the ids of the accepted documents, and the names of the
    files refused at upload (binary junk, zip bombs: refused before they are stored)."""
    ids, refused = [], []
    for path in files:
        try:
            ids += scratch_upload(scratch, [path])
        except ExtractionError:
            refused.append(path.name)
    return ids, refused


def _upload_and_time(scratch: Scratch, path: Path, timeout: float) -> float:
    """Seconds from upload to a finished status of one document (the worker otherwise idle)."""
    started = time.perf_counter()
    (document_id,) = scratch_upload(scratch, [path])
    while not Document.objects.filter(pk=document_id, status__in=FINISHED).exists():
        if time.perf_counter() - started > timeout:
            raise CommandError(f"the idle probe was not ingested within {timeout:.0f} s: is the worker consuming?")
        time.sleep(0.05)  # the polling interval: the database decides
    return time.perf_counter() - started


class Command(BaseCommand):
    help = "Benchmark how long a flood of uploads in one workspace delays another workspace's upload."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scifact", type=Path, help="BEIR SciFact folder: the flood's small documents")
        parser.add_argument("--flood", type=int, default=300, help="small documents in the flood (default 300)")
        parser.add_argument("--pdf-pages", type=int, default=300, help="pages of the flood's PDF (0: none)")
        parser.add_argument("--hostile-size", type=int, default=100_000, help="bytes per hostile file (0: none)")
        parser.add_argument("--probes", type=int, default=200, help="at most this many probes (one per interval)")
        parser.add_argument("--interval", type=float, default=15.0, help="seconds between probes")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
        parser.add_argument("--max-delay", type=float, default=30.0, help="target: worst probe delay (s)")
        parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
        parser.add_argument("--keep", action="store_true", help="keep the scratch workspaces")
        parser.add_argument("--json", action="store_true", help="print only a JSON result on stdout")

    def handle(self, *args: Any, **opts: Any) -> None:
        self.err = OutputWrapper(sys.stderr)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with (
            tempfile.TemporaryDirectory() as tmp,
            scratch_workspace(owner_email=BENCH_OWNER, name=f"fairness flood {stamp}", keep=opts["keep"]) as flood,
            scratch_workspace(owner_email=BENCH_OWNER, name=f"fairness probe {stamp}", keep=opts["keep"]) as probe,
        ):
            self.err.write("writing the flood's files ...")
            files = _flood_files(Path(tmp), opts)
            worker = CeleryWorkerProcess(concurrency=opts["concurrency"], prefix="bench-fairness")
            try:
                worker.start(timeout=120)
            except WorkerStartError as exc:
                raise CommandError(str(exc)) from exc
            try:
                result = self._run(flood, probe, files, Path(tmp), worker, opts)
            finally:
                worker.stop()
        self._print(result, opts)
        if result["worst_delay_s"] > opts["max_delay"]:
            raise CommandError(f"worst delay {result['worst_delay_s']:.1f} s is over {opts['max_delay']:.0f} s")

    def _run(
        self,
        flood: Scratch,
        probe: Scratch,
        files: list[Path],
        tmp: Path,
        worker: CeleryWorkerProcess,
        opts: dict[str, Any],
    ) -> dict[str, Any]:
        idle = statistics.median(_upload_and_time(probe, _probe_file(tmp, -i), 120) for i in range(1, 4))
        self.err.write(f"idle: a probe takes {idle:.2f} s; uploading the flood ({len(files)} files) ...")
        started = time.perf_counter()
        flood_ids, refused = _upload_flood(flood, files)
        self.err.write(f"{len(refused)} files refused at upload (as they should be): {', '.join(refused)}")
        probes = self._probe_during(probe, flood_ids, tmp, worker, started, idle, opts)
        return self._result(flood_ids, files, probes, idle, time.perf_counter() - started, worker, opts)

    def _probe_during(
        self,
        scratch: Scratch,
        flood_ids: list[int],
        tmp: Path,
        worker: CeleryWorkerProcess,
        started: float,
        idle: float,
        opts: dict[str, Any],
    ) -> list[Probe]:
        """Upload a probe every ``--interval`` s while the flood lasts; return once the flood and every probe
        finished (or ``--timeout``), printing progress with an ETA every 5 s."""
        probes: list[Probe] = []
        next_probe, next_report = started, started
        while True:
            now = time.perf_counter()
            flood_left = Document.objects.filter(pk__in=flood_ids).exclude(status__in=FINISHED).count()
            self._finish_probes(probes, idle, now)
            if flood_left == 0 and all(p.status for p in probes):
                return probes
            if now - started > opts["timeout"]:
                raise CommandError(f"not finished within {opts['timeout']:.0f} s ({flood_left} flood documents left)")
            if flood_left and len(probes) < opts["probes"] and now >= next_probe:
                (document_id,) = scratch_upload(scratch, [_probe_file(tmp, len(probes) + 1)])
                probes.append(Probe(document_id=document_id, uploaded_s=now - started, started=now))
                next_probe = now + opts["interval"]
            if now >= next_report:
                self._report_progress(len(flood_ids) - flood_left, len(flood_ids), probes, now - started, worker)
                next_report = now + 5
            time.sleep(0.1)  # the polling interval: the database decides

    @staticmethod
    def _finish_probes(probes: list[Probe], idle: float, now: float) -> None:
        waiting = {p.document_id: p for p in probes if not p.status}
        for document_id, status in Document.objects.filter(pk__in=waiting, status__in=FINISHED).values_list(
            "pk", "status"
        ):
            p = waiting[document_id]
            p.status, p.seconds = status, now - p.started
            p.delay_s = max(0.0, p.seconds - idle)

    def _report_progress(
        self, done: int, total: int, probes: list[Probe], elapsed: float, worker: CeleryWorkerProcess
    ) -> None:
        eta = f", ETA {elapsed / done * (total - done):.0f} s" if done else ""
        finished = [p for p in probes if p.status]
        worst = max((p.delay_s for p in finished), default=0.0)
        worker.sample()
        self.err.write(
            f"[{elapsed:6.0f} s] flood {done}/{total} finished{eta}; probes {len(finished)}/{len(probes)} ready,"
            f" worst delay {worst:.1f} s"
        )

    @staticmethod
    def _result(
        flood_ids: list[int],
        files: list[Path],
        probes: list[Probe],
        idle: float,
        wall: float,
        worker: CeleryWorkerProcess,
        opts: dict[str, Any],
    ) -> dict[str, Any]:
        documents = Document.objects.filter(pk__in=flood_ids)
        return {
            "worker_concurrency": opts["concurrency"],
            "flood_documents": len(flood_ids),
            "flood_refused_at_upload": len(files) - len(flood_ids),
            "flood_MB": round(sum(p.stat().st_size for p in files) / 1e6, 1),
            "flood_ready": documents.filter(status=Status.READY).count(),
            "flood_failed": documents.filter(status=Status.FAILED).count(),
            "flood_chunks": sum(documents.values_list("chunk_count", flat=True)),
            "flood_wall_s": round(wall, 1),
            "idle_probe_s": round(idle, 2),
            "probes": [{k: v for k, v in asdict(p).items() if k != "started"} for p in probes],
            "worst_delay_s": round(max((p.delay_s for p in probes), default=0.0), 2),
            "max_delay_target_s": opts["max_delay"],
            "peak_worker_rss_MB": round(worker.peak_rss / 1e6),
        }

    def _print(self, result: dict[str, Any], opts: dict[str, Any]) -> None:
        if opts["json"]:
            self.stdout.write(json.dumps(result))
            return
        for p in result["probes"]:
            self.stdout.write(
                f"probe {p['document_id']}: uploaded at {p['uploaded_s']:6.1f} s, {p['status']} after"
                f" {p['seconds']:5.1f} s, delay {p['delay_s']:5.1f} s"
            )
        width = max(len(k) for k in result)
        for key, value in result.items():
            if key != "probes":
                self.stdout.write(f"{key:<{width}}  {value}")
