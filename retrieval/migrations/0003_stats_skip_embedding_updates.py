"""The statistics trigger skips an UPDATE that changes no search column (re-embedding's swap of the ``embedding``
column: ``documents.services.reembed``). Without this it deleted and re-inserted every posting of the updated
chunks, in the swap's transaction, for nothing.

A statement-level trigger with transition tables cannot name columns (``UPDATE OF``), so the function compares
the old and new rows itself; a statement that changes a search column of any row takes the full path.
"""

import importlib

from django.db import migrations

STATS_FUNCTION_0002 = importlib.import_module("retrieval.migrations.0002_posting").STATS_FUNCTION

# Nested: PL/pgSQL plans the whole condition, and an INSERT or DELETE trigger has no old_rows or new_rows.
GUARD = """
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (
            SELECT 1 FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
            WHERE n.search_vector IS DISTINCT FROM o.search_vector
               OR n.search_length IS DISTINCT FROM o.search_length
               OR n.workspace_id <> o.workspace_id OR n.document_id <> o.document_id
        ) THEN
            RETURN NULL;
        END IF;
    END IF;"""


def _guarded(function: str) -> str:
    head = "\nBEGIN"
    assert function.count(head) == 1, "0002's trigger function changed shape"
    return function.replace(head, GUARD)


STATS_FUNCTION = _guarded(STATS_FUNCTION_0002)


class Migration(migrations.Migration):
    dependencies = [("retrieval", "0002_posting")]

    operations = [migrations.RunSQL(STATS_FUNCTION, STATS_FUNCTION_0002)]
