"""The errors of reading a file, in words the uploader reads: raised at upload (sniffing, checks) and in the
worker (extraction). Each has a stable ``code`` for the API's error format."""

from __future__ import annotations

from config.errors import ApplicationError

SUPPORTED = (
    "Groundwork reads PDF, Word (DOCX), PowerPoint (PPTX), Excel (XLSX), OpenDocument (ODT, ODS, ODP), EPUB, HTML,"
    " Markdown, text, CSV, e-mail (EML) and images (PNG, JPEG, TIFF)."
)


class ExtractionError(ApplicationError):
    code = "extraction_failed"


class EmptyFile(ExtractionError):
    code = "empty_file"


class UnsupportedType(ExtractionError):
    status_code = 415
    code = "unsupported_type"


class EncryptedPdf(ExtractionError):
    code = "encrypted_pdf"


class CorruptFile(ExtractionError):
    code = "corrupt_file"


class ZipBomb(ExtractionError):
    code = "zip_bomb"


class NoExtractableText(ExtractionError):
    code = "no_text"


class DocumentTooLarge(ExtractionError):
    """Over a per-document cap (characters, pages or chunks: ``DOCUMENT_MAX_*`` settings)."""

    code = "document_too_large"


class ExtractionTimeout(ExtractionError):
    """Extraction ran past ``EXTRACT_MAX_SECONDS`` (checked between blocks and pages)."""

    code = "extraction_timeout"


class ImageTooLarge(ExtractionError):
    """An image (a frame of it) over ``OCR_MAX_IMAGE_PIXELS``: refused before it is decoded."""

    code = "image_too_large"
