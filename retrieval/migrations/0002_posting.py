"""The inverted index BM25 reads: one posting (workspace, lexeme, chunk, tf, chunk length) per lexeme of every
chunk's tsvector, kept by the statistics triggers of 0001 (replaced here), and filled from existing chunks.

The primary key carries ``tf``, ``length`` and ``document_id`` in the index (``INCLUDE``), so a term's postings
are one index-only range scan; the chunks table (text, embedding, TOASTed tsvector) is not read at query time.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

# 0001's trigger function (without its CREATE TRIGGER statements), restored when this migration is reversed.
STATS_FUNCTION_0001 = importlib.import_module("retrieval.migrations.0001_initial").STATS_FUNCTION.split(
    "CREATE TRIGGER"
)[0]

# The postings of the old rows are deleted through the primary key (workspace, lexeme, chunk) with the old
# rows' own lexemes, so no extra index is needed; those of the new rows are inserted.
DELETE_POSTINGS = """
        DELETE FROM retrieval_posting AS p
        USING (SELECT o.workspace_id, u.lexeme, o.id FROM old_rows AS o, unnest(o.search_vector) AS u) AS d
        WHERE p.workspace_id = d.workspace_id AND p.lexeme = d.lexeme AND p.chunk_id = d.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN"""
INSERT_POSTINGS = """
        INSERT INTO retrieval_posting (workspace_id, lexeme, chunk_id, document_id, tf, length)
        SELECT n.workspace_id, u.lexeme, n.id, n.document_id, coalesce(array_length(u.positions, 1), 1),
               coalesce(n.search_length, 0)
        FROM new_rows AS n, unnest(n.search_vector) AS u;
    END IF;
    RETURN NULL;"""


def _with_postings(function: str) -> str:
    """0001's function with the posting statements added at the end of its DELETE and INSERT branches."""
    middle = "\n    END IF;\n    IF TG_OP IN ('INSERT', 'UPDATE') THEN"
    end = "\n    END IF;\n    RETURN NULL;"
    assert function.count(middle) == 1 and function.count(end) == 1, "0001's trigger function changed shape"
    return function.replace(middle, DELETE_POSTINGS).replace(end, INSERT_POSTINGS)


STATS_FUNCTION = _with_postings(STATS_FUNCTION_0001)

COVERING_KEY = """
ALTER TABLE retrieval_posting DROP CONSTRAINT retrieval_posting_pkey;
ALTER TABLE retrieval_posting ADD CONSTRAINT retrieval_posting_pkey
    PRIMARY KEY (workspace_id, lexeme, chunk_id) INCLUDE (tf, length, document_id);
"""

BACKFILL = """
INSERT INTO retrieval_posting (workspace_id, lexeme, chunk_id, document_id, tf, length)
SELECT c.workspace_id, u.lexeme, c.id, c.document_id, coalesce(array_length(u.positions, 1), 1),
       coalesce(c.search_length, 0)
FROM documents_chunk AS c, unnest(c.search_vector) AS u;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_workspace_text_search_config_validator"),
        ("retrieval", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Posting",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "workspace_id",
                        "lexeme",
                        "chunk_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("lexeme", models.TextField()),
                ("chunk_id", models.BigIntegerField()),
                ("document_id", models.BigIntegerField()),
                (
                    "tf",
                    models.IntegerField(
                        help_text="Positions of the lexeme in the chunk (a tsvector keeps at most 256)."
                    ),
                ),
                ("length", models.IntegerField(help_text="The chunk's length in tokens (Chunk.search_length).")),
                (
                    "workspace",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="accounts.workspace",
                    ),
                ),
            ],
        ),
        migrations.RunSQL(COVERING_KEY, migrations.RunSQL.noop),
        migrations.RunSQL(STATS_FUNCTION, STATS_FUNCTION_0001),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
