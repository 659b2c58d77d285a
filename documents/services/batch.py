"""Several files in one upload request (``POST /api/v1/documents/batch/``): each goes through the upload service on
its own and gets its own result, so one refused file does not fail the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from config.errors import ApplicationError
from documents.services.upload import document_upload, upload_rate_check

if TYPE_CHECKING:
    from django.core.files import File

    from accounts.models import User, Workspace
    from documents.models import Document


@dataclass(frozen=True)
class BatchResult:
    """One file's result: ``status`` "created", "duplicate" (the same bytes are already ``document``) or "refused"
    (``error``: the API error shape, ``{"detail", "code"}``)."""

    filename: str
    status: str
    document: Document | None
    error: dict[str, str] | None


def documents_upload_batch(
    *, workspace: Workspace, user: User, files: list[tuple[File, str]], first_counted: bool = True
) -> list[BatchResult]:
    """Upload ``files`` (file, original name) into ``workspace`` one by one, in order; never raises for one file's
    refusal (type, size, limits, ``UploadRateLimited``): that is its result. Each file counts one upload against the
    user's hourly limit (``upload_rate_check``); ``first_counted``: the caller already counted the first one (before
    reading the request's body). Database errors propagate."""
    results = []
    for index, (file, filename) in enumerate(files):
        try:
            if index or not first_counted:
                upload_rate_check(user=user)
            result = document_upload(workspace=workspace, user=user, file=file, filename=filename)
        except ApplicationError as exc:
            results.append(BatchResult(filename, "refused", None, {"detail": exc.message, "code": exc.code}))
        else:
            results.append(BatchResult(filename, "created" if result.created else "duplicate", result.document, None))
    return results
