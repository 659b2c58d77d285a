"""A one-line progress bar for management commands, written to their stderr (stdout stays clean for --json)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def megabytes(count: int) -> str:
    """A byte count for a progress bar: "12.3 MB"."""
    return f"{count / 1_000_000:.1f} MB"


class ProgressBar:
    """Call ``bar(done, total)`` (optionally with a ``note`` shown after the counts, e.g. "12/500 files"); redraws
    at most twice a second with the elapsed time and, once something is done, the estimated time left (linear in
    ``done``); ends the line at ``done == total``. ``unit`` formats the counts (e.g. ``megabytes``)."""

    def __init__(self, label: str, stream: Any, unit: Callable[[int], str] = str) -> None:
        self.label, self.stream, self.started, self.last = label, stream, time.monotonic(), 0.0
        self.unit = unit

    def __call__(self, done: int, total: int, note: str = "") -> None:
        now = time.monotonic()
        if done != total and now - self.last < 0.5:
            return
        self.last = now
        filled = int(30 * done / max(total, 1))
        elapsed = now - self.started
        eta = f", ~{elapsed / done * (total - done):.0f}s left" if 0 < done < total else ""
        counts = f"{self.unit(done)}/{self.unit(total)}" + (f" {note}" if note else "")
        bar = f"\r{self.label:<22} [{'#' * filled}{'.' * (30 - filled)}] {counts} {elapsed:.0f}s{eta}  "
        self.stream.write(bar, ending="\n" if done == total else "")
        self.stream.flush()
