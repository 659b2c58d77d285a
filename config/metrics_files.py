"""The multiprocess metric files' housekeeping, without importing prometheus_client.

gunicorn's arbiter calls these before any Django settings are loaded; importing prometheus_client there would
fix its value class before ``PROMETHEUS_MULTIPROC_DIR`` is set, and every web process forked later would inherit
a single-process client. So the files are handled here by name (prometheus_client's multiprocess layout:
``<type>[_<mode>]_<pid>.db``).
"""

from __future__ import annotations

from config.settings.paths import metrics_dir


def multiproc_dir_prune() -> int:
    """Remove the metric files of processes no longer running, so a restart starts clean while processes that
    still run (a sibling web or worker started at the same time) keep theirs. Returns the files removed."""
    import psutil

    removed = 0
    for path in metrics_dir().glob("*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def process_exited(pid: int) -> None:
    """A web or pool process ended: drop its live gauges, as ``prometheus_client.multiprocess.mark_process_dead``
    does (its counters and histograms stay counted)."""
    for path in metrics_dir().glob(f"gauge_live*_{pid}.db"):
        path.unlink(missing_ok=True)
