"""Scratch workspaces for the evaluation and benchmark commands: set up, hand over, tear down.

The commands (``evaluate_retrieval``, ``bench_search``, ``bench_ingest``, ``evaluate_answers``,
``bench_chat``) load a corpus into a workspace of their own, owned by a service user, and remove it
afterwards unless the operator keeps it for later runs (which then reuse it: only missing documents are
added).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.core.files import File

from accounts.models import User, Workspace
from accounts.services.workspaces import workspace_create
from documents.services.lifecycle import document_delete
from documents.services.upload import document_upload

EVALUATION_OWNER = "evaluation@groundwork.local"  # the evaluate_* commands' service user
BENCH_OWNER = "bench@groundwork.local"  # the bench_* commands' service user


@dataclass(frozen=True)
class Scratch:
    """The workspace a command works in and its owner (the service user)."""

    owner: User
    workspace: Workspace


@contextmanager
def scratch_workspace(
    *, owner_email: str, name: str, keep: bool = False, cleanup: Callable[[Workspace], object] | None = None
) -> Iterator[Scratch]:
    """The workspace ``name`` of the user ``owner_email`` (both created when missing; an existing one is
    reused), for the duration of the ``with`` block.

    On exit, even after an error: ``cleanup(workspace)`` first when given (e.g. deleting the conversations a
    run created, kept or not), then, unless ``keep``, every document (``document_delete``: chunks and stored
    files) and the workspace itself.
    """
    owner, _ = User.objects.get_or_create(email=owner_email)
    workspace = Workspace.objects.filter(name=name, memberships__user=owner).first()
    if workspace is None:
        workspace = workspace_create(owner=owner, name=name)
    try:
        yield Scratch(owner=owner, workspace=workspace)
    finally:
        if cleanup is not None:
            cleanup(workspace)
        if not keep:
            for document in workspace.documents.all():
                document_delete(document=document)
            workspace.delete()


def scratch_upload(scratch: Scratch, files: list[Path]) -> list[int]:
    """Upload every file into the scratch workspace as its owner, through the upload service (each document
    enqueued for ingestion once committed); the documents' ids, in ``files`` order."""
    ids = []
    for path in files:
        with path.open("rb") as f:
            result = document_upload(
                workspace=scratch.workspace, user=scratch.owner, file=File(f, name=path.name), filename=path.name
            )
        ids.append(result.document.pk)
    return ids
