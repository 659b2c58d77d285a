"""The data checks after a drill, in SQL over the drill's workspaces (read only: nothing is repaired here).

Each check returns a list of problems in words (empty: fine). ``data_checks`` runs them all.

- no document left in a processing state, and every acknowledged upload ended ``ready`` or ``failed`` with a reason;
- chunks: none twice (same version and ordinal), none of a version other than its document's current one;
- postings (``retrieval_posting``): exactly what the chunks' search vectors give, none pointing at a missing chunk;
- statistics (``retrieval_workspacestats``, ``retrieval_termstats``): equal to recomputing them from the chunks
  (as ``retrieval.services.workspace_stats_rebuild`` defines them);
- no assistant message without content; no stored file under the workspaces' upload folders that no version holds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from chat.models import Conversation, Message
from documents.models import Chunk, Document, DocumentVersion

CHUNKS, DOCUMENTS, VERSIONS = Chunk._meta.db_table, Document._meta.db_table, DocumentVersion._meta.db_table
MESSAGES, CONVERSATIONS = Message._meta.db_table, Conversation._meta.db_table
SHOWN = 5  # examples named per problem


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def stuck_documents(workspaces: list[int]) -> list[str]:
    rows = _rows(
        f"SELECT id, status FROM {DOCUMENTS} WHERE workspace_id = ANY(%s) AND status = ANY(%s) ORDER BY id",
        [workspaces, [Document.Status.QUEUED, *Document.ACTIVE_STATUSES]],
    )
    return [f"{len(rows)} documents still processing: {rows[:SHOWN]}"] if rows else []


def uploads_ended(uploads: list[int]) -> list[str]:
    """Every acknowledged upload exists and ended ready, or failed with a reason."""
    rows: dict[int, str] = dict(
        _rows(f"SELECT id, status || ':' || error FROM {DOCUMENTS} WHERE id = ANY(%s)", [uploads])
    )
    lost = [pk for pk in uploads if pk not in rows]
    bad = [pk for pk, state in rows.items() if not (state == "ready:" or (state.startswith("failed:") and state[7:]))]
    problems = [f"{len(lost)} acknowledged uploads lost: {lost[:SHOWN]}"] if lost else []
    return problems + ([f"{len(bad)} uploads neither ready nor failed with a reason: {bad[:SHOWN]}"] if bad else [])


def duplicate_chunks(workspaces: list[int]) -> list[str]:
    rows = _rows(
        f"SELECT version_id, ordinal, count(*) FROM {CHUNKS} WHERE workspace_id = ANY(%s) "
        "GROUP BY version_id, ordinal HAVING count(*) > 1",
        [workspaces],
    )
    return [f"{len(rows)} (version, ordinal) pairs with several chunks: {rows[:SHOWN]}"] if rows else []


def orphan_chunks(workspaces: list[int]) -> list[str]:
    """Chunks of a version that is not their document's current one (nothing is being ingested after a drill)."""
    rows = _rows(
        f"SELECT c.document_id, c.version_id, d.current_version_id, count(*) FROM {CHUNKS} AS c "
        f"JOIN {DOCUMENTS} AS d ON d.id = c.document_id WHERE c.workspace_id = ANY(%s) "
        "AND c.version_id IS DISTINCT FROM d.current_version_id GROUP BY 1, 2, 3",
        [workspaces],
    )
    return [f"chunks of a version that is not current (document, version, current, n): {rows[:SHOWN]}"] if rows else []


_EXPECTED_POSTINGS = f"""SELECT c.workspace_id, u.lexeme, c.id, c.document_id,
    coalesce(array_length(u.positions, 1), 1), c.search_length
    FROM {CHUNKS} AS c, unnest(c.search_vector) AS u WHERE c.workspace_id = ANY(%s)"""
_ACTUAL_POSTINGS = """SELECT workspace_id, lexeme, chunk_id, document_id, tf, length FROM retrieval_posting
    WHERE workspace_id = ANY(%s)"""


def postings(workspaces: list[int]) -> list[str]:
    """``retrieval_posting`` equals what the chunks' search vectors give: none missing or wrong, none extra
    (e.g. pointing at a deleted chunk)."""
    missing = _rows(f"{_EXPECTED_POSTINGS} EXCEPT {_ACTUAL_POSTINGS}", [workspaces, workspaces])
    extra = _rows(f"{_ACTUAL_POSTINGS} EXCEPT {_EXPECTED_POSTINGS}", [workspaces, workspaces])
    problems = [f"{len(missing)} postings missing or wrong: {missing[:SHOWN]}"] if missing else []
    return problems + ([f"{len(extra)} postings the chunks do not give: {extra[:SHOWN]}"] if extra else [])


