"""An upload handler that enforces MAX_UPLOAD_BYTES while the request body streams in."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

TOO_LARGE_FLAG = "upload_too_large"


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops reading a file part once it passes ``MAX_UPLOAD_BYTES``: the file never lands complete in
    memory or on disk. The request is marked (``request.upload_too_large = True``) so the view can answer
    413 with a clear message; the rest of the body is drained so the client receives that answer."""

    def new_file(
        self,
        field_name: str,
        file_name: str,
        content_type: str,
        content_length: int | None,
        charset: str | None = None,
        content_type_extra: dict[str, bytes] | None = None,
    ) -> None:
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
