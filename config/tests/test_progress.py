"""The progress bar of long commands: done/total, elapsed time and the estimated time left."""

from __future__ import annotations

import io

from django.core.management.base import OutputWrapper

from config.progress import ProgressBar


def test_the_bar_shows_the_time_left_and_ends_its_line():
    out = io.StringIO()
    bar = ProgressBar("embedding", OutputWrapper(out))
    bar.started -= 10  # ten seconds ago
    bar(1, 4)
    assert "1/4" in out.getvalue() and "~30s left" in out.getvalue()
    bar(4, 4)
    assert out.getvalue().endswith("\n") and "4/4" in out.getvalue().splitlines()[-1]
