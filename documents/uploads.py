"""An upload handler that bounds what one request may make the server read and store: at most
``UPLOAD_REQUEST_MAX_BYTES`` bytes and ``UPLOAD_REQUEST_MAX_FILES`` files per request, and ``MAX_UPLOAD_BYTES``
per file, enforced while the request body streams in."""

from __future__ import annotations

import logging
from typing import IO

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from documents.services.upload import RequestTooLarge

logger = logging.getLogger(__name__)

TOO_LARGE_FLAG = "upload_too_large"
REQUEST_TOO_LARGE_FLAG = "upload_request_too_large"  # holds the message for the user


class SizeLimitUploadHandler(FileUploadHandler):
    """Runs first for every multipart request (``FILE_UPLOAD_HANDLERS``).

    - A request whose ``Content-Length`` is over ``UPLOAD_REQUEST_MAX_BYTES`` is marked before any part is read;
      its form fields up to the first file are still parsed (the CSRF token comes first in our forms), and
      parsing stops at its first file: no file part reaches memory or disk.
    - A request with more than ``UPLOAD_REQUEST_MAX_FILES`` file parts is marked and parsing stops at the
      first one over (Django's own ``DATA_UPLOAD_MAX_NUMBER_FILES`` is set one higher, so this answers first).
    - A file part over ``MAX_UPLOAD_BYTES`` stops being read once it passes the limit: it never lands complete in
      memory or on disk (``request.upload_too_large = True``).

    The rest of the body is then drained (not stored) so the client receives the answer: the view checks the
    marks (``upload_request_check`` and ``TOO_LARGE_FLAG``) and answers 413 with a clear message.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.files = 0
        self.received = 0

    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        limit = settings.UPLOAD_REQUEST_MAX_BYTES
        if content_length > limit:
            self._refuse(
                f"This upload of {content_length / 1_000_000:.1f} MB is larger than the limit of"
                f" {limit / 1_000_000:g} MB per request; send fewer or smaller files at once.",
                f"{content_length} bytes",
            )

    def new_file(
        self,
        field_name: str,
        file_name: str,
        content_type: str,
        content_length: int | None,
        charset: str | None = None,
        content_type_extra: dict[str, bytes] | None = None,
    ) -> None:
        if getattr(self.request, REQUEST_TOO_LARGE_FLAG, None):
            raise StopUpload(connection_reset=False)
        self.files += 1
        if self.files > settings.UPLOAD_REQUEST_MAX_FILES:
            self._refuse(
                f"This upload holds more than {settings.UPLOAD_REQUEST_MAX_FILES:,} files; send at most"
                f" {settings.UPLOAD_REQUEST_MAX_FILES:,} at once.",
                f"over {settings.UPLOAD_REQUEST_MAX_FILES} files",
            )
            raise StopUpload(connection_reset=False)
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.MAX_UPLOAD_BYTES:
            setattr(self.request, TOO_LARGE_FLAG, True)
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def _refuse(self, message: str, what: str) -> None:
        setattr(self.request, REQUEST_TOO_LARGE_FLAG, message)
        user = getattr(self.request, "user", None)
        logger.warning(
            "upload request refused: %s to %s (user %s)",
            what,
            getattr(self.request, "path", "?"),
            getattr(user, "pk", None),
        )


def upload_request_check(request: HttpRequest) -> None:
    """Raise ``RequestTooLarge`` (413 ``request_too_large``) if ``SizeLimitUploadHandler`` refused the request
    (over ``UPLOAD_REQUEST_MAX_BYTES`` bytes or ``UPLOAD_REQUEST_MAX_FILES`` files). Call it after the body is
    parsed (after reading ``request.FILES``), before using any file of it."""
    message = getattr(request, REQUEST_TOO_LARGE_FLAG, None)
    if message:
        raise RequestTooLarge(str(message))
