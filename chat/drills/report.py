"""The drills' report: one row per drill (fault → what users saw → recovery time → data check) and the JSON."""

from __future__ import annotations

import textwrap
from dataclasses import asdict
from typing import Any

from chat.drills.runner import DrillResult


def users_seen(users: dict[str, Any]) -> str:
    """ "upload 201×12 503 unavailable×3; ask 201 llm×9 …" with the error messages users read."""
    parts = []
    for kind, seen in users.items():
        counts = " ".join(f"{label}×{n}" for label, n in seen["seen"].items())
        messages = "; ".join(f"“{m[:70]}”" for m in seen["messages"])
        parts.append(f"{kind}: {counts}" + (f" [{messages}]" if messages else ""))
    return " | ".join(parts)


def verdict(result: DrillResult) -> str:
    if result.skipped:
        return f"skipped: {result.skipped}"
    return "ok" if not result.problems else "FAILED: " + "; ".join(result.problems)


def table(results: list[DrillResult]) -> str:
    """The drills as a table; long cells wrap under their column."""
    widths = (17, 34, 60, 9, 40)
    head = ("drill", "fault", "what users saw", "recovery", "data check")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), "-" * (sum(widths) + 8)]
    for r in results:
        recovery = "-" if r.skipped else (f"{r.recovery_s:.1f} s" if r.recovery_s is not None else "none")
        cells = [r.name, r.fault, users_seen(r.users), recovery, verdict(r)]
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, widths, strict=True)]
        for i in range(max(len(w) for w in wrapped)):
            lines.append("  ".join((w[i] if i < len(w) else "").ljust(n) for w, n in zip(wrapped, widths, strict=True)))
        for note in r.notes:
            lines.append(" " * (widths[0] + 2) + f"note: {note}")
        lines.append("")
    return "\n".join(lines)


def figures(results: list[DrillResult], settings_changed: dict[str, str]) -> dict[str, Any]:
    """The JSON: every drill's result, its problems and verdict, and the settings the drills changed."""
    return {
        "settings": settings_changed,
        "drills": [asdict(r) | {"problems": r.problems, "verdict": verdict(r)} for r in results],
        "failed": [r.name for r in results if r.problems],
    }