def workspace_stats(workspaces: list[int]) -> list[str]:
    """(chunk_count, total_length) of each workspace equal the chunks with a search vector, recomputed."""
    rows = _rows(
        f"""SELECT w.id, coalesce(s.chunk_count, 0), coalesce(s.total_length, 0), count(c.id),
                   coalesce(sum(c.search_length), 0)
            FROM unnest(%s::bigint[]) AS w(id)
            LEFT JOIN retrieval_workspacestats AS s ON s.workspace_id = w.id
            LEFT JOIN {CHUNKS} AS c ON c.workspace_id = w.id AND c.search_vector IS NOT NULL
            GROUP BY w.id, s.chunk_count, s.total_length""",
        [workspaces],
    )
    wrong = [row for row in rows if (row[1], row[2]) != (row[3], row[4])]
    return [f"workspace stats differ (ws, N, length, recomputed N, length): {wrong[:SHOWN]}"] if wrong else []


_EXPECTED_TERMS = f"""SELECT c.workspace_id, u.lexeme, count(*) FROM {CHUNKS} AS c, unnest(c.search_vector) AS u
    WHERE c.workspace_id = ANY(%s) GROUP BY 1, 2"""
_ACTUAL_TERMS = "SELECT workspace_id, lexeme, df FROM retrieval_termstats WHERE workspace_id = ANY(%s) AND df <> 0"


def term_stats(workspaces: list[int]) -> list[str]:
    """The document frequency of every lexeme equals the count of chunks holding it, recomputed."""
    missing = _rows(f"{_EXPECTED_TERMS} EXCEPT {_ACTUAL_TERMS}", [workspaces, workspaces])
    extra = _rows(f"{_ACTUAL_TERMS} EXCEPT {_EXPECTED_TERMS}", [workspaces, workspaces])
    problems = [f"{len(missing)} term stats missing or wrong: {missing[:SHOWN]}"] if missing else []
    return problems + ([f"{len(extra)} term stats no chunk gives: {extra[:SHOWN]}"] if extra else [])


def half_written_messages(workspaces: list[int]) -> list[str]:
    rows = _rows(
        f"SELECT m.id FROM {MESSAGES} AS m JOIN {CONVERSATIONS} AS c ON c.id = m.conversation_id "
        "WHERE c.workspace_id = ANY(%s) AND m.role = 'assistant' AND btrim(m.content) = ''",
        [workspaces],
    )
    return [f"{len(rows)} assistant messages without content: {[r[0] for r in rows[:SHOWN]]}"] if rows else []


def orphan_files(workspaces: list[int], since: datetime) -> list[str]:
    """Stored files under ``MEDIA_ROOT/uploads/<workspace>/``, written since ``since``, that no document version
    holds (half-stored)."""
    media = Path(settings.MEDIA_ROOT)
    held = {str(name) for (name,) in _rows(f"SELECT file FROM {VERSIONS} WHERE workspace_id = ANY(%s)", [workspaces])}
    found = [
        str(path.relative_to(media))
        for workspace in workspaces
        for path in (media / "uploads" / str(workspace)).glob("*")
        if path.is_file() and path.stat().st_mtime >= since.timestamp()
    ]
    orphans = [name for name in found if name not in held]
    return [f"{len(orphans)} stored files no version holds: {orphans[:SHOWN]}"] if orphans else []


CHECKS: dict[str, Callable[[list[int]], list[str]]] = {
    "stuck documents": stuck_documents,
    "duplicate chunks": duplicate_chunks,
    "orphan chunks": orphan_chunks,
    "postings": postings,
    "workspace stats": workspace_stats,
    "term stats": term_stats,
    "half-written messages": half_written_messages,
}


def data_checks(*, workspaces: list[int], uploads: list[int], since: datetime) -> dict[str, list[str]]:
    """Every check's problems by name (``uploads``: the acknowledged uploads of the drill, which started at
    ``since``)."""
    results = {name: check(workspaces) for name, check in CHECKS.items()}
    results["uploads ended"] = uploads_ended(uploads)
    results["orphan files"] = orphan_files(workspaces, since)
    return results


def unanswered_questions(workspaces: list[int], since: datetime) -> int:
    """Questions asked since ``since`` (a datetime) that no assistant message followed: their answer was cut
    (informative: the question is stored whole, and asking again works)."""
    rows = _rows(
        f"""SELECT count(*) FROM {MESSAGES} AS q JOIN {CONVERSATIONS} AS c ON c.id = q.conversation_id
            WHERE c.workspace_id = ANY(%s) AND q.role = 'user' AND q.created_at >= %s
              AND NOT EXISTS (SELECT 1 FROM {MESSAGES} AS a WHERE a.conversation_id = q.conversation_id
                              AND a.role = 'assistant' AND a.id > q.id)""",
        [workspaces, since],
    )
    return int(rows[0][0])
