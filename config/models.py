"""Abstract model plumbing shared by all apps."""

from django.db import models


class BaseModel(models.Model):
    """Adds ``created_at`` / ``updated_at`` timestamps (UTC)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
