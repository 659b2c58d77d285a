"""The memory watchdog (config.memory) on real allocations in this process: the soft stop raised in the
running code, the hard stop when the code does not stop, nothing below the ceiling. The watchdog's kill is
replaced by a recorder here (it would kill pytest); documents/tests/test_memory_ceiling.py runs the whole
thing in a real worker."""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from config.memory import (
    MIB,
    MemoryCeilingExceeded,
    MemoryWatchdog,
    memory_task_ended,
    memory_task_started,
    memory_watchdog_start,
    resident_bytes,
)
from config.testing import wait_until

HEADROOM_MB = 200


def _watchdog(
    *,
    grace_seconds: float = 1.0,
    hard_ratio: float = 1.25,
    on_kill: Callable[[], object] = resident_bytes,
    rss: Callable[[], int] = resident_bytes,
) -> tuple[MemoryWatchdog, list[Any]]:
    """A started watchdog whose ceiling is this process's RSS + HEADROOM_MB, measuring with ``rss``; each kill
    appends ``on_kill()`` (default: the RSS at the kill) to the list."""
    kills: list[Any] = []
    watchdog = MemoryWatchdog(
        limit_mb=resident_bytes() // MIB + HEADROOM_MB,
        grace_seconds=grace_seconds,
        hard_ratio=hard_ratio,
        rss=rss,
        kill=lambda: kills.append(on_kill()),
    )
    watchdog.start()
    return watchdog, kills


class _Resident:
    """Memory this test makes resident: 1 MB anonymous mappings, each written. New pages every time, so the
    process's RSS grows by what is held, whatever the allocator kept from earlier tests; ``release`` unmaps."""

    def __init__(self) -> None:
        self.regions: list[mmap.mmap] = []

    def grow(self) -> None:
        region = mmap.mmap(-1, MIB)
        region.write(_ONE_MB)
        self.regions.append(region)

    def __len__(self) -> int:
        return len(self.regions)

    def release(self) -> None:
        for region in self.regions:
            region.close()
        self.regions.clear()


_ONE_MB = b"x" * MIB


def _grow_and_hold_until_killed(hold: _Resident, kills: list[Any]) -> int:
    """Grow until stopped, then hold on, swallowing the stop, until the watchdog kills; returns the stops
    swallowed. The stop may arrive on any bytecode, the loop's jump back included, so the loop that runs
    while it can arrive is inside the ``try``; it arrives once per task."""
    swallowed = 0
    deadline = time.monotonic() + 30
    while True:
        try:
            while not kills:
                if time.monotonic() > deadline:
                    pytest.fail(f"never killed (holding {len(hold)} MB, {swallowed} stops)")
                if not swallowed and len(hold) < 4 * HEADROOM_MB:
                    hold.grow()
                else:
                    time.sleep(0.01)  # the polling interval, not the synchronisation: the kill decides
            return swallowed
        except MemoryCeilingExceeded:
            swallowed += 1


def test_a_task_growing_past_the_ceiling_is_stopped_where_it_runs():
    watchdog, kills = _watchdog()
    hold = _Resident()
    assert watchdog.arm(task_name="t", task_id="1")
    with pytest.raises(MemoryCeilingExceeded) as stopped:
        for _ in range(4 * HEADROOM_MB):  # 4x the headroom: the stop must come before the loop ends
            hold.grow()
    grown = len(hold)
    run = watchdog.disarm()
    hold.release()
    assert stopped.value.limit_mb == watchdog.limit_mb <= stopped.value.used_mb
    assert grown >= HEADROOM_MB - 20, f"stopped after {grown} MB, below the ceiling"
    assert run is not None and run.raised and watchdog.retire and not kills


def test_a_task_that_does_not_stop_is_killed_after_the_grace(monkeypatch):
    """A task that swallows the stop (as a broad ``except Exception`` would) and holds on: the hook sees the
    task's frame, then the process is killed."""
    seen: list[tuple[str, int]] = []

    def hook(frame: FrameType | None, limit_mb: int) -> None:
        names = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        seen.append((",".join(names), limit_mb))

    watchdog, kills = _watchdog(grace_seconds=0.5, hard_ratio=10)
    hold = _Resident()
    watchdog.arm(task_name="t", task_id="2", hook=hook)
    swallowed = _grow_and_hold_until_killed(hold, kills)
    hold.release()
    assert swallowed == 1  # raised once, never again in the same task
    assert len(seen) == 1 and "test_a_task_that_does_not_stop_is_killed_after_the_grace" in seen[0][0]
    assert seen[0][1] == watchdog.limit_mb
    assert watchdog.disarm() is None  # the hard stop disarmed it


