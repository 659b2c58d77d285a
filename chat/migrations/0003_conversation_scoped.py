from django.db import migrations, models


def mark_scoped(apps, schema_editor):
    """Conversations that are limited to documents today keep that limit once the documents are deleted."""
    Conversation = apps.get_model("chat", "Conversation")
    Conversation.objects.filter(documents__isnull=False).update(scoped=True)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_citation_passage_end_citation_passage_start_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="scoped",
            field=models.BooleanField(
                default=False,
                help_text="Limited to chosen documents: stays limited (and says so) even once they are all deleted.",
            ),
        ),
        migrations.RunPython(mark_scoped, migrations.RunPython.noop),
    ]
