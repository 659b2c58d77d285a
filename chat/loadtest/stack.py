"""The production-like stack of ``Procfile`` as child processes: gunicorn (``config/gunicorn.py``), a Celery
worker and beat, on the configured PostgreSQL and Redis; plus what they use, sampled for CPU and memory.

The load benchmark and the fault drills start it with production settings (``PRODUCTION_ENV``: DEBUG off, plain
HTTP on loopback), so what they measure is what an operator runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from django.conf import settings
from django.db import connection

from config.worker_process import CeleryWorkerProcess

# Production settings on plain HTTP over loopback (no TLS here, so no HTTPS redirect and no Secure cookies).
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LLM_BASE_URL": "",  # the offline extractive answerer unless the caller names a provider
    "LLM_PROVIDERS": "",
}


class StackError(RuntimeError):
    """A process of the stack exited while starting, or the web tier never answered ``/readyz`` in time."""


def _start_web(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=settings.BASE_DIR,
            env={**os.environ, **env, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _start_beat(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO", "-s", str(log.with_suffix(""))],
            cwd=settings.BASE_DIR,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def port_taken(port: int) -> bool:
    """Something listens on the loopback ``port`` already (an earlier stack would answer in this one's place)."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A loopback TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


@dataclass
class Usage:
    """CPU (% of one core, summed over a kind's processes) and memory (MB, proportional set size: shared pages
    split between the processes sharing them, so PostgreSQL's shared buffers count once) of each kind."""

    cpu: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)


class Stack:
    """Start with ``start()``, stop with ``stop()``; ``web``/``worker``/``beat`` are the running children.

    ``env``: variables added to this process's environment for every child (after ``PRODUCTION_ENV``).
    """

    def __init__(self, *, port: int, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.log_dir = log_dir
        self.env = {**PRODUCTION_ENV, **(env or {})}
        self.web: subprocess.Popen[bytes] | None = None
        self.beat: subprocess.Popen[bytes] | None = None
        self.worker = CeleryWorkerProcess(
            concurrency=settings.CELERY_CONCURRENCY, env=self.env, log=log_dir / "worker.log", loglevel="INFO"
        )
        self._processes: dict[int, psutil.Process] = {}  # cached, so cpu_percent measures since the last sample

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> None:
        """Start web, worker and beat; return once ``/readyz`` answers 200 and the worker a ping. Raises
        StackError (or WorkerStartError) with the log to read."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.worker.start(timeout)
        self.web = _start_web(self.port, self.env, self.log_dir / "web.log")
        self.beat = _start_beat(self.env, self.log_dir / "beat.log")
        self.wait_ready(timeout)

    def start_web(self) -> None:
        """Start gunicorn again (after a drill killed it)."""
        self.web = _start_web(self.port, self.env, self.log_dir / "web.log")

    def web_workers(self) -> list[psutil.Process]:
        """gunicorn's live worker processes now (the arbiter's children; it respawns one that dies)."""
        alive = []
        for child in _tree(self.web.pid)[1:] if self.web is not None else []:
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    alive.append(child)
            except psutil.Error:
                continue
        return alive

    def ready(self) -> bool:
        """``/readyz`` answers 200 now (database, Redis and the broker reachable)."""
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_ready(self, timeout: float) -> float:
        """Seconds until ``/readyz`` answered 200. Raises StackError after ``timeout`` or when gunicorn exited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.web is not None and self.web.poll() is not None:
                raise StackError(f"gunicorn exited (code {self.web.returncode}); see {self.log_dir / 'web.log'}")
            if self.ready():
                return time.monotonic() - started
            time.sleep(0.5)  # a polling interval: each turn asks /readyz again
        raise StackError(f"/readyz did not answer 200 within {timeout:.0f} s; see {self.log_dir}")

    def _kinds(self, extra: dict[str, int]) -> dict[str, list[psutil.Process]]:
        kinds: dict[str, list[psutil.Process]] = {"postgres": [], "redis": []}
        for process in psutil.process_iter(["name", "cmdline"]):
            name = process.info["name"] or ""
            if name.startswith(("postgres", "postmaster")):
                kinds["postgres"].append(process)
            elif name.startswith("redis-server"):
                kinds["redis"].append(process)
        children = {"web": self.web, "beat": self.beat, "worker": self.worker.proc}
        for kind, child in children.items():
            kinds[kind] = _tree(child.pid) if child is not None else []
        for kind, pid in extra.items():
            kinds[kind] = _tree(pid)
        return kinds

    def usage(self, extra: dict[str, int] | None = None) -> Usage:
        """CPU since the previous call and memory now, per kind: web, worker, beat, postgres, redis and any
        ``extra`` ``{kind: pid}`` (e.g. the load generator)."""
        usage = Usage()
        for kind, processes in self._kinds(extra or {}).items():
            cpu = rss = 0.0
            for process in processes:
                cached = self._processes.setdefault(process.pid, process)
                try:
                    cpu += cached.cpu_percent(interval=None)
                    rss += cached.memory_full_info().pss
                except psutil.Error:
                    continue
            usage.cpu[kind], usage.rss_mb[kind] = cpu, rss / 1e6
        return usage

    def stop(self) -> None:
        """SIGTERM every child and wait (SIGKILL after 20 s)."""
        for child in (self.web, self.beat):
            if child is not None and child.poll() is None:
                child.terminate()
                try:
                    child.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, 9)
                    child.wait(10)
        self.worker.stop(timeout=20)


def postgres_connections() -> dict[str, int]:
    """Connections to the database now, by state (``pg_stat_activity``: active, idle, idle in transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(state, 'other'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() GROUP BY 1"
        )
        return dict(cursor.fetchall())
