"""Fault drills (issue 17 part 2): the production-like stack under a little traffic, one fault at a time.

    python manage.py fault_drills                                  # every drill, ~10 minutes
    python manage.py fault_drills --only llm,web --json drills.json

Seeds the drill tenant (``chat.drills.seed``), starts gunicorn, a Celery worker and beat with production settings
on ``--port`` (``chat.loadtest.stack``; the drills' own settings, ``runner.DRILL_ENV``, are printed) and a loopback
LLM provider (``chat.drills.fake_llm``), then runs each drill: traffic on (uploads, searches, JSON and streamed
questions), the fault in, the fault out, the recovery measured (seconds until ``/readyz`` answers 200 and the
traffic's requests succeed again), the drill's uploads waited for, the data checked (``chat.drills.checks``).
Prints the table fault → what users saw → recovery → data check, writes the JSON (``--json``, and
``figures.json`` in ``--out``) and exits non-zero when a drill's data check failed, users got an unclear error or
the system did not recover within ``--recovery-bound-s``. Loopback only; bounded by the drills' durations.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.drills import faults, faults_edges, report
from chat.drills.fake_llm import SwitchableLLM
from chat.drills.runner import DRILL_ENV, Context, DrillResult, Options, db_retry
from chat.drills.seed import drill_tenant, revoke_tokens
from chat.loadtest.stack import Stack, port_taken
from config import embedded
from config.progress import ProgressBar

DRILLS: dict[str, Callable[[Context], DrillResult]] = {
    "llm": faults_edges.llm_faults,
    "web": faults_edges.web_kill,
    "worker": faults.worker_kill,
    "disk": faults_edges.disk_full,
    "redis": faults.redis_down,
    "postgres": faults.postgres_restart,
}


class Command(BaseCommand):
    help = "Fault drills: inject each fault under traffic; what users saw, recovery time, data checks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--only", default=",".join(DRILLS), help=f"comma-separated, of: {', '.join(DRILLS)}")
        parser.add_argument("--port", type=int, default=8090)
        parser.add_argument("--out", type=Path, default=None, help="folder for the stack's logs and figures.json")
        parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
        parser.add_argument("--redis-down-s", type=float, default=60)
        parser.add_argument("--postgres-down-s", type=float, default=15)
        parser.add_argument("--llm-hold-s", type=float, default=8, help="seconds of each misbehaviour")
        parser.add_argument("--recovery-bound-s", type=float, default=120, help="a drill must recover within")
        parser.add_argument("--settle-s", type=float, default=300, help="the longest wait for a drill's uploads")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request of the drills' users
        names = [n.strip() for n in options["only"].split(",") if n.strip()]
        unknown = sorted(set(names) - set(DRILLS))
        if unknown or not names:
            raise CommandError(f"unknown drills {unknown}; choose from {', '.join(DRILLS)}")
        out: Path = options["out"] or Path(settings.DATA_DIR) / "drills" / time.strftime("%Y%m%d-%H%M%S")
        out.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"logs in {out}; drill settings: {DRILL_ENV}")
        tenant = drill_tenant()
        llm = SwitchableLLM()
        stack = Stack(port=options["port"], log_dir=out, env={**DRILL_ENV, **llm.stack_env()})
        drill_options = Options(
            **{k: options[k] for k in ("redis_down_s", "postgres_down_s", "llm_hold_s", "recovery_bound_s", "settle_s")}
        )
        ctx = Context(stack, tenant, llm, out, drill_options, say=lambda line: self.stderr.write(line))
        if port_taken(options["port"]):
            raise CommandError(f"port {options['port']} is in use: stop what listens there or pick --port")
        running = _running_services()
        try:
            stack.start()
            results = self._run(ctx, names, running)
        finally:
            try:
                _restore(running)
            finally:
                stack.stop()
                llm.close()
                revoke_tokens(tenant)  # the run's token opens nothing afterwards
        self._finish(out, results, options)

    def _run(self, ctx: Context, names: list[str], running: set[str]) -> list[DrillResult]:
        bar = ProgressBar("drills", self.stderr)
        results = []
        for done, name in enumerate(names):
            bar(done, len(names), note=name)
            try:
                result = DRILLS[name](ctx)
            except Exception as exc:  # a drill that crashed is a failed drill; the others still run
                self.stderr.write(f"{name}: the drill itself failed: {exc!r}")
                result = DrillResult(name, "(the drill crashed)", checks={"drill": [repr(exc)[:300]]})
                ctx.stop_traffic()
                _restore(running)
            ctx.llm.behaviour = "ok"
            results.append(result)
            self.stderr.write(f"{name}: {report.verdict(result)}")
        bar(len(names), len(names))
        return results

    def _finish(self, out: Path, results: list[DrillResult], options: dict[str, Any]) -> None:
        self.stdout.write(report.table(results))
        figures = report.figures(results, DRILL_ENV)
        (out / "figures.json").write_text(json.dumps(figures, indent=2, default=str))
        if options["json"]:
            options["json"].write_text(json.dumps(figures, indent=2, default=str))
        if figures["failed"]:
            raise CommandError("drills failed: " + ", ".join(figures["failed"]))
        self.stdout.write(self.style.SUCCESS("every drill recovered with its data intact"))


def _running_services() -> set[str]:
    """The embedded servers running before the drills (none with ``REDIS_URL``/``DATABASE_URL``: only those are
    started again after a drill, never one the deployment does not use)."""
    return {name for name, state in embedded.status(settings.DATA_DIR).items() if state["running"]}


def _restore(running: set[str]) -> None:
    """Start the embedded Redis and PostgreSQL again if a drill left them stopped (idempotent)."""
    status = embedded.status(settings.DATA_DIR)
    if "redis" in running and not status["redis"]["running"]:
        embedded.redis_url(settings.DATA_DIR)
    if "postgres" in running and not status["postgres"]["running"]:
        embedded.postgres_url(settings.DATA_DIR)
        db_retry(lambda: None, None)
