"""A Celery worker in a child process: what the benchmark commands and the test suite start.

One launcher for both, so the worker they measure or test is started the way ``Procfile`` starts it (prefork
pool, no mingle/gossip), in its own process group (stopped or killed as a whole, as a crash would).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import psutil
from django.conf import settings


class WorkerStartError(RuntimeError):
    """The worker exited while starting, or did not answer a ping in time (the message has its log tail)."""


class CeleryWorkerProcess:
    """``celery -A config worker --pool=prefork -Q <queues>`` with ``concurrency`` processes and ``env`` added to
    this process's environment, logging to ``log`` (a file path) or to this process's stderr. ``queues``: None
    (default) for ``CELERY_WORKER_QUEUES``; empty for no ``-Q`` at all (a plain ``celery worker``: it consumes
    every queue of ``CELERY_TASK_QUEUES``).

    ``start()`` returns once the worker answers a Celery ping, so it consumes tasks from then on.
    """

    def __init__(
        self,
        *,
        concurrency: int = 1,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        loglevel: str = "WARNING",
        prefix: str = "worker",
        queues: Sequence[str] | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.queues = queues
        self.env = env or {}
        self.log = log
        self.loglevel = loglevel
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0  # bytes, over the process tree, as seen by ``sample()``

    def start(self, timeout: float = 120) -> None:
        """Start the worker and wait until it answers a ping. Raises ``WorkerStartError``."""
        output: IO[bytes] | None = self.log.open("wb") if self.log else None
        queues = settings.CELERY_WORKER_QUEUES if self.queues is None else self.queues
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                f"--concurrency={self.concurrency}",
                f"--loglevel={self.loglevel}",
                "--without-mingle",
                "--without-gossip",
                *(["-Q", ",".join(queues)] if queues else []),
                "-n",
                self.name,
            ],
            cwd=settings.BASE_DIR,
            env={**os.environ, **self.env},
            stdout=output or 2,  # else fd 2, never stdout: commands print their results (--json) there
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if output:
            output.close()  # the child has its own descriptor
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        from config.celery import app

        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise WorkerStartError(f"the Celery worker exited while starting (code {self.proc.returncode}){self}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise WorkerStartError(f"the Celery worker did not answer a ping within {timeout:.0f} s{self}")

    def __str__(self) -> str:
        tail = self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""
        return f":\n{tail}" if tail else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def sample(self) -> int:
        """The resident memory of the worker's process tree now (bytes); also raises ``peak_rss``."""
        if not self.alive():
            return 0
        assert self.proc is not None
        try:
            root = psutil.Process(self.proc.pid)
            rss = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            return 0
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the main process (a warm shutdown: running tasks finish, the pool processes exit after them)
        and wait; SIGKILL the process group after ``timeout`` seconds."""
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
