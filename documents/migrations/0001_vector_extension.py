from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector, for chunk embeddings. Needs a role allowed to create extensions (the embedded one is)."""

    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [VectorExtension()]