def test_a_hung_hard_stop_hook_does_not_delay_the_kill():
    """The hook writes to the database; a database that does not answer must not let the process grow on."""
    import threading

    hooked, release, returned = threading.Event(), threading.Event(), threading.Event()
    watchdog, kills = _watchdog(grace_seconds=0.2, on_kill=returned.is_set)  # a kill notes: had the hook returned?
    watchdog.hook_seconds = 0.3
    hold = _Resident()

    def hung(frame: FrameType | None, limit_mb: int) -> None:
        hooked.set()
        release.wait(20)  # within _grow_and_hold_until_killed's patience: a kill that waited for it comes after
        returned.set()

    watchdog.arm(task_name="t", task_id="8", hook=hung)
    _grow_and_hold_until_killed(hold, kills)
    release.set()
    hold.release()
    assert hooked.is_set()
    assert kills == [False]  # killed while the hook still hung


def test_past_the_hard_limit_the_kill_does_not_wait_for_the_grace():
    watchdog, kills = _watchdog(grace_seconds=60, hard_ratio=1.0)  # hard limit = the ceiling
    hold = _Resident()
    watchdog.arm(task_name="t", task_id="3")
    _grow_and_hold_until_killed(hold, kills)
    hold.release()
    assert kills[0] > watchdog.limit


def test_below_the_ceiling_nothing_is_stopped():
    sampled: list[int] = []

    def rss() -> int:
        sampled.append(resident_bytes())
        return sampled[-1]

    watchdog, kills = _watchdog(rss=rss)
    hold = _Resident()
    watchdog.arm(task_name="t", task_id="4")
    for _ in range(HEADROOM_MB // 4):
        hold.grow()
    grown = len(sampled)
    wait_until(  # several samples see the grown process
        lambda: len(sampled) >= grown + 5, timeout=30, failure=lambda: f"{len(sampled) - grown} samples since"
    )
    run = watchdog.disarm()
    hold.release()
    assert run is not None and run.peak > 0 and run.stopped_at is None
    assert not watchdog.retire and not kills


def test_a_stop_signal_after_the_task_ended_raises_nothing():
    import signal

    watchdog, _kills = _watchdog()
    watchdog.arm(task_name="t", task_id="5")
    watchdog.disarm()
    signal.pthread_kill(sys.modules["threading"].main_thread().ident or 0, signal.SIGUSR2)
    time.sleep(0)  # the handler runs at the next bytecode; it must not raise


def test_off_the_main_thread_no_task_is_armed():
    import threading

    watchdog, _kills = _watchdog()
    armed: list[bool] = []
    thread = threading.Thread(target=lambda: armed.append(watchdog.arm(task_name="t", task_id="6")))
    thread.start()
    thread.join()
    assert armed == [False] and watchdog.disarm() is None


def _a_task_over_the_ceiling() -> int:
    """In a billiard pool process: a task under a 1 MB ceiling (any process is over it) waits for its stop,
    as ``documents.tasks`` does, and returns its process id."""
    memory_watchdog_start(limit_mb=1)
    memory_task_started(task_name="t", task_id="7")
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            time.sleep(0.01)  # the polling interval: the stop ends the wait
        return -1  # never stopped
    except MemoryCeilingExceeded:
        return os.getpid()
    finally:
        memory_task_ended()


def _pids_through_a_replacement(limit_kib: int) -> list[int]:
    """In a fresh single-threaded process (see the test): a one-process billiard pool with ``limit_kib`` per
    child runs ``os.getpid`` twice, the task over the ceiling, then ``os.getpid`` again; the four results."""
    from billiard.pool import Pool

    pool = Pool(processes=1, max_memory_per_child=limit_kib)
    try:
        tasks = (os.getpid, os.getpid, _a_task_over_the_ceiling, os.getpid)
        return [pool.apply_async(task).get(timeout=60) for task in tasks]
    finally:
        pool.terminate()


_REPLACEMENT_DRIVER = """
import json, sys
from django.conf import settings
settings.configure(CELERY_WORKER_MAX_MEMORY_PER_CHILD=int(sys.argv[1]))
from config.tests.test_memory import _pids_through_a_replacement
print(json.dumps(_pids_through_a_replacement(int(sys.argv[1]))))
"""


def test_a_pool_process_that_went_over_the_ceiling_is_replaced_after_its_task(settings):
    """billiard (the pool Celery runs) replaces the process once the task's result is delivered, through its
    own per-child memory check; the result still arrives.

    The pool runs in a fresh process, as a worker's does: forked from this threaded test process, a pool process
    could inherit a lock another thread held (seen in whole runs, a hang before the first task)."""
    # billiard reads the peak RSS, which a forked child starts from its parent's: a limit well above the driver's
    limit_kib = max(settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD, 2 * resident_bytes() // 1024)
    driver = subprocess.run(
        [sys.executable, "-c", _REPLACEMENT_DRIVER, str(limit_kib)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=settings.BASE_DIR,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    )
    assert driver.returncode == 0, driver.stderr[-3000:]
    first, again, stopped, after = json.loads(driver.stdout.strip().splitlines()[-1])
    assert again == first  # under its limit a process is reused
    assert stopped == first  # the task over the ceiling was stopped in that process, and its result arrived
    assert after not in (first, -1)  # then a new process took over
