"""A hard memory ceiling per task in each Celery pool process: ``INGEST_TASK_MAX_MEMORY_MB`` (0 = off).

``CELERY_WORKER_MAX_MEMORY_PER_CHILD`` only replaces a pool process *after* a task that made it grow; nothing
stopped one hostile document from growing its process until the machine swaps or the kernel's OOM killer takes
some other process. Here a watchdog thread in each pool process samples the process's resident memory (RSS)
every ``SAMPLE_SECONDS`` while a task runs, and when it passes the ceiling:

1. **Soft stop.** It raises ``MemoryCeilingExceeded`` in the task, the way billiard's soft time limit raises
   ``SoftTimeLimitExceeded`` (a signal to the main thread whose handler raises; here ``SIGUSR2``, so a memory
   stop is never mistaken for a time limit). The task catches it and fails its work with a reason
   (``documents.tasks``; the document ends ``failed``: ``documents.memory``). A process that went over is not
   reused with its bloated heap: after the task, billiard's own check (``max_memory_per_child``, run once the
   task's result is delivered) is made to see it over its limit, so billiard replaces it the usual way. That
   check must be on: the settings refuse ``INGEST_TASK_MAX_MEMORY_MB`` without
   ``CELERY_WORKER_MAX_MEMORY_PER_CHILD``.
2. **Hard stop.** A signal's handler runs only between bytecodes of the main thread, and in ingestion the
   memory mostly grows inside one long C call that releases the GIL: the tokenizer's batch over every chunk
   (12 MB of prose), pdfium inflating a page's content stream (a 1 MB PDF inflates to 2 GB resident), torch.
   So if the task is still running ``HARD_STOP_GRACE_SECONDS`` after the soft stop, or its RSS reaches
   ``HARD_STOP_RATIO`` x the ceiling, the watchdog calls the task's hard-stop hook (the document is failed,
   from another thread, waited for at most ``HARD_STOP_HOOK_SECONDS``) and SIGKILLs its own process:
   billiard starts a new one (which needs ``CELERY_WORKER_PROC_ALIVE_TIMEOUT`` above the time a pool process
   takes to load the model), Celery requeues the message (``acks_late``, ``reject_on_worker_lost``; logged as
   ``WorkerLostError``), and its next claim finds nothing to do.

Measured (AMD EPYC, 2 cores): a pool process with the model loaded holds 550-620 MB resident; a Python loop
allocating at ~1 GB/s is stopped 0-30 ms after crossing, 5-35 MB past the ceiling; a 2.5 GB torch allocation
(one C call) is killed 120 ms after the soft stop, at 1.27x the ceiling.

Why RSS and not ``resource.setrlimit``: ``RLIMIT_AS``/``RLIMIT_DATA`` count address space, not memory. The
same pool process measured 1,321 MB of virtual size (VmData 667 MB) for 622 MB resident; torch/OpenMP threads
and glibc's per-thread arenas reserve 64 MB+ of address space each, so the gap grows with the core count and
the thread settings, and a limit low enough to matter fails allocations in whichever library reserves next
(libraries that abort on a failed ``malloc`` take the process down without a reason for the document, and
Celery re-raises a task's ``MemoryError`` in the worker's main process). RSS is what the machine runs out
of, and reading it (``/proc/self/statm`` through psutil) costs microseconds.

Limits: a C call that allocates while *holding* the GIL (``bytes * n``, one huge ``str.join``) keeps the
watchdog from running until it returns; the parsers bound such inputs (``DOCUMENT_MAX_CHARS``,
``EXTRACT_MAX_LINE_CHARS``), and ``CELERY_WORKER_MAX_MEMORY_PER_CHILD`` and the kernel remain the last line.
The watchdog runs in prefork pool processes only (``worker_process_init``), not under ``--pool=solo``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

SAMPLE_SECONDS = 0.025  # at 2 GB/s of growth, 50 MB past the ceiling before the stop is sent
HARD_STOP_GRACE_SECONDS = 1.0  # the soft stop acts within milliseconds, and a task's failure handling is one UPDATE
HARD_STOP_RATIO = 1.25
HARD_STOP_HOOK_SECONDS = 2.0  # the hook's database write takes ~50 ms; the kill never waits longer than this
STOP_SIGNAL = signal.SIGUSR2  # billiard's soft time limit is SIGUSR1
MIB = 1024 * 1024

HardStopHook = Callable[[FrameType | None, int], None]
"""Called from the watchdog thread before the process is killed: (the main thread's current frame, ceiling MB)."""


class MemoryCeilingExceeded(Exception):
    """Raised inside a running task whose process went over ``INGEST_TASK_MAX_MEMORY_MB``.

    ``limit_mb``: the ceiling; ``used_mb``: the resident memory the watchdog saw. The process is replaced once
    the task returns, so a task should fail its work with a reason and return, not retry in this process."""

    def __init__(self, limit_mb: int, used_mb: int) -> None:
        super().__init__(f"used {used_mb} MB, more than the limit of {limit_mb} MB per task")
        self.limit_mb = limit_mb
        self.used_mb = used_mb


def resident_bytes() -> int:
    """This process's resident memory (RSS) in bytes, now."""
    import psutil

    return int(psutil.Process().memory_info().rss)


@dataclass
class _Run:
    task_name: str
    task_id: str
    hook: HardStopHook | None
    started: float
    peak: int = 0
    stopped_at: float | None = None  # when the soft stop was sent
    raised: bool = False


class MemoryWatchdog:
    """The ceiling of one process: ``arm`` when a task starts (on the main thread), ``disarm`` when it ends.

    ``rss`` and ``kill`` are the measurement and the hard stop (defaults: psutil, SIGKILL of this process);
    ``retire`` turns true once a task went over the ceiling and stays true."""

    def __init__(
        self,
        *,
        limit_mb: int,
        sample_seconds: float = SAMPLE_SECONDS,
        grace_seconds: float = HARD_STOP_GRACE_SECONDS,
        hard_ratio: float = HARD_STOP_RATIO,
        hook_seconds: float = HARD_STOP_HOOK_SECONDS,
        rss: Callable[[], int] = resident_bytes,
        kill: Callable[[], None] | None = None,
    ) -> None:
        self.limit_mb = limit_mb
        self.limit = limit_mb * MIB
        self.sample_seconds = sample_seconds
        self.grace_seconds = grace_seconds
        self.hard_limit = int(self.limit * hard_ratio)
        self.hook_seconds = hook_seconds
        self.rss = rss
        self.kill = kill or (lambda: os.kill(os.getpid(), signal.SIGKILL))
        self.retire = False
        self._run: _Run | None = None
        self._lock = threading.Lock()
        self._armed = threading.Event()
        self._main = threading.main_thread()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the sampling thread (a daemon, idle while no task runs)."""
        self._thread = threading.Thread(target=self._loop, name="memory-watchdog", daemon=True)
        self._thread.start()

    def arm(self, *, task_name: str, task_id: str, hook: HardStopHook | None = None) -> bool:
        """Watch the task starting now; False (not watched) off the main thread, where no signal can reach it.

        Installs the stop signal's handler each time: billiard resets signal handlers after the process
        initializer, and a handler can only be installed from the main thread."""
        if threading.current_thread() is not self._main:
            return False
        signal.signal(STOP_SIGNAL, self._on_stop_signal)
        with self._lock:
            self._run = _Run(task_name=task_name, task_id=task_id, hook=hook, started=time.monotonic())
        self._armed.set()
        return True

    def disarm(self) -> _Run | None:
        """The task ended: stop watching; returns what was watched (None if nothing was)."""
        with self._lock:
            run, self._run = self._run, None
        self._armed.clear()
        return run

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        with self._lock:
            run = self._run
            if run is None or run.stopped_at is None or run.raised:
                return  # the task ended before the signal arrived
            run.raised = True
        raise MemoryCeilingExceeded(self.limit_mb, run.peak // MIB)

    def _loop(self) -> None:
        while True:
            self._armed.wait()
            with self._lock:
                run = self._run
            if run is not None:
                self.check(run)
            time.sleep(self.sample_seconds)

    def check(self, run: _Run) -> None:
        """One sample: the soft stop past the ceiling, the hard stop past the grace or the hard limit."""
        used = self.rss()
        run.peak = max(run.peak, used)
        if used <= self.limit and run.stopped_at is None:
            return
        now = time.monotonic()
        if run.stopped_at is None:
            run.stopped_at = now
            self.retire = True
            logger.warning(
                "task %s[%s] went over the memory ceiling in pool process %d: %d MB > %d MB "
                "(INGEST_TASK_MAX_MEMORY_MB) after %.1f s; stopping it",
                run.task_name,
                run.task_id,
                os.getpid(),
                used // MIB,
                self.limit_mb,
                now - run.started,
            )
            signal.pthread_kill(self._main.ident or 0, STOP_SIGNAL)
        elif now - run.stopped_at > self.grace_seconds or used > self.hard_limit:
            self._hard_stop(run, used)

    def _hard_stop(self, run: _Run, used: int) -> None:
        logger.error(
            "task %s[%s] did not stop %.1f s after going over the memory ceiling (%d MB now, limit %d MB): "
            "killing pool process %d",
            run.task_name,
            run.task_id,
            time.monotonic() - (run.stopped_at or run.started),
            used // MIB,
            self.limit_mb,
            os.getpid(),
        )
        if run.hook is not None:  # in a thread of its own: a hung database must not delay the kill
            frame = sys._current_frames().get(self._main.ident or 0)
            hook = threading.Thread(target=self._call_hook, args=(run, frame), name="memory-hard-stop", daemon=True)
            hook.start()
            hook.join(self.hook_seconds)
            if hook.is_alive():
                logger.error("the hard-stop hook of %s did not finish in %.1f s", run.task_name, self.hook_seconds)
        self.disarm()
        self.kill()

    def _call_hook(self, run: _Run, frame: FrameType | None) -> None:
        assert run.hook is not None
        try:
            run.hook(frame, self.limit_mb)
        except Exception:
            logger.exception("the hard-stop hook of %s failed", run.task_name)


_watchdog: MemoryWatchdog | None = None
_watchdog_pid = 0  # the process that started it (a forked child inherits the object, not its thread)
_hooks: dict[str, HardStopHook] = {}


def memory_watchdog_start(*, limit_mb: int, hard_stop_hooks: dict[str, HardStopHook] | None = None) -> None:
    """In a pool process as it starts: enforce ``limit_mb`` (0: off) on every task it runs from now on.

    ``hard_stop_hooks``: task name → what to do (from the watchdog thread) before the process is killed
    because that task did not stop. Connect ``memory_task_started``/``memory_task_ended`` to Celery's
    ``task_prerun``/``task_postrun``."""
    global _watchdog, _watchdog_pid
    if (_watchdog is not None and _watchdog_pid == os.getpid()) or limit_mb <= 0:
        return
    _hooks.update(hard_stop_hooks or {})
    _watchdog, _watchdog_pid = MemoryWatchdog(limit_mb=limit_mb), os.getpid()
    _watchdog.start()
    _retire_through_billiard()
    used = resident_bytes()
    log = logger.error if used > _watchdog.limit * 0.9 else logger.info
    log("pool process %d: memory ceiling %d MB per task, %d MB resident at rest", os.getpid(), limit_mb, used // MIB)


def _current() -> MemoryWatchdog | None:
    return _watchdog if _watchdog_pid == os.getpid() else None


def memory_task_started(*, task_name: str, task_id: str) -> None:
    """Celery ``task_prerun``: watch the task (nothing when the ceiling is off)."""
    watchdog = _current()
    if watchdog is not None:
        watchdog.arm(task_name=task_name, task_id=task_id, hook=_hooks.get(task_name))


def memory_task_ended() -> None:
    """Celery ``task_postrun``: stop watching; a process that went over the ceiling is to be replaced."""
    watchdog = _current()
    if watchdog is not None and watchdog.disarm() is not None and watchdog.retire:
        logger.warning("pool process %d went over the memory ceiling: it is replaced after this task", os.getpid())


def _retire_through_billiard() -> None:
    """Make billiard's per-child memory check, run after each task once its result is delivered, report a
    retiring process as over ``CELERY_WORKER_MAX_MEMORY_PER_CHILD``: billiard then exits it (``EX_RECYCLE``)
    and starts a fresh one. (billiard's ``Worker.workloop`` reads the module global ``mem_rss`` after each task;
    on Linux it is the peak RSS, so a ceiling above that limit retires the process without this.)"""
    from billiard import pool
    from django.conf import settings

    measure: Callable[[], Any] = pool.mem_rss

    def mem_rss() -> Any:
        used = measure()
        watchdog = _current()
        if watchdog is not None and watchdog.retire:
            return max(used, settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD + 1)
        return used

    pool.mem_rss = mem_rss
