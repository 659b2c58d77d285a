"""Structure-aware chunking sized with the embedding model's own tokenizer.

A chunk never crosses a heading (section) boundary, prefers sentence boundaries, and always fits the
model's 256 word-piece window together with its context prefix (title and heading path), so nothing is
ever silently truncated at embedding time. Consecutive chunks of one section overlap by whole sentences
(up to ``overlap_tokens``). Chunk text is an exact slice of the extracted text (``char_start:char_end``),
so a citation can be highlighted in context later.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from documents.embeddings import MAX_TEXT_TOKENS, count_tokens, get_tokenizer
from documents.models import page_of
from documents.services.extract import ExtractedText
from documents.services.extract_errors import DocumentTooLarge

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+")
MIN_CHUNK_TOKENS = 24  # a heading shorter than this, directly followed by a subheading, joins that subsection
_COUNT_BATCH = 4096  # texts per tokenizer call, between two ticks (a few tens of ms)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is embedded and stored. Offsets index the extracted text; pages are 1-based."""

    ordinal: int
    text: str
    char_start: int
    char_end: int
    page_start: int | None
    page_end: int | None
    heading_path: tuple[str, ...]
    token_count: int  # word pieces of embed_text, ≤ MAX_TEXT_TOKENS
    embed_text: str  # context prefix + text: what is embedded


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    section: int  # index into ExtractedText.sections (-1: before any)


def context_prefix(title: str, heading_path: tuple[str, ...]) -> str:
    """The context embedded with a chunk's text: ``"title > h1 > h2\\n"`` (empty parts dropped)."""
    parts = [p for p in (title.strip(), *heading_path) if p]
    deduped = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
    return (" > ".join(deduped) + "\n") if deduped else ""


def stored_embed_texts(chunks: list[tuple[str, tuple[str, ...], str]]) -> list[str]:
    """What ingestion embeds for chunks given as ``(document title, stored heading path, text)``: the bounded
    context prefix (``bounded_context``: the stored path is already bounded, a long title is cut again the same
    way) and the text, or the text alone where that passes ``MAX_TEXT_TOKENS`` (as ``_drafts_for`` decides), for
    re-embedding stored chunks and for benchmarks."""
    prefixes: dict[tuple[str, tuple[str, ...]], str] = {}  # a document's chunks share few contexts
    for title, path, _ in chunks:
        if (title, path) not in prefixes:
            prefixes[title, path] = bounded_context(title, path)[1]
    texts = [prefixes[title, path] + text for title, path, text in chunks]
    fits = [n <= MAX_TEXT_TOKENS for n in count_tokens(texts)]
    return [full if fit else chunk[2] for full, fit, chunk in zip(texts, fits, chunks, strict=True)]


