"""Latency summaries for benchmarks and evaluation commands (one definition, so every report means the same)."""

from __future__ import annotations

import statistics


def percentiles(values_ms: list[float], *, digits: int = 1) -> dict[str, float]:
    """``{"p50", "p95", "p99", "max"}`` of ``values_ms`` (ms), rounded to ``digits``; all 0.0 when empty.

    Percentiles are interpolated between the closest ranks (``statistics.quantiles(method="inclusive")``, as
    numpy's default ``linear``), so p95 of 300 values lies between the 285th and 286th smallest.
    """
    if not values_ms:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    cuts = statistics.quantiles(values_ms, n=100, method="inclusive") if len(values_ms) > 1 else [values_ms[0]] * 99
    return {
        "p50": round(cuts[49], digits),
        "p95": round(cuts[94], digits),
        "p99": round(cuts[98], digits),
        "max": round(max(values_ms), digits),
    }
