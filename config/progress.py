"""A one-line progress bar for management commands, written to their stderr (stdout stays clean for --json)."""

from __future__ import annotations

import time
from typing import Any


class ProgressBar:
    """Call ``bar(done, total)``; redraws at most twice a second with the elapsed time and, once something is
    done, the estimated time left (linear in ``done``); ends the line at ``done == total``."""

    def __init__(self, label: str, stream: Any) -> None:
        self.label, self.stream, self.started, self.last = label, stream, time.monotonic(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done != total and now - self.last < 0.5:
            return
        self.last = now
        filled = int(30 * done / max(total, 1))
        elapsed = now - self.started
        eta = f", ~{elapsed / done * (total - done):.0f}s left" if 0 < done < total else ""
        bar = f"\r{self.label:<22} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} {elapsed:.0f}s{eta}  "
        self.stream.write(bar, ending="\n" if done == total else "")
        self.stream.flush()