def bounded_context(title: str, heading_path: tuple[str, ...]) -> tuple[tuple[str, ...], str, int]:
    """A chunk's context within ``settings.CHUNK_CONTEXT_MAX_PERCENT`` % of the model's window:
    ``(heading_path, prefix, prefix_tokens)``.

    Outer headings are dropped first (the innermost one is the most specific); if the title and one heading
    are still too long, the prefix is cut at a word-piece boundary. The returned path is what the chunk
    stores and indexes, so the context adds at most that many word pieces (plus one heading of at most
    ``DOCUMENT_HEADING_MAX_CHARS`` characters) to every chunk's ``tsvector``.
    """
    limit = max(8, MAX_TEXT_TOKENS * settings.CHUNK_CONTEXT_MAX_PERCENT // 100)
    prefix = context_prefix(title, heading_path)
    tokens = count_tokens([prefix])[0] if prefix else 0
    while tokens > limit and len(heading_path) > 1:
        heading_path = heading_path[1:]
        prefix = context_prefix(title, heading_path)
        tokens = count_tokens([prefix])[0]
    if tokens > limit:
        offsets = get_tokenizer()(prefix, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        prefix = prefix[: offsets[limit - 1][1]] + "\n"
        tokens = count_tokens([prefix])[0]
    return heading_path, prefix, tokens


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, pos = [], start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append((pos, match.start() + len(match.group(0).rstrip())))
        pos = match.end()
    spans.append((pos, end))
    return [(s, e) for s, e in spans if e > s and text[s:e].strip()]


def _split_by_tokens(text: str, start: int, end: int, budget: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence into windows of ≤ ``budget`` word pieces, at token boundaries."""
    offsets = get_tokenizer()(text[start:end], add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    pieces = []
    for i in range(0, len(offsets), budget):
        window = offsets[i : i + budget]
        pieces.append((start + window[0][0], start + window[-1][1]))
    # Close the gaps so the windows tile the sentence exactly.
    return [(s if i == 0 else pieces[i - 1][1], e) for i, (s, e) in enumerate(pieces)]


def _count_ticking(texts: list[str], tick: Callable[[], None] | None) -> list[int]:
    """``count_tokens`` in batches, calling ``tick`` after each one."""
    counts: list[int] = []
    for start in range(0, len(texts), _COUNT_BATCH):
        counts.extend(count_tokens(texts[start : start + _COUNT_BATCH]))
        if tick is not None:
            tick()
    return counts


def _units(extracted: ExtractedText, budget: int, tick: Callable[[], None] | None) -> list[_Unit]:
    text = extracted.text
    section_starts = [s.char_start for s in extracted.sections]
    spans: list[tuple[int, int]] = []
    for p_start, p_end in _paragraph_spans(text):
        spans.extend(_sentence_spans(text, p_start, p_end))
    # Split sentences at section starts too (a heading glued to text must not leak into the previous chunk).
    cut: list[tuple[int, int]] = []
    for s, e in spans:
        inner = [b for b in section_starts if s < b < e]
        bounds = [s, *inner, e]
        cut.extend((a, b) for a, b in itertools.pairwise(bounds) if text[a:b].strip())
    counts = _count_ticking([text[s:e] for s, e in cut], tick)
    units: list[_Unit] = []
    for (s, e), n in zip(cut, counts, strict=True):
        section = bisect.bisect_right(section_starts, s) - 1
        if n <= budget:
            units.append(_Unit(s, e, n, section))
            continue
        for ps, pe in _split_by_tokens(text, s, e, budget):
            units.append(_Unit(ps, pe, count_tokens([text[ps:pe]])[0], section))
    return units


def chunk_document(
    extracted: ExtractedText,
    *,
    title: str,
    target_tokens: int = 200,
    overlap_tokens: int = 32,
    max_chunks: int | None = None,
    tick: Callable[[], None] | None = None,
) -> list[ChunkDraft]:
    """Cut extracted text into chunks of about ``target_tokens`` word pieces (never more than the model's
    window including the context prefix), overlapping by up to ``overlap_tokens`` of whole sentences.

    Returns the chunks in document order, ordinals 0..n-1; an empty list for text with no content. The
    context is bounded by ``bounded_context``. Raises ``DocumentTooLarge`` over ``max_chunks`` chunks (the
    workspace's limit; by default ``DOCUMENT_MAX_CHUNKS``). ``tick`` is called between tokenizer batches.
    """
    limit = settings.DOCUMENT_MAX_CHUNKS if max_chunks is None else max_chunks
    prefixes: dict[int, tuple[tuple[str, ...], str, int]] = {}

    def section_info(index: int) -> tuple[tuple[str, ...], str, int]:
        if index not in prefixes:
            prefixes[index] = bounded_context(title, extracted.sections[index].heading_path if index >= 0 else ())
        return prefixes[index]

    # The tightest budget any prefix allows keeps every unit placeable; per-chunk budgets are checked below.
    worst_prefix = max([section_info(i)[2] for i in range(-1, len(extracted.sections))] or [0])
    unit_budget = max(32, min(target_tokens, MAX_TEXT_TOKENS - worst_prefix - 2))
    units = _units(extracted, unit_budget, tick)

    section_starts = {s.char_start for s in extracted.sections}

    def heading_only(group: list[_Unit]) -> bool:
        return len(group) == 1 and group[0].start in section_starts and group[0].tokens < MIN_CHUNK_TOKENS

    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in units:
        tokens = sum(u.tokens for u in current)
        prefix_tokens = section_info(unit.section)[2]
        budget = min(target_tokens, MAX_TEXT_TOKENS - prefix_tokens - 2)
        if current and unit.section != current[-1].section:
            if not heading_only(current):  # a lone heading joins its first subsection instead
                groups.append(current)
                current = []
        elif current and tokens + unit.tokens > budget:
            groups.append(current)
            current = _overlap(current, unit, overlap_tokens, budget)
        current.append(unit)
    if current:
        groups.append(current)
    _check_chunk_count(len(groups), limit)
    infos = [section_info(group[-1].section) for group in groups]
    texts = [info[1] + extracted.text[g[0].start : g[-1].end] for g, info in zip(groups, infos, strict=True)]
    counts = _count_ticking(texts, tick)
    page_starts = [page.char_start for page in extracted.pages]  # page n (1-based) at index n - 1
    drafts: list[ChunkDraft] = []
    for group, info, tokens in zip(groups, infos, counts, strict=True):
        drafts.extend(_drafts_for(extracted, page_starts, group, info, len(drafts), tokens))
    _check_chunk_count(len(drafts), limit)
    return drafts


def _overlap(previous: list[_Unit], unit: _Unit, overlap_tokens: int, budget: int) -> list[_Unit]:
    """The trailing units of the chunk ``previous`` (up to ``overlap_tokens``, never all of it) that the next
    chunk repeats before ``unit``; none if they and ``unit`` would not fit ``budget``."""
    carried: list[_Unit] = []
    for candidate in reversed(previous):
        if sum(u.tokens for u in carried) + candidate.tokens > overlap_tokens or len(carried) + 1 >= len(previous):
            break
        carried.insert(0, candidate)
    return carried if sum(u.tokens for u in carried) + unit.tokens <= budget else []


def _check_chunk_count(count: int, limit: int) -> None:
    if count > limit:
        raise DocumentTooLarge(
            f"This document would make more than {limit:,} chunks; split it into smaller files and upload those."
        )


def _drafts_for(
    extracted: ExtractedText,
    page_starts: list[int],
    group: list[_Unit],
    info: tuple[tuple[str, ...], str, int],
    ordinal: int,
    tokens: int | None = None,
) -> list[ChunkDraft]:
    """One draft for the group, or more if the exact token count of prefix + text (``tokens`` when the
    caller counted it already) overflows the window."""
    path, prefix, _ = info
    start, end = group[0].start, group[-1].end
    body = extracted.text[start:end]
    embed_text = prefix + body
    if tokens is None:
        tokens = count_tokens([embed_text])[0]
    if tokens > MAX_TEXT_TOKENS and len(group) > 1:
        middle = len(group) // 2
        first = _drafts_for(extracted, page_starts, group[:middle], info, ordinal)
        return first + _drafts_for(extracted, page_starts, group[middle:], info, ordinal + len(first))
    if tokens > MAX_TEXT_TOKENS:  # a single unit with a long prefix: drop the prefix rather than truncate
        embed_text, tokens = body, count_tokens([body])[0]
    return [
        ChunkDraft(
            ordinal=ordinal,
            text=body,
            char_start=start,
            char_end=end,
            page_start=page_of(page_starts, start),
            page_end=page_of(page_starts, end - 1),
            heading_path=path,
            token_count=tokens,
            embed_text=embed_text,
        )
    ]
