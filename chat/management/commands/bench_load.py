"""Load benchmark: the production-like stack under 1,000 simulated users (locust, loopback only), with figures.

    python manage.py bench_load --eval-dir ../shared/eval                  # seed once (~10 min), then 5 min of load
    python manage.py bench_load --eval-dir ../shared/eval --users 200 --duration 60   # a quick look

Seeds the load tenants (``chat.loadtest.seed``: 50 workspaces, one of 20,000+ chunks of SciFact and SQuAD text,
1,000 users with tokens and sessions; a second run reuses them), starts gunicorn, a Celery worker and beat with
production settings on ``--port`` (``chat.loadtest.stack``), runs locust headless for ``--duration`` seconds
(``chat.loadtest.locustfile``: pages, the document and search APIs, JSON and streamed answers from the offline
answerer, small uploads, token creation), sampling every process's CPU and memory and PostgreSQL's connections,
then waits for every upload of the run to be ready. Prints per endpoint requests/s, p50/p95/p99 (ms) and the
statuses seen, the process table and the verdict; writes it all as JSON (``--json``) and exits non-zero when a
target (``chat.loadtest.report.TARGETS``) is missed. Bounded: locust stops itself after ``--duration``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.loadtest import report
from chat.loadtest.seed import retire, seed
from chat.loadtest.stack import Stack, port_taken, postgres_connections
from config.progress import ProgressBar
from documents.embedding_variants import cpu_description
from documents.models import Document

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtest" / "locustfile.py"


class Command(BaseCommand):
    help = "Load benchmark: 1,000 simulated users against the production-like stack; figures and verdict."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--eval-dir", type=Path, required=True, help="holds scifact/ and squad-v1.1-dev/")
        parser.add_argument("--users", type=int, default=1000)
        parser.add_argument("--spawn-rate", type=float, default=20, help="users started per second")
        parser.add_argument(
            "--think",
            default="10,30",
            help="seconds between one user's actions, MIN,MAX (default: reading an answer or a result list; "
            "1,000 users then send ~50 requests/s)",
        )
        parser.add_argument("--duration", type=int, default=300, help="seconds of load (after the ramp-up)")
        parser.add_argument("--workspaces", type=int, default=50)
        parser.add_argument("--big-chunks", type=int, default=20000, help="chunks in the big workspace, at least")
        parser.add_argument("--small-documents", type=int, default=3, help="SQuAD articles per other workspace")
        parser.add_argument("--big-documents", type=int, default=None, help="at most this many of each collection")
        parser.add_argument("--port", type=int, default=8077)
        parser.add_argument("--ready-timeout", type=int, default=600, help="seconds to wait for the uploads")
        parser.add_argument("--out", type=Path, default=None, help="folder for logs and locust's CSVs")
        parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
        parser.add_argument("--search-p95-ms", type=float, default=report.TARGETS[report.SEARCH])
        parser.add_argument("--first-token-p95-ms", type=float, default=report.TARGETS[report.FIRST_TOKEN])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["users"] < 1 or options["duration"] < 10:
            raise CommandError("--users must be at least 1 and --duration at least 10 s")
        out: Path = options["out"] or Path(settings.DATA_DIR) / "load" / time.strftime("%Y%m%d-%H%M%S")
        out.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"CPU: {cpu_description()}; logs and CSVs in {out}")
        seeded = seed(
            users=options["users"],
            workspaces=options["workspaces"],
            big_chunks=options["big_chunks"],
            small_documents=options["small_documents"],
            big_documents=options["big_documents"],
            eval_dir=options["eval_dir"],
            out=out / "accounts.json",
            progress=lambda label: ProgressBar(label, self.stdout),
        )
        self.stdout.write(f"seeded: {seeded}")
        if port_taken(options["port"]):
            raise CommandError(f"port {options['port']} is in use: stop what listens there or pick --port")
        call_command("collectstatic", interactive=False, verbosity=0)  # as make run: pages need the manifest
        stack = Stack(port=options["port"], log_dir=out)
        try:
            stack.start()
            samples = self._run_locust(stack, out, options)
        finally:
            stack.stop()
            retire(out / "accounts.json")  # the run's tokens, sessions and password open nothing afterwards
        self._finish(out, seeded, samples, options)

    def _run_locust(self, stack: Stack, out: Path, options: dict[str, Any]) -> report.Samples:
        ramp = options["users"] / options["spawn_rate"]
        seconds = int(ramp + options["duration"])
        command = [
            *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"),
            *("-u", str(options["users"]), "-r", str(options["spawn_rate"]), "-t", f"{seconds}s"),
            *("--host", stack.url, "--csv", str(out / "locust"), "--exit-code-on-error", "0"),
            *("--accounts", str(out / "accounts.json"), "--results-out", str(out / "results.json")),
            *("--session-cookie", settings.SESSION_COOKIE_NAME, "--stop-timeout", "30", "--reset-stats"),
            *("--think", options["think"]),
        ]
        samples = report.Samples()
        bar = ProgressBar("load", self.stdout)
        started = time.monotonic()
        with (out / "locust.log").open("wb") as log:
            locust = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR)
            try:
                stack.usage({"locust": locust.pid})  # primes the CPU counters
                while locust.poll() is None:
                    time.sleep(5)  # the sampling interval
                    samples.add(stack.usage({"locust": locust.pid}), postgres_connections())
                    elapsed = int(time.monotonic() - started)
                    cpu = " ".join(f"{k} {v[-1]:.0f}%" for k, v in samples.cpu.items() if v)
                    bar(min(elapsed, seconds), seconds, note=f"s; cpu {cpu}")
            finally:  # a failed sample (or Ctrl-C) must not leave the load running
                if locust.poll() is None:
                    locust.terminate()
                    locust.wait(60)
        if locust.returncode != 0:
            raise CommandError(f"locust exited with {locust.returncode}; see {out / 'locust.log'}")
        return samples

    def _uploads(self, ids: list[int], timeout: int) -> dict[str, int]:
        """Wait (up to ``timeout`` s) for the run's uploads to leave the queue; count them by outcome."""
        bar = ProgressBar("uploads ready", self.stdout)
        deadline = time.monotonic() + timeout
        documents = Document.objects.filter(pk__in=ids)
        while True:
            done = documents.filter(status__in=[Document.Status.READY, Document.Status.FAILED]).count()
            bar(done, len(ids))
            if done == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(2)  # a polling interval: each turn counts again
        ready = documents.filter(status=Document.Status.READY).count()
        return {"total": len(ids), "ready": ready, "not_ready": len(ids) - ready}

    def _finish(self, out: Path, seeded: dict[str, Any], samples: report.Samples, options: dict[str, Any]) -> None:
        results = json.loads((out / "results.json").read_text())
        rows = report.endpoints(out / "locust_stats.csv")
        uploads = self._uploads(results["uploads"], options["ready_timeout"])
        summary = samples.summary()
        targets = {report.SEARCH: options["search_p95_ms"], report.FIRST_TOKEN: options["first_token_p95_ms"]}
        missed = report.misses(rows, results["statuses"], uploads, targets)
        self.stdout.write(report.table(rows, results["statuses"]))
        self.stdout.write(report.usage_table(summary))
        self.stdout.write(f"uploads: {uploads}")
        figures = {
            "cpu": cpu_description(),
            "users": options["users"],
            "duration_s": options["duration"],
            "think_s": options["think"],
            "seeded": seeded,
            "endpoints": [row.__dict__ for row in rows],
            "statuses": results["statuses"],
            "processes": summary,
            "uploads": uploads,
            "targets": targets,
            "missed": missed,
        }
        (out / "figures.json").write_text(json.dumps(figures, indent=2))
        if options["json"]:
            options["json"].write_text(json.dumps(figures, indent=2))
        if missed:
            raise CommandError("targets missed: " + "; ".join(missed))
        self.stdout.write(self.style.SUCCESS("every target met"))
