"""Small text helpers shared by the apps."""

from __future__ import annotations


def clip_words(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (``limit`` >= 1): at a word boundary when one is in its second
    half, "…" marking the cut (counted in the limit); unchanged when it fits."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)]
    if (space := cut.rfind(" ")) > len(cut) // 2:
        cut = cut[:space]
    return cut.rstrip() + "\u2026"
