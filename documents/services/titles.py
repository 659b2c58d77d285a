"""Document titles people recognise: the file's own title (its metadata, found by the extractors as
``ExtractedText.title``) before its name, and never a junk title ("Untitled", "Microsoft Word - x.doc", a slug).

A document uploaded without a typed title starts with the title made from its file name
(``title_from_filename``) and ``Document.title_from_file``; ingestion replaces it once with the file's own title
(``document_title_apply``), so a title someone typed is never overwritten and a title survives new versions.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from config.text import clip_words
from documents.models import Document

logger = logging.getLogger(__name__)

TITLE_MAX_CHARS = 300  # Document.title's max_length

# Titles that name no document: office defaults, placeholders, generators' names.
_JUNK = re.compile(
    r"(?:untitled|untitled document|no title|none|null|title|document|new document|unknown|default|"
    r"(?:document|doc|book|presentation|slide|drawing|untitled|sheet|page)[ _-]?\d*|"
    r"powerpoint presentation|microsoft word document|pdf|print|slide \d+|\(anonymous\)|anonymous|"
    r"microsoft word|word|excel|powerpoint)",
    re.IGNORECASE,
)
# "Microsoft Word - report.docx", "Microsoft PowerPoint - deck.pptx": what printing to PDF from Office leaves.
_OFFICE_PREFIX = re.compile(r"^microsoft (?:office )?(?:word|excel|powerpoint|visio|publisher)\s*-\s*", re.IGNORECASE)
_FILE_EXTENSION = re.compile(r"\.(?:docx?|xlsx?|pptx?|rtf|odt|ods|odp|pdf|txt|md|html?|eml|epub|tex|pages)$", re.I)
# No spaces, lowercase words joined by "-" or "_" (or any words joined by "_"): a file name, not a title. "COVID-19"
# and "Jean-Paul" are titles.
_SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)+|\w*_[\w-]*")
_PATH = re.compile(r"^(?:[a-z]:\\|\\\\|/|~/|file:)", re.IGNORECASE)


def title_from_filename(filename: str) -> str:
    """The title made from a file name: its stem with underscores as spaces, ≤ 300 characters, "Untitled"
    when nothing is left."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return (re.sub(r"[_]+", " ", stem).strip() or "Untitled")[:TITLE_MAX_CHARS]


BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs", "Co") or ch in BIDI_CONTROLS


def _visible(raw: str | None) -> str:
    """Control characters (NUL, which PostgreSQL refuses; an escape sequence's ESC; line breaks), lone
    surrogates, private-use characters and bidirectional embeddings, overrides and isolates as spaces, whitespace
    runs as one space. Other format characters stay: the zero-width (non-)joiners of Persian, Hindi and emoji
    sequences are part of the text."""
    return " ".join("".join(" " if _unsafe(ch) else ch for ch in raw or "").split())


def title_typed(raw: str | None) -> str:
    """A title someone typed, fit to store and show (``_visible``), at most 300 characters; "" when nothing is
    left."""
    return _visible(raw)[:TITLE_MAX_CHARS]


def title_clean(raw: str) -> str:
    """A metadata title fit to show, or "" when it names nothing: ``_visible``, an Office "Microsoft Word - "
    prefix and a file extension stripped, at most 300 characters (cut at a word). Junk ("Untitled", "Document1",
    "Slide 1", a slug like "us-constitution", a path, no letters) is ""."""
    text = _OFFICE_PREFIX.sub("", _visible(raw))
    text = _FILE_EXTENSION.sub("", text).strip()
    if not text or _PATH.match(text) or _JUNK.fullmatch(text) or _SLUG.fullmatch(text):
        return ""
    if not any(ch.isalpha() for ch in text):
        return ""
    return clip_words(text, TITLE_MAX_CHARS)


def document_title_apply(*, document: Document, extracted_title: str) -> bool:
    """Give ``document`` the file's own title (``extracted_title``, cleaned by ``title_clean``) if its title is
    still the one made from its file name (``title_from_file``); the flag is then cleared, so later versions and
    reprocessing keep the title. Updates ``document`` in place and in the database (only while the flag is still
    set there). Returns True when the title changed."""
    title = title_clean(extracted_title)
    if not document.title_from_file or not title:
        return False
    updated = Document.objects.filter(pk=document.pk, title_from_file=True).update(title=title, title_from_file=False)
    if updated:
        logger.info("document %s titled from its metadata", document.pk)
        document.title, document.title_from_file = title, False
    return bool(updated)
