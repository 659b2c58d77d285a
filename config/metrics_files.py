"""The multiprocess metric files' housekeeping, without importing prometheus_client.

gunicorn's arbiter calls these before any Django settings are loaded; importing prometheus_client there would
fix its value class before ``PROMETHEUS_MULTIPROC_DIR`` is set, and every web process forked later would inherit
a single-process client. So the files are handled here by name (prometheus_client's multiprocess layout:
``<type>[_<mode>]_<pid>.db``).
"""

from __future__ import annotations

from pathlib import Path

from config.settings.paths import metrics_dir


def _writer_pid(path: Path) -> int | None:
    pid = path.stem.rsplit("_", 1)[-1]
    return int(pid) if pid.isdigit() else None


def multiproc_dir_prune(folder: Path | None = None) -> int:
    """A web or worker process set starts: tidy ``folder`` (default ``PROMETHEUS_MULTIPROC_DIR``). Returns the
    files removed.

    The live gauges of processes no longer running are always removed, as ``process_exited`` would have. Their
    counters and histograms are removed only when no process that wrote to the folder still runs (a restart of
    everything starts clean): while a sibling web or worker serves on, ``/metrics`` adds the dead processes'
    counts to the living ones', and removing them would make every summed counter drop, which Prometheus reads
    as a reset (``rate()``/``increase()`` jump)."""
    import psutil

    files = [(path, _writer_pid(path)) for path in (folder or metrics_dir()).glob("*.db")]
    running = {pid for _, pid in files if pid is not None and psutil.pid_exists(pid)}
    removed = 0
    for path, pid in files:
        if pid is not None and pid not in running and (not running or path.name.startswith("gauge_live")):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def process_exited(pid: int) -> None:
    """A web or pool process ended: drop its live gauges, as ``prometheus_client.multiprocess.mark_process_dead``
    does (its counters and histograms stay counted)."""
    for path in metrics_dir().glob(f"gauge_live*_{pid}.db"):
        path.unlink(missing_ok=True)
