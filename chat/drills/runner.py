"""One drill's timeline, shared by every drill: traffic on, fault in, fault out, recovery measured, uploads
waited for, data checked. ``Context`` holds what the drills share; ``DrillResult`` is one row of the report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connections
from django.utils import timezone

from chat.drills.checks import data_checks, unanswered_questions
from chat.drills.client import UserClient
from chat.drills.fake_llm import SwitchableLLM
from chat.drills.seed import DrillTenant
from chat.drills.traffic import QUESTIONS, Traffic, summary, wait_until
from chat.loadtest.stack import Stack
from documents.models import Document

# What the drills change in the stack's settings, and why (the report prints them).
DRILL_ENV = {
    "INGEST_STALE_SECONDS": "20",  # a dead worker's document is taken over after 20 s without a heartbeat (120)
    "INGEST_SWEEP_SECONDS": "5",  # beat's sweep runs every 5 s (30)
    "LLM_CIRCUIT_COOLDOWN_S": "10",  # a failing provider is retried after 10 s (60)
    "UPLOADS_PER_USER_PER_HOUR": "1000000",  # the drill user uploads all the time: no hourly limit in the way
    "CHAT_QUESTIONS_PER_DAY_USER": "1000000",
    "CHAT_QUESTIONS_PER_DAY_WORKSPACE": "1000000",
}


@dataclass
class Options:
    """Durations of the drills (s): Redis and PostgreSQL down, each LLM behaviour held, the recovery bound."""

    redis_down_s: float = 60
    postgres_down_s: float = 15
    llm_hold_s: float = 8
    recovery_bound_s: float = 120
    settle_s: float = 300  # the longest wait for the drill's uploads to end ready or failed


@dataclass
class Context:
    stack: Stack
    tenant: DrillTenant
    llm: SwitchableLLM
    out: Path
    options: Options
    say: Callable[[str], None] = print
    running: list[Traffic] = field(default_factory=list)  # every traffic started, stopped after a crashed drill

    def client(self, workspace: int | None = None) -> UserClient:
        return UserClient(self.stack.url, self.tenant.token, workspace or self.tenant.workspace)

    def traffic(self, kinds: tuple[str, ...] = ("upload", "search", "ask", "stream")) -> Traffic:
        traffic = Traffic(self.client, kinds)
        self.running.append(traffic)
        return traffic

    def stop_traffic(self) -> None:
        """Stop every traffic a drill started (a drill that crashed left its threads uploading into the next)."""
        while self.running:
            self.running.pop().stop()

    @property
    def workspaces(self) -> list[int]:
        return [self.tenant.workspace, self.tenant.disk_workspace]


@dataclass
class DrillResult:
    """One row of the report: the fault, what users saw (``traffic.summary``), the recovery time (s from the
    fault's removal until ``/readyz`` and the traffic's requests succeeded again; None: not within the bound),
    the data checks' problems by check, and notes."""

    name: str
    fault: str
    users: dict[str, Any] = field(default_factory=dict)
    recovery_s: float | None = None
    checks: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""
    unclear_allowed: bool = False  # a killed process cuts its streams: no message can be sent then

    @property
    def problems(self) -> list[str]:
        if self.skipped:
            return []
        out = [f"{name}: {p}" for name, problems in self.checks.items() for p in problems]
        if self.recovery_s is None:
            out.append("did not recover within the bound")
        unclear = sum(int(kind["unclear"]) for kind in self.users.values())
        if unclear and not self.unclear_allowed:
            out.append(f"{unclear} responses without a clear error")
        return out


def probe(ctx: Context) -> bool:
    """The traffic's requests work again: a search and a JSON question both succeed."""
    client = ctx.client()
    try:
        conversation, _ = client.conversation()
        return bool(client.search(QUESTIONS[0]).ok and conversation and client.ask(conversation, QUESTIONS[1])[0].ok)
    finally:
        client.close()


def recovery(ctx: Context, since: float, extra: Callable[[], bool] | None = None) -> float | None:
    """Seconds from ``since`` (``time.monotonic()``) until ``/readyz`` is 200, the probe succeeds and ``extra``
    holds; None when that did not happen within ``recovery_bound_s``."""

    def recovered() -> bool:
        return ctx.stack.ready() and probe(ctx) and (extra is None or db_retry(extra, False))

    left = ctx.options.recovery_bound_s - (time.monotonic() - since)
    return time.monotonic() - since if wait_until(recovered, max(left, 0), interval=1) else None


def db_retry(query: Callable[[], Any], default: Any) -> Any:
    """``query()``, or ``default`` when the database is not reachable (the connection is closed, so the next
    query opens a fresh one: after PostgreSQL restarted)."""
    try:
        return query()
    except DatabaseError:
        connections.close_all()
        return default


def uploads_settle(ids: list[int], timeout: float) -> bool:
    """Wait (``timeout`` s at most) until every document of ``ids`` is ready or failed."""
    ended = Document.objects.filter(pk__in=ids, status__in=[Document.Status.READY, Document.Status.FAILED])
    return wait_until(lambda: db_retry(ended.count, -1) == len(set(ids)), timeout, interval=1)


def finish(ctx: Context, result: DrillResult, traffic: Traffic, started: datetime) -> DrillResult:
    """Stop the traffic, wait for its uploads, run the data checks; fills ``result``."""
    traffic.stop()
    uploads = traffic.uploads()
    if not uploads_settle(uploads, ctx.options.settle_s):
        result.notes.append(f"uploads still processing after {ctx.options.settle_s:.0f} s")
    result.users = summary(traffic.outcomes)
    checks = db_retry(
        lambda: data_checks(workspaces=ctx.workspaces, uploads=uploads, since=started), {"database": ["down"]}
    )
    result.checks = {**checks, **result.checks}
    cut = db_retry(lambda: unanswered_questions(ctx.workspaces, started), 0)
    result.notes.append(f"{len(uploads)} uploads acknowledged; {cut} questions left without an answer")
    return result


def start(ctx: Context, name: str, kinds: tuple[str, ...] | None = None) -> tuple[Traffic, datetime]:
    """Traffic on, and a few seconds of it before the fault (so users' normal answers are in the counts)."""
    ctx.say(f"{name}: traffic on")
    started = timezone.now()
    traffic = ctx.traffic(kinds) if kinds else ctx.traffic()
    traffic.start()
    wait_until(lambda: len(traffic.outcomes) >= 4, 30)
    return traffic, started
