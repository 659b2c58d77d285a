"""Turning a user's query into something both retrievers can use safely.

The query text is never parsed as ``tsquery`` syntax: PostgreSQL's own ``to_tsvector`` (in the workspace's
text search configuration, the one its chunks were indexed with) yields the lexemes and their counts, which
BM25 (``retrieval.bm25``) looks up as plain values. So ``a & | !(``, quotes and backslashes are plain words,
stop words vanish, and no input can produce a syntax error. The query-length rule and its message live here
(``check_query_length``), for the search page, the API and the chat alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from config.errors import ApplicationError

# Control characters (NUL breaks PostgreSQL text) become spaces; other categories are kept.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORDLIKE = re.compile(r"\w", re.UNICODE)
# Retrieval cost grows with the number of distinct terms; more than this adds noise, not recall.
MAX_QUERY_TERMS = 64


class InvalidQuery(ApplicationError):
    """The query cannot be searched (empty or too long); the message says why."""

    code = "invalid_query"


@dataclass(frozen=True)
class ParsedQuery:
    """A cleaned query. ``terms`` maps each lexeme to its count in the query (in first-seen order);
    empty when the query has only stop words or symbols."""

    text: str
    terms: dict[str, int] = field(default_factory=dict)


def has_words(text: str) -> bool:
    """True when ``text`` has any letter or digit (worth embedding), even if every word is a stop word."""
    return bool(_WORDLIKE.search(text))


def check_query_length(text: str) -> None:
    """Raises InvalidQuery when ``text`` is longer than ``SEARCH_MAX_QUERY_CHARS`` characters."""
    limit = settings.SEARCH_MAX_QUERY_CHARS
    if len(text) > limit:
        raise InvalidQuery(f"The query is too long ({len(text):,} characters; the limit is {limit:,}).")


def clean_query(text: str) -> str:
    """NFC-normalize, replace control characters by spaces and collapse whitespace.

    Raises InvalidQuery when nothing is left or the result is longer than ``SEARCH_MAX_QUERY_CHARS``.
    """
    cleaned = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", text or "")).split())
    if not cleaned:
        raise InvalidQuery("Type something to search for.")
    check_query_length(cleaned)
    return cleaned


def query_terms(cleaned: str, *, config: str) -> dict[str, int]:
    """The lexemes of an already cleaned query (``clean_query``) and their counts in it, from
    ``to_tsvector(config, cleaned)``: at most ``MAX_QUERY_TERMS`` distinct lexemes, in order of first position
    ({} when there are only stop words or symbols)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lexeme, coalesce(array_length(positions, 1), 1) FROM unnest(to_tsvector(%s::regconfig, %s))"
            " ORDER BY positions[1] NULLS LAST, lexeme",
            [config, cleaned],
        )
        rows = cursor.fetchall()
    return dict(rows[:MAX_QUERY_TERMS])


def parse_query(text: str, *, config: str) -> ParsedQuery:
    """Clean ``text`` (``clean_query``) and extract its lexemes (``query_terms``) in the text search
    configuration ``config``. Raises InvalidQuery (see ``clean_query``)."""
    cleaned = clean_query(text)
    return ParsedQuery(text=cleaned, terms=query_terms(cleaned, config=config))
