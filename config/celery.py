"""The Celery application, configured from Django settings (``CELERY_*``), tasks autodiscovered per app.

The worker's process set-up is connected here, with the application, not as a side effect of importing a
tasks module: the main process records the pool size before the pool forks, and each pool process then sets
itself up (``config.bootstrap.process_setup``), loading the embedding model unless
``EMBEDDING_PRELOAD_IN_WORKER`` is off (only its tokenizer when ``EMBEDDING_BASE_URL`` embeds), and starts its
memory watchdog (``config.memory``), which watches every task between ``task_prerun`` and ``task_postrun``. Once
the worker is ready, its main process serves its metrics when ``WORKER_METRICS_PORT`` is set
(``config.worker_metrics``).
"""

from __future__ import annotations

import logging
import os

import structlog
from celery import Celery
from celery.signals import (
    celeryd_after_setup,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)
from django_structlog.celery.steps import DjangoStructLogInitStep

from config.bootstrap import process_setup, process_state
from config.memory import memory_task_ended, memory_task_started, memory_watchdog_start
from config.metrics_files import multiproc_dir_prune, process_exited

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
logger = logging.getLogger(__name__)

app = Celery("groundwork")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["worker"].add(DjangoStructLogInitStep)


@setup_logging.connect
def _configure_logging(**kwargs: object) -> None:
    """Workers log through the same ``LOGGING`` as the web process."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@celeryd_after_setup.connect
def _worker_main_process_setup(sender: object, instance: object, **kwargs: object) -> None:
    """The worker's main process, before the pool forks: its pool processes inherit the share of the cores
    (with ``--pool=solo`` this process runs the tasks itself, and the model loads in the first one). The metric
    files of processes that no longer run are tidied first (``config.metrics_files``). A remote embedding
    service that fails its check, or OCR required (``OCR_ENABLED=true``) and not available, stops the worker here
    (Celery logs and swallows a receiver's ``Exception``, not ``SystemExit``); whether OCR is on is logged."""
    from django.core.exceptions import ImproperlyConfigured

    from documents.services.ocr import ocr_startup_check

    multiproc_dir_prune()
    try:
        process_setup(role="worker", processes=int(getattr(instance, "concurrency", 1) or 1))
        ocr_startup_check()  # logs whether OCR is on, and why not
    except ImproperlyConfigured as exc:
        logger.critical("refusing to start: %s", exc)
        raise SystemExit(f"refusing to start: {exc}") from exc


@worker_ready.connect
def _worker_metrics_start(**kwargs: object) -> None:
    """The worker's main process, its pool started: serve the worker's metrics if ``WORKER_METRICS_PORT`` is set.
    A port that cannot be bound is logged, and the worker runs on without it."""
    from django.conf import settings

    if not settings.WORKER_METRICS_PORT:
        return
    from config.worker_metrics import worker_metrics_serve

    try:
        worker_metrics_serve(
            host=settings.WORKER_METRICS_HOST,
            port=settings.WORKER_METRICS_PORT,
            folder=settings.PROMETHEUS_MULTIPROC_DIR,
        )
    except OSError as exc:
        logger.error("worker metrics not served on port %d: %s", settings.WORKER_METRICS_PORT, exc)


@worker_process_init.connect
def _pool_process_setup(**kwargs: object) -> None:
    """Each pool process as it starts: the inherited share, and the model loaded now, not in the first task
    (only the tokenizer with a remote embedding service); then the memory ceiling per task, measured against
    the process as loaded."""
    from django.conf import settings

    from documents.memory import document_memory_hard_stop

    process_setup(role="worker", processes=process_state().processes, warm=bool(settings.EMBEDDING_PRELOAD_IN_WORKER))
    memory_watchdog_start(
        limit_mb=settings.INGEST_TASK_MAX_MEMORY_MB,
        hard_stop_hooks={"documents.tasks.document_ingest_task": document_memory_hard_stop},
    )


@worker_process_shutdown.connect
def _pool_process_exit(pid: int | None = None, **kwargs: object) -> None:
    """A pool process ends: its live gauges leave ``/metrics`` (its counters stay counted)."""
    process_exited(pid or os.getpid())


@task_prerun.connect
def _task_started(sender: object = None, task_id: str = "", **kwargs: object) -> None:
    """A task starts in this process: watch its memory (``config.memory``)."""
    memory_task_started(task_name=str(getattr(sender, "name", sender)), task_id=task_id)


@task_postrun.connect
def _task_ended(**kwargs: object) -> None:
    """A task ended: stop watching it, and drop its log context (the next lines are the process's own)."""
    memory_task_ended()
    structlog.contextvars.clear_contextvars()
