"""Process set-up: the one place that decides how a web or worker process uses the machine.

Every long-running process calls ``process_setup`` once, in the process itself (after any fork):

- the web (``config/gunicorn.py``): ``role="web"``, ``processes`` = gunicorn's workers, in the arbiter before it
  forks (``on_starting``) and again in each worker (``post_fork``);
- Celery (``config/celery.py``'s signal handlers): ``role="worker"``, ``processes`` = the pool size, in the
  worker's main process before the pool forks and again in each pool process, which warms the model;
- commands that measure what a web process does (``bench_search``) call it as the web does.

What it sets, and what follows from it when the embedding model loads (``documents.embeddings.get_encoder``,
on first use, or now when ``warm``):

- the share of the cores: torch gets ``cores // processes`` threads (``EMBEDDING_THREADS`` overrides it), since
  processes embedding at once on the same cores only contend (2 pool processes × 2 threads on 2 cores made
  ingestion 5x slower than 1 thread each);
- the garbage collector: once the model is loaded, the process's long-lived objects (~500,000: Django, torch,
  the model) are frozen (``gc.freeze``), so a full collection stops walking them (320 ms) mid-request.

A pool process then also starts its memory watchdog (``config.memory``, connected in ``config.celery``): the
ceiling per task, ``INGEST_TASK_MAX_MEMORY_MB``, counts the process's whole resident memory, model included.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

Role = Literal["web", "worker", "command"]


@dataclass(frozen=True)
class ProcessState:
    """How this process was set up: its role and the processes of that role sharing the machine's cores."""

    role: Role
    processes: int
    warm: bool


_state = ProcessState(role="command", processes=1, warm=False)


def process_setup(*, role: Role, processes: int = 1, warm: bool = False) -> ProcessState:
    """Set up this process for ``role``; returns the state it recorded.

    Args:
        role: ``"web"`` (gunicorn), ``"worker"`` (Celery) or ``"command"`` (a one-off process, the default state).
        processes: processes of this kind embedding at once on this machine (gunicorn workers, Celery pool
            size); each gets ``cores // processes`` torch threads. Values below 1 count as 1. Takes effect when
            the model loads: call before (a forked child inherits the share, and the model, of its parent).
        warm: load the tokenizer and the embedding model now rather than in the first request or task; with
            ``EMBEDDING_BASE_URL`` only the tokenizer (chunking sizes chunks with it; the service embeds, and
            the local model, ~550 MB, loads only if a query falls back to it).

    Raises:
        ImproperlyConfigured: ``EMBEDDING_BASE_URL`` is set and the service fails its start-up check
            (``documents.embedding_service.embedding_service_check``: dimension and probe vector). The check runs
            once per process tree, in the first set-up of a web or worker role: gunicorn's arbiter and Celery's
            main process, which turn it into an exit before they fork, so no process starts embedding
            incomparable vectors; their children inherit the state and are not checked again.
    """
    global _state
    from django.conf import settings

    from documents import embeddings
    from documents.embedding_service import embedding_service_check

    embeddings.share_cores_with(processes)
    if role != "command" and _state.role == "command":  # once per process tree: a pool process inherits it
        embedding_service_check()
    _state = ProcessState(role=role, processes=max(1, processes), warm=warm)
    loaded = ""
    if warm:
        embeddings.get_tokenizer()
        loaded = ", tokenizer loaded (the embedding service embeds)"
        if not settings.EMBEDDING_BASE_URL:
            embeddings.get_encoder()
            loaded = ", model loaded"
    logger.info(
        "%s process %d set up: %d process(es) share %d core(s), %d embedding thread(s) each%s",
        role,
        os.getpid(),
        _state.processes,
        len(os.sched_getaffinity(0)),
        embeddings.embedding_threads(),
        loaded,
    )
    return _state


def warm() -> bool:
    """Load the tokenizer and (without ``EMBEDDING_BASE_URL``) the embedding model now, in a process already set
    up (``process_setup``), and record it; True when loaded. Any error is logged and swallowed (False): the
    model then loads on first use, as it would have (a web process must not die in its start-up for this)."""
    global _state
    from django.conf import settings

    from documents import embeddings

    try:
        embeddings.get_tokenizer()
        if not settings.EMBEDDING_BASE_URL:
            embeddings.get_encoder()
    except Exception:
        logger.exception("process %d: the embedding model did not load ahead; it will on first use", os.getpid())
        return False
    _state = ProcessState(role=_state.role, processes=_state.processes, warm=True)
    logger.info("process %d: embedding model loaded ahead of its first request", os.getpid())
    return True


def process_state() -> ProcessState:
    """The state the last ``process_setup`` of this process (or its parent, before a fork) recorded."""
    return _state
