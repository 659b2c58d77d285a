"""gunicorn settings for the web process (``gunicorn -c config/gunicorn.py config.wsgi``).

Streamed answers (server-sent events) hold their request open for as long as the model writes, seconds to a
minute. gunicorn's default sync worker serves one request at a time, so two streams would block every other
page. Groundwork uses the threaded worker (``gthread``): each of ``WEB_CONCURRENCY`` processes serves up to
``WEB_THREADS`` requests at once, so the default 2 × 32 = 64 requests can be in flight, e.g. 50 streams and
the pages and API calls around them. Threads suit this load: a stream waits on the network (the LLM) or
on PostgreSQL, both of which release the GIL, and the processes share nothing but the database and Redis.
Each busy thread may hold one PostgreSQL connection (``CONN_MAX_AGE``): keep
``WEB_CONCURRENCY × WEB_THREADS`` (plus Celery's) under the server's ``max_connections``, or put PgBouncer
in front for many processes. See gunicorn's docs, "Design → Choosing a worker type" and "Settings".
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker


def _env(name: str, default: str) -> str:
    """A process variable; empty counts as unset, as in the settings (``config.settings.environment``)."""
    return os.environ.get(name) or default


def _logging_config() -> dict[str, object]:
    """The application's ``LOGGING`` (``config.settings.logs``), read before Django is set up."""
    from config.settings.logs import LOGGING

    return LOGGING


bind = f"{_env('BIND_HOST', '127.0.0.1')}:{_env('PORT', '8000')}"
workers = int(_env("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(_env("WEB_THREADS", "32"))
# A worker that stops answering its arbiter for this long is restarted; open streams do not count (the
# gthread worker's main loop keeps notifying while threads stream).
timeout = int(_env("WEB_TIMEOUT", "60"))
graceful_timeout = 10
# gunicorn's own lines (start-up, worker restarts) go through the application's structured ``LOGGING``, which
# leaves its access lines out: each request's ``request_finished`` line (config.request_log) says it, with the
# request id, the user and the status, without the query string.
accesslog = None
logconfig_dict = _logging_config()


def on_starting(server: Arbiter) -> None:
    """In the arbiter, before it binds its port and starts the workers: tidy the metric files of processes that
    no longer run (``config.metrics_files``), then set the web tier up once (``config.bootstrap``), which checks
    the remote embedding service (``EMBEDDING_BASE_URL``); the workers inherit the set-up, the check's outcome
    included. A service that fails its check stops gunicorn here, with exit status 3.

    The check runs here and never in a worker: gunicorn halts the whole arbiter when a worker exits with its
    boot-error status (3), so a check failing in a respawned worker (after a timeout or a crash) during a short
    outage of the service would stop the whole web tier."""
    from django.core.exceptions import ImproperlyConfigured

    from config.bootstrap import process_setup
    from config.metrics_files import multiproc_dir_prune

    multiproc_dir_prune()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")  # as config/wsgi.py, loaded later
    try:
        process_setup(role="web", processes=server.cfg.workers)
    except ImproperlyConfigured as exc:  # the remote embedding service failed its check
        server.log.critical("refusing to start: %s", exc)
        server.halt(reason="the embedding service failed its start-up check", exit_status=3)


def child_exit(server: Arbiter, worker: Worker) -> None:
    """A web process ended: its live gauges leave ``/metrics`` (prometheus_client's multiprocess mode)."""
    from config.metrics_files import process_exited

    process_exited(worker.pid)


def post_fork(server: Arbiter, worker: Worker) -> None:
    """Set up each web process as it starts (``config.bootstrap``): it shares the cores with its sibling
    workers for embedding (queries, answer sentences), as Celery's pool processes do. It inherits the arbiter's
    set-up (``on_starting``), so the embedding service is not checked again and a respawn never fails on a
    service outage (queries then fall back to the local model). The model loads in ``post_worker_init``."""
    from config.bootstrap import process_setup

    process_setup(role="web", processes=server.cfg.workers)


def post_worker_init(worker: Worker) -> None:
    """Load the model in each web process once the application is loaded, before its first request: loading it
    in the first searches made them wait ~3 s, and every search queued behind them (``manage.py bench_load``).
    A failure is logged and the model loads on first use as before: an exception here would exit the worker
    before it booted, which gunicorn's arbiter answers by halting the whole web tier (``config.bootstrap.warm``)."""
    from config.bootstrap import warm

    warm()
