"""The one definition of a chunk's full-text index entry: ``Chunk.search_vector`` and ``Chunk.search_length``.

A chunk is indexed as its document's title, its heading path and its text, joined by spaces, through
PostgreSQL's ``to_tsvector`` in the workspace's text search configuration; ``search_length`` is the number
of tokens of that ``tsvector`` (positions counted), the BM25 document length. Ingestion
(``documents.services.store``) and the search benchmark (``retrieval``'s ``bench_search``) both write chunk
rows with ``chunk_insert_sql``, so the benchmark measures exactly the production index. The statistics
triggers of ``retrieval`` read the two columns (see ``Chunk``).
"""

from __future__ import annotations

from collections.abc import Mapping

from documents.models import Chunk


def chunk_tsvector_sql(*, config: str, title: str, heading_path: str, text: str) -> str:
    """The SQL expression of a chunk's ``tsvector``.

    Each argument is an SQL fragment (a column reference, a cast literal or a ``%s`` placeholder):
    ``config`` a text search configuration name (text), ``title`` the document title (text),
    ``heading_path`` a jsonb array of strings, ``text`` the chunk text.
    """
    headings = f"array_to_string(ARRAY(SELECT jsonb_array_elements_text({heading_path})), ' ')"
    return f"to_tsvector({config}::regconfig, {title} || ' ' || {headings} || ' ' || {text})"


def search_length_sql(tsvector: str) -> str:
    """The SQL expression of the token count (positions counted; a lexeme without positions counts 1) of
    the ``tsvector`` expression ``tsvector``."""
    return f"(SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0) FROM unnest({tsvector}))"


def chunk_insert_sql(*, source: str, values: Mapping[str, str], config: str, title: str, order_by: str = "") -> str:
    """``INSERT INTO`` the chunk table ``SELECT`` from ``source``, computing ``search_vector`` and
    ``search_length`` with the definitions above.

    ``values`` maps chunk columns (every column except ``id``, ``search_vector`` and ``search_length``) to SQL
    expressions over ``source``; its ``heading_path`` and ``text`` expressions are the ones indexed.
    ``config`` and ``title`` are SQL fragments as in ``chunk_tsvector_sql``; ``order_by`` an optional
    ``ORDER BY`` expression. Raises KeyError when ``heading_path`` or ``text`` is missing.
    """
    tsvector = chunk_tsvector_sql(config=config, title=title, heading_path=values["heading_path"], text=values["text"])
    columns = ", ".join([*values, "search_vector", "search_length"])
    expressions = ", ".join([*values.values(), "tsv", search_length_sql("tsv")])
    order = f" ORDER BY {order_by}" if order_by else ""
    return (
        f"INSERT INTO {Chunk._meta.db_table} ({columns})"
        f" SELECT {expressions} FROM {source}, LATERAL {tsvector} AS tsv{order}"
    )
