"""The drills on the services: a Celery worker killed mid-ingestion, Redis stopped, PostgreSQL restarted.

Each takes the shared ``Context`` and returns its ``DrillResult`` (``runner``). Redis and PostgreSQL are the
embedded ones of ``config.embedded`` (this checkout's data folder); with external servers those drills are skipped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from chat.drills.runner import Context, DrillResult, db_retry, finish, recovery, start
from chat.drills.traffic import upload_text, wait_until
from config import embedded
from documents.models import Document


def _embedded(service: str) -> bool:
    return bool(embedded.status(settings.DATA_DIR)[service]["running"])


def _big_upload(ctx: Context) -> int | None:
    """Upload a long text (about 300 chunks) and return its id (None if refused)."""
    client = ctx.client()
    try:
        outcome = client.upload(f"drill-big-{uuid.uuid4().hex[:8]}.txt", upload_text(uuid.uuid4().hex, 400))
    finally:
        client.close()
    return outcome.document


def _status(document_id: int) -> tuple[str, int]:
    return db_retry(
        lambda: tuple(Document.objects.filter(pk=document_id).values_list("status", "progress_done").get()),
        ("unknown", 0),
    )


def _caught(document_id: int) -> bool:
    """The document is being embedded with some chunks done (or already ended: too late to catch)."""
    status, done = _status(document_id)
    return (status == Document.Status.EMBEDDING and done > 0) or status in (Document.Status.READY, "failed")


def worker_kill(ctx: Context) -> DrillResult:
    """kill -9 the Celery worker (main process and pool) while it embeds a long document; start a new one.
    Recovered once that document is ready (the sweep takes it over after ``INGEST_STALE_SECONDS``)."""
    result = DrillResult("worker kill", "kill -9 of the Celery worker mid-ingestion of a ~300-chunk text")
    traffic, started = start(ctx, result.name)
    big = _big_upload(ctx)
    if big is None:
        traffic.stop()
        result.skipped = "the long document's upload was refused"
        return result
    wait_until(lambda: _caught(big), 180)
    state = _status(big)
    if state[0] != Document.Status.EMBEDDING:
        result.notes.append(f"the long document was {state[0]} when the worker was killed")
    ctx.stack.worker.kill()
    result.notes.append(f"killed while {state[0]} ({state[1]} chunks embedded)")
    ctx.say(f"{result.name}: worker killed while {state[0]}; starting a new one")
    ctx.stack.worker.log = ctx.out / "worker-after-kill.log"
    ctx.stack.worker.start()
    removed = time.monotonic()
    result.recovery_s = recovery(ctx, removed, lambda: _status(big)[0] == Document.Status.READY)
    attempts = db_retry(lambda: Document.objects.values_list("attempts", flat=True).get(pk=big), None)
    result.notes.append(f"the long document: {_status(big)[0]} after {attempts} attempts")
    traffic.outcomes.append(_outcome_of(big))
    return finish(ctx, result, traffic, started)


def _outcome_of(document_id: int):  # -> Outcome: the long upload counts among the drill's uploads
    from chat.drills.client import Outcome

    return Outcome("upload", 201, "201", document=document_id)


def redis_down(ctx: Context) -> DrillResult:
    """Stop the embedded Redis (cache, broker, rate limits) for ``redis_down_s`` during uploads and questions,
    then start it again (its append-only file keeps the queued tasks)."""
    result = DrillResult("redis down", f"Redis stopped for {ctx.options.redis_down_s:.0f} s")
    if not _embedded("redis"):
        result.skipped = "Redis is not the embedded one (REDIS_URL is set): it cannot be stopped from here"
        return result
    return _outage(ctx, result, embedded.redis_stop, embedded.redis_url, ctx.options.redis_down_s)


def postgres_restart(ctx: Context) -> DrillResult:
    """Stop the embedded PostgreSQL (fast shutdown: connections are cut) for ``postgres_down_s``, start it
    again."""
    result = DrillResult("postgres restart", f"PostgreSQL stopped for {ctx.options.postgres_down_s:.0f} s, restarted")
    if not _embedded("postgres"):
        result.skipped = "PostgreSQL is not the embedded one (DATABASE_URL is set): it cannot be restarted from here"
        return result
    return _outage(ctx, result, embedded.postgres_stop, embedded.postgres_url, ctx.options.postgres_down_s)


def _outage(
    ctx: Context,
    result: DrillResult,
    stop: Callable[[Path], object],
    start_again: Callable[[Path], object],
    seconds: float,
) -> DrillResult:
    """An embedded server (``stop``/``start_again`` of ``config.embedded``) down for ``seconds`` under traffic;
    recovery timed from its start."""
    traffic, started = start(ctx, result.name)
    stop(settings.DATA_DIR)
    ctx.say(f"{result.name}: {result.fault}")
    time.sleep(seconds)  # the fault's duration, not a synchronisation
    start_again(settings.DATA_DIR)
    result.recovery_s = recovery(ctx, time.monotonic())
    return finish(ctx, result, traffic, started)
