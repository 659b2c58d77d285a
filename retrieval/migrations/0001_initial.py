"""BM25 statistics tables, kept current by statement-level triggers on documents_chunk, and golden sets.

The triggers use transition tables (one aggregate per statement, not one per row) and take a transaction-
scoped advisory lock per workspace first, in workspace order, so concurrent ingestion into one workspace
serializes its statistics updates instead of deadlocking on term rows.
"""

import django.db.models.deletion
from django.db import migrations, models

STATS_FUNCTION = """
CREATE OR REPLACE FUNCTION retrieval_chunk_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM pg_advisory_xact_lock(1917, w.workspace_id::int)
        FROM (SELECT DISTINCT workspace_id FROM old_rows ORDER BY 1) AS w;
        UPDATE retrieval_workspacestats AS s
        SET chunk_count = s.chunk_count - d.n, total_length = s.total_length - d.len, generation = s.generation + 1
        FROM (SELECT workspace_id, count(*) AS n, coalesce(sum(search_length), 0) AS len
              FROM old_rows WHERE search_vector IS NOT NULL GROUP BY 1) AS d
        WHERE s.workspace_id = d.workspace_id;
        UPDATE retrieval_termstats AS t SET df = t.df - d.n
        FROM (SELECT o.workspace_id, u.lexeme, count(*) AS n
              FROM old_rows AS o, unnest(o.search_vector) AS u GROUP BY 1, 2) AS d
        WHERE t.workspace_id = d.workspace_id AND t.lexeme = d.lexeme;
        DELETE FROM retrieval_termstats AS t
        USING (SELECT DISTINCT o.workspace_id, u.lexeme FROM old_rows AS o, unnest(o.search_vector) AS u) AS d
        WHERE t.workspace_id = d.workspace_id AND t.lexeme = d.lexeme AND t.df <= 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_advisory_xact_lock(1917, w.workspace_id::int)
        FROM (SELECT DISTINCT workspace_id FROM new_rows ORDER BY 1) AS w;
        INSERT INTO retrieval_workspacestats AS s (workspace_id, chunk_count, total_length, generation)
        SELECT workspace_id, count(*), coalesce(sum(search_length), 0), 1
        FROM new_rows WHERE search_vector IS NOT NULL GROUP BY 1
        ON CONFLICT (workspace_id) DO UPDATE SET
            chunk_count = s.chunk_count + EXCLUDED.chunk_count,
            total_length = s.total_length + EXCLUDED.total_length,
            generation = s.generation + 1;
        INSERT INTO retrieval_termstats AS t (workspace_id, lexeme, df)
        SELECT n.workspace_id, u.lexeme, count(*)
        FROM new_rows AS n, unnest(n.search_vector) AS u GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (workspace_id, lexeme) DO UPDATE SET df = t.df + EXCLUDED.df;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER retrieval_chunk_stats_insert AFTER INSERT ON documents_chunk
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_stats();
CREATE TRIGGER retrieval_chunk_stats_delete AFTER DELETE ON documents_chunk
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_stats();
CREATE TRIGGER retrieval_chunk_stats_update AFTER UPDATE ON documents_chunk
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_stats();
"""

DROP_STATS_FUNCTION = """
DROP TRIGGER IF EXISTS retrieval_chunk_stats_insert ON documents_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_stats_delete ON documents_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_stats_update ON documents_chunk;
DROP FUNCTION IF EXISTS retrieval_chunk_stats();
"""

BACKFILL = """
INSERT INTO retrieval_workspacestats (workspace_id, chunk_count, total_length, generation)
SELECT workspace_id, count(*), coalesce(sum(search_length), 0), 1
FROM documents_chunk WHERE search_vector IS NOT NULL GROUP BY 1;
INSERT INTO retrieval_termstats (workspace_id, lexeme, df)
SELECT c.workspace_id, u.lexeme, count(*) FROM documents_chunk AS c, unnest(c.search_vector) AS u GROUP BY 1, 2;
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0002_workspace_text_search_config"),
        ("documents", "0003_chunk_search_length"),
    ]

    operations = [
        migrations.CreateModel(
            name="WorkspaceStats",
            fields=[
                (
                    "workspace",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="accounts.workspace",
                    ),
                ),
                ("chunk_count", models.BigIntegerField(default=0, help_text="N: chunks with a search vector.")),
                ("total_length", models.BigIntegerField(default=0, help_text="Sum of chunk lengths in tokens.")),
                ("generation", models.BigIntegerField(default=0, help_text="Bumped by every change, for caches.")),
            ],
            options={"verbose_name_plural": "workspace stats"},
        ),
        migrations.CreateModel(
            name="TermStats",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "workspace_id", "lexeme", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="accounts.workspace",
                    ),
                ),
                ("lexeme", models.TextField()),
                ("df", models.IntegerField()),
            ],
            options={"verbose_name_plural": "term stats"},
        ),
        migrations.CreateModel(
            name="GoldenQuery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("question", models.TextField()),
                (
                    "expected_passage",
                    models.TextField(
                        blank=True,
                        help_text="Optional: a passage of that document that must be retrieved (exact words).",
                    ),
                ),
                ("note", models.CharField(blank=True, max_length=300)),
                (
                    "expected_document",
                    models.ForeignKey(
                        help_text="The document that answers the question.",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="golden_queries",
                        to="documents.document",
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="golden_queries",
                        to="accounts.workspace",
                    ),
                ),
            ],
            options={"ordering": ["workspace_id", "id"], "verbose_name_plural": "golden queries"},
        ),
        migrations.RunSQL(STATS_FUNCTION, DROP_STATS_FUNCTION),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
