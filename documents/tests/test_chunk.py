"""Chunking against the real tokenizer of all-MiniLM-L6-v2 (no database)."""

import itertools

from documents.embeddings import MAX_TEXT_TOKENS, count_tokens
from documents.services.chunk import chunk_document, context_prefix
from documents.services.extract import ExtractedText, PageSpan, Section
from documents.tests.samples import REAL_TEXT


def _doc(paragraphs: list[str], headings: dict[int, tuple[str, ...]] | None = None, pages: list[int] | None = None):
    """ExtractedText from paragraphs; ``headings`` maps paragraph index → heading path starting there;
    ``pages`` gives each paragraph's page number."""
    text, sections, spans = "", [], []
    starts = []
    for i, paragraph in enumerate(paragraphs):
        if text:
            text += "\n\n"
        starts.append(len(text))
        if headings and i in headings:
            sections.append(Section(len(text), headings[i]))
        text += paragraph
    if pages:
        for number in sorted(set(pages)):
            idx = [i for i, p in enumerate(pages) if p == number]
            start = starts[idx[0]]
            end = starts[idx[-1]] + len(paragraphs[idx[-1]])
            spans.append(PageSpan(number, start, end))
    return ExtractedText(kind="pdf" if pages else "markdown", text=text, pages=spans, sections=sections)


def test_chunks_fit_the_window_slice_the_text_and_cover_it():
    paragraphs = [REAL_TEXT] * 12
    extracted = _doc(paragraphs)
    chunks = chunk_document(extracted, title="Speeches", target_tokens=200, overlap_tokens=32)
    assert len(chunks) > 3
    for c in chunks:
        assert c.text == extracted.text[c.char_start : c.char_end]
        assert c.token_count == count_tokens([c.embed_text])[0] <= MAX_TEXT_TOKENS
        assert c.embed_text.startswith("Speeches\n")
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    covered: set[int] = set()
    for c in chunks:
        covered.update(range(c.char_start, c.char_end))
    content = {i for i, ch in enumerate(extracted.text) if not ch.isspace()}
    assert content <= covered  # nothing is dropped


def test_consecutive_chunks_overlap_by_whole_sentences():
    extracted = _doc([REAL_TEXT * 4])
    chunks = chunk_document(extracted, title="", target_tokens=120, overlap_tokens=40)
    overlaps = [b.char_start < a.char_end for a, b in itertools.pairwise(chunks)]
    assert any(overlaps)
    for a, b in itertools.pairwise(chunks):
        if b.char_start < a.char_end:
            shared = extracted.text[b.char_start : a.char_end]
            assert count_tokens([shared])[0] <= 40 + 2


def test_chunks_do_not_cross_headings_and_carry_heading_paths():
    paragraphs = ["Intro", REAL_TEXT, "Details", "Short text under details.", "More", REAL_TEXT]
    headings = {0: ("Intro",), 2: ("Intro", "Details"), 4: ("More",)}
    extracted = _doc(paragraphs, headings)
    chunks = chunk_document(extracted, title="Doc", target_tokens=200)
    for c in chunks:
        # a chunk's text lies inside one section (heading paragraphs start sections)
        starts = [s.char_start for s in extracted.sections]
        assert not any(c.char_start < s < c.char_end for s in starts if s > c.char_start and s - c.char_start > 40)
    assert chunks[-1].heading_path == ("More",)
    assert any(c.heading_path == ("Intro", "Details") for c in chunks)
    assert context_prefix("Doc", ("Intro", "Details")) == "Doc > Intro > Details\n"


def test_page_ranges_follow_the_pages():
    paragraphs = [REAL_TEXT, REAL_TEXT, REAL_TEXT]
    extracted = _doc(paragraphs, pages=[1, 2, 3])
    chunks = chunk_document(extracted, title="T", target_tokens=400)
    assert chunks[0].page_start == 1
    assert chunks[-1].page_end == 3
    for c in chunks:
        assert c.page_start is not None and c.page_end is not None and c.page_start <= c.page_end


def test_a_giant_sentence_is_split_not_truncated():
    giant = " ".join(["supercalifragilistic"] * 600)  # one "sentence" of ~3,000 word pieces
    extracted = _doc([giant])
    chunks = chunk_document(extracted, title="T", target_tokens=200)
    assert len(chunks) >= 10
    assert all(c.token_count <= MAX_TEXT_TOKENS for c in chunks)
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(giant)


def test_empty_text_gives_no_chunks():
    assert chunk_document(ExtractedText(kind="text", text="", pages=[], sections=[]), title="T") == []
