"""The load benchmark's figures: locust's per-endpoint statistics, the statuses, the process samples, and the
targets of issue 17 (``TARGETS``) they are judged against."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chat.loadtest.stack import Usage

SEARCH = "api search"
FIRST_TOKEN = "chat first token"
# Targets: search p95 (ms) and first token p95 (ms) under the load; no error but designed 429s; every upload ready.
TARGETS = {SEARCH: 200.0, FIRST_TOKEN: 1000.0}


@dataclass(frozen=True)
class Endpoint:
    """One request name of the run: count, requests/s, percentiles (ms) and locust's failures."""

    name: str
    requests: int
    per_second: float
    p50: float
    p95: float
    p99: float
    failures: int


def endpoints(stats_csv: Path) -> list[Endpoint]:
    """Rows of locust's ``<prefix>_stats.csv`` (the "Aggregated" row last)."""
    rows = []
    with stats_csv.open() as f:
        for row in csv.DictReader(f):
            rows.append(
                Endpoint(
                    name=row["Name"],
                    requests=int(row["Request Count"]),
                    per_second=float(row["Requests/s"]),
                    p50=float(row["50%"] or 0),
                    p95=float(row["95%"] or 0),
                    p99=float(row["99%"] or 0),
                    failures=int(row["Failure Count"]),
                )
            )
    return rows


@dataclass
class Samples:
    """Process usage sampled during the run: peak and mean CPU (% of a core) and peak PSS (MB) per kind, and
    peak PostgreSQL connections by state."""

    cpu: dict[str, list[float]] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)

    def add(self, usage: Usage, connections: dict[str, int]) -> None:
        for kind, cpu in usage.cpu.items():
            self.cpu.setdefault(kind, []).append(cpu)
            self.rss_mb[kind] = max(self.rss_mb.get(kind, 0.0), usage.rss_mb.get(kind, 0.0))
        total = sum(connections.values())
        for state, count in [*connections.items(), ("total", total)]:
            self.connections[state] = max(self.connections.get(state, 0), count)

    def summary(self) -> dict[str, Any]:
        return {
            "cpu_percent": {
                kind: {"mean": round(sum(v) / len(v), 1), "peak": round(max(v), 1)} for kind, v in self.cpu.items() if v
            },
            "rss_mb_peak": {kind: round(mb) for kind, mb in self.rss_mb.items()},
            "postgres_connections_peak": self.connections,
        }


def misses(
    rows: list[Endpoint], statuses: dict[str, dict[str, int]], uploads: dict[str, int], targets: dict[str, float]
) -> list[str]:
    """The targets the run missed, in words (empty: all met). ``targets``: p95 limits (ms) by request name."""
    found = {row.name: row for row in rows}
    out = []
    for name, limit in targets.items():
        row = found.get(name)
        if row is None or row.requests == 0:
            out.append(f"no {name} request was measured")
        elif row.p95 > limit:
            out.append(f"{name} p95 {row.p95:.0f} ms > {limit:.0f} ms")
    errors = {
        f"{name} {status}": count
        for name, counts in statuses.items()
        for status, count in counts.items()
        if not status.startswith("2") and status != "429"
    }
    failed = sum(row.failures for row in rows if row.name != "Aggregated")
    if errors or failed:
        out.append(f"errors other than designed 429s: {errors or ''} ({failed} failed requests)")
    if uploads.get("not_ready"):
        out.append(f"{uploads['not_ready']} of {uploads['total']} uploads did not reach ready: {uploads}")
    return out


def table(rows: list[Endpoint], statuses: dict[str, dict[str, int]]) -> str:
    """Per endpoint: requests, requests/s, p50/p95/p99 (ms), failures and the statuses seen."""
    lines = [f"{'endpoint':<24} {'requests':>8} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'fail':>5}  statuses"]
    for row in rows:
        seen = " ".join(f"{s}×{n}" for s, n in sorted(statuses.get(row.name, {}).items()))
        lines.append(
            f"{row.name[:24]:<24} {row.requests:>8} {row.per_second:>7.1f} {row.p50:>6.0f} {row.p95:>6.0f} "
            f"{row.p99:>6.0f} {row.failures:>5}  {seen}"
        )
    return "\n".join(lines)


def usage_table(summary: dict[str, Any]) -> str:
    """CPU (mean/peak % of one core) and peak PSS per kind of process, and peak PostgreSQL connections."""
    lines = [f"{'process':<10} {'cpu mean':>9} {'cpu peak':>9} {'pss MB':>8}"]
    for kind, cpu in summary["cpu_percent"].items():
        lines.append(f"{kind:<10} {cpu['mean']:>8.0f}% {cpu['peak']:>8.0f}% {summary['rss_mb_peak'].get(kind, 0):>8}")
    connections = ", ".join(f"{state} {n}" for state, n in summary["postgres_connections_peak"].items())
    lines.append(f"PostgreSQL connections (peak): {connections}")
    return "\n".join(lines)
