"""Liveness and readiness probes (JSON, no authentication, no tenant data)."""

from __future__ import annotations

import logging
import time

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.monitoring import queue_check, worker_check

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests. Touches nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> dict[str, object]:
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return {"ok": not pending, "pending_migrations": len(pending)}


def _check_redis() -> dict[str, object]:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers with every migration applied, Redis answers, and a Celery worker
    answered a ping within ``READYZ_WORKER_MAX_AGE_SECONDS`` (``worker.age_s``); ``queue.depth`` reports the
    messages waiting in each broker queue (``{queue: count}``, informative only).

    Returns 200 ``{"status": "ok", "checks": {...}}`` or 503 ``{"status": "unavailable", ...}``; each check
    reports ``ok`` and its latency in ms. Error details are logged, not returned.
    """
    checks: dict[str, dict[str, object]] = {}
    for name, check in (
        ("database", _check_database),
        ("redis", _check_redis),
        ("worker", worker_check),
        ("queue", queue_check),
    ):
        started = time.perf_counter()
        try:
            result = check()
        except Exception as exc:  # any failure means not ready; the reason goes to the log only
            logger.warning("readiness check %s failed: %s", name, exc)
            result = {"ok": False, "error": type(exc).__name__}
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        checks[name] = result
    ready = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
