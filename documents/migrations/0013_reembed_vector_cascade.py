"""A new vector written while its chunk is being deleted goes with it: the database cascades the deletion too
(Django cascades only the rows it saw), so deleting a document never fails on a row re-embedding wrote meanwhile
(``documents.services.reembed``). A migration of its own: Django adds 0012's foreign keys at that migration's end."""

from django.db import migrations

CASCADE_CHUNK = """
DO $$
DECLARE name text;
BEGIN
    SELECT conname INTO name FROM pg_constraint
    WHERE conrelid = 'documents_reembedvector'::regclass AND contype = 'f'
      AND confrelid = 'documents_chunk'::regclass;
    EXECUTE format('ALTER TABLE documents_reembedvector DROP CONSTRAINT %I', name);
    EXECUTE format('ALTER TABLE documents_reembedvector ADD CONSTRAINT %I FOREIGN KEY (chunk_id) '
                   'REFERENCES documents_chunk (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED', name);
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("documents", "0012_reembed")]

    operations = [migrations.RunSQL(CASCADE_CHUNK, migrations.RunSQL.noop)]
