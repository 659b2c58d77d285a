from django.db import migrations, models

BACKFILL = """
UPDATE documents_chunk SET search_length = (
    SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0) FROM unnest(search_vector)
) WHERE search_vector IS NOT NULL
"""


class Migration(migrations.Migration):
    dependencies = [("documents", "0002_initial")]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="search_length",
            field=models.PositiveIntegerField(
                default=0, help_text="Tokens in search_vector (positions counted): the BM25 document length."
            ),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
