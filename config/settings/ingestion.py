"""Ingestion settings (part of ``config.settings.base``): the embedding model, upload and per-workspace limits,
chunking, the ingestion sweeper and fairness between workspaces, the hostile-input bounds of extraction and the
index-amplification bounds of a document. See .env.example for every variable."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import env
from config.settings.paths import BASE_DIR, default_data_dir

# The embedding model is loaded from site-packages; never from a hub (a lookup would hang offline). These go
# into os.environ, where the libraries read them, unless the process sets them (to a non-empty value).
for _name, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    if not env.str(_name, default=""):
        os.environ[_name] = _value
EMBEDDING_VARIANT = env.str("EMBEDDING_VARIANT", default="auto")
if EMBEDDING_VARIANT not in {"auto", "torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8", "onnx-int8-avx2", "static"}:
    raise ImproperlyConfigured(
        "EMBEDDING_VARIANT must be auto, torch-fp32, torch-bf16, onnx-fp32, onnx-int8, onnx-int8-avx2 or static"
    )
# Empty: the image's prebuilt files (models/ beside the code, made by its build) if there, else models/ in the
# data folder.
_PREBUILT = BASE_DIR / "models"
EMBEDDING_ARTIFACTS_DIR = env.str("EMBEDDING_ARTIFACTS_DIR", default="") or str(
    _PREBUILT if _PREBUILT.is_dir() else default_data_dir() / "models"
)
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", default=32)
# Re-embedding (documents.services.reembed): chunks per slice (one task; the next is queued after it), per
# committed batch, the seconds a run holds a job without progress before another takes it over, and how often
# the beat looks for workspaces a change of EMBEDDING_VARIANT left behind.
REEMBED_SLICE_CHUNKS = env.int("REEMBED_SLICE_CHUNKS", default=2048)
REEMBED_BATCH_CHUNKS = env.int("REEMBED_BATCH_CHUNKS", default=256)
REEMBED_LEASE_SECONDS = env.int("REEMBED_LEASE_SECONDS", default=600)
REEMBED_SWEEP_SECONDS = env.int("REEMBED_SWEEP_SECONDS", default=300)
if min(REEMBED_SLICE_CHUNKS, REEMBED_BATCH_CHUNKS, REEMBED_LEASE_SECONDS, REEMBED_SWEEP_SECONDS) < 1:
    raise ImproperlyConfigured("REEMBED_SLICE_CHUNKS, _BATCH_CHUNKS, _LEASE_SECONDS and _SWEEP_SECONDS must be >= 1")
EMBEDDING_THREADS = env.int("EMBEDDING_THREADS", default=0)  # 0: automatic (config/bootstrap.py)
EMBEDDING_PRELOAD_IN_WORKER = env.bool("EMBEDDING_PRELOAD_IN_WORKER", default=True)
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=25_000_000)
# One upload request (the page's form with several files, or any multipart request) carries at most
# UPLOAD_REQUEST_MAX_BYTES bytes (its Content-Length) and UPLOAD_REQUEST_MAX_FILES files: 413 request_too_large,
# checked by documents.uploads before any file part is read. Django's own cap is one file above ours, so ours answers.
UPLOAD_REQUEST_MAX_BYTES = env.int("UPLOAD_REQUEST_MAX_BYTES", default=100_000_000)
UPLOAD_REQUEST_MAX_FILES = env.int("UPLOAD_REQUEST_MAX_FILES", default=100)
if UPLOAD_REQUEST_MAX_BYTES < MAX_UPLOAD_BYTES + 65_536:
    raise ImproperlyConfigured("UPLOAD_REQUEST_MAX_BYTES must hold one file of MAX_UPLOAD_BYTES and its form (+64 KiB)")
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_REQUEST_MAX_FILES + 1
# Per-workspace caps (stored bytes of all document versions; documents; chunks of all documents) and uploads per
# user per hour (all workspaces; counted in the Redis cache). Staff override the WORKSPACE_* and DOCUMENT_MAX_*
# caps per workspace in the admin (documents.WorkspaceLimitOverride; read through documents.limits).
WORKSPACE_STORAGE_MAX_BYTES = env.int("WORKSPACE_STORAGE_MAX_BYTES", default=5_000_000_000)
WORKSPACE_DOCUMENTS_MAX = env.int("WORKSPACE_DOCUMENTS_MAX", default=10_000)
WORKSPACE_CHUNKS_MAX = env.int("WORKSPACE_CHUNKS_MAX", default=2_000_000)
UPLOADS_PER_USER_PER_HOUR = env.int("UPLOADS_PER_USER_PER_HOUR", default=500)
CHUNK_TARGET_TOKENS = env.int("CHUNK_TARGET_TOKENS", default=200)
CHUNK_OVERLAP_TOKENS = env.int("CHUNK_OVERLAP_TOKENS", default=32)
INGEST_STALE_SECONDS = env.int("INGEST_STALE_SECONDS", default=120)
INGEST_MAX_ATTEMPTS = env.int("INGEST_MAX_ATTEMPTS", default=3)
INGEST_SWEEP_SECONDS = env.int("INGEST_SWEEP_SECONDS", default=30)
# Fairness between workspaces (documents.services.scheduling): a document that has held its worker for
# INGEST_SLICE_SECONDS gives it up (keeping its finished embeddings) to a document of another workspace that has
# waited INGEST_YIELD_WAIT_SECONDS with nothing in progress. 0 turns yielding off.
INGEST_SLICE_SECONDS = env.float("INGEST_SLICE_SECONDS", default=15.0)
INGEST_YIELD_WAIT_SECONDS = env.float("INGEST_YIELD_WAIT_SECONDS", default=5.0)
# Small documents are ingested together (documents.services.ingest_batch): a worker whose fairest document is at
# most INGEST_BATCH_FILE_MAX_BYTES takes up to INGEST_BATCH_DOCUMENTS such documents, INGEST_BATCH_MAX_BYTES in all,
# and embeds their chunks together. INGEST_BATCH_DOCUMENTS = 1 turns batching off.
INGEST_BATCH_DOCUMENTS = env.int("INGEST_BATCH_DOCUMENTS", default=64)
INGEST_BATCH_FILE_MAX_BYTES = env.int("INGEST_BATCH_FILE_MAX_BYTES", default=65_536)
INGEST_BATCH_MAX_BYTES = env.int("INGEST_BATCH_MAX_BYTES", default=262_144)
# Hostile-input bounds of extraction (documents.services.extract*): structure is read only on lines up to
# EXTRACT_MAX_LINE_CHARS, CSV dialects are sniffed on EXTRACT_CSV_SNIFF_BYTES, a PDF outline gives at most
# EXTRACT_MAX_OUTLINE_ENTRIES sections.
EXTRACT_MAX_LINE_CHARS = env.int("EXTRACT_MAX_LINE_CHARS", default=4096)
EXTRACT_CSV_SNIFF_BYTES = env.int("EXTRACT_CSV_SNIFF_BYTES", default=4096)
EXTRACT_MAX_OUTLINE_ENTRIES = env.int("EXTRACT_MAX_OUTLINE_ENTRIES", default=10_000)
EXTRACT_HTML_MAX_TAGS = env.int("EXTRACT_HTML_MAX_TAGS", default=20_000)
EXTRACT_HTML_MAX_DEPTH = env.int("EXTRACT_HTML_MAX_DEPTH", default=64)
EXTRACT_MAX_SECONDS = env.int("EXTRACT_MAX_SECONDS", default=120)
# OCR (documents.services.ocr): Tesseract through pytesseract, one OpenMP thread per OCR process. OCR_ENABLED "auto"
# turns it on when the tesseract binary (OCR_TESSERACT_CMD) and every OCR_LANGUAGES pack ("eng", "eng+deu") are
# found; "true" requires them (a worker without them refuses to start); "false" turns it off. Read by OCR: image
# uploads (PNG, JPEG, TIFF: each frame a page) and the PDF pages with fewer than OCR_MIN_PAGE_CHARS non-space
# characters of text layer, rendered at OCR_DPI (scaled down to at most OCR_MAX_IMAGE_PIXELS; an image upload over
# it is refused). One page's OCR stops after OCR_PAGE_MAX_SECONDS (the page is recorded as not read; keep it under
# INGEST_STALE_SECONDS: the worker's heartbeat comes between pages); a document with pages to read gets
# OCR_MAX_SECONDS more than EXTRACT_MAX_SECONDS. Pages whose mean word confidence (0-100) is below OCR_LOW_CONFIDENCE
# are flagged on the document.
OCR_ENABLED = env.str("OCR_ENABLED", default="auto").lower()
if OCR_ENABLED not in {"auto", "true", "false"}:
    raise ImproperlyConfigured("OCR_ENABLED must be auto, true or false")
OCR_TESSERACT_CMD = env.str("OCR_TESSERACT_CMD", default="tesseract")
OCR_LANGUAGES = env.str("OCR_LANGUAGES", default="eng")
OCR_DPI = env.int("OCR_DPI", default=200)
OCR_MIN_PAGE_CHARS = env.int("OCR_MIN_PAGE_CHARS", default=50)
OCR_PAGE_MAX_SECONDS = env.float("OCR_PAGE_MAX_SECONDS", default=60.0)
OCR_MAX_SECONDS = env.int("OCR_MAX_SECONDS", default=1200)
OCR_LOW_CONFIDENCE = env.int("OCR_LOW_CONFIDENCE", default=60)
OCR_MAX_IMAGE_PIXELS = env.int("OCR_MAX_IMAGE_PIXELS", default=40_000_000)
if OCR_DPI < 50 or OCR_PAGE_MAX_SECONDS <= 0 or OCR_MAX_IMAGE_PIXELS < 1_000_000:
    raise ImproperlyConfigured("OCR_DPI must be >= 50, OCR_PAGE_MAX_SECONDS > 0 and OCR_MAX_IMAGE_PIXELS >= 1000000")
# A CSV file or a spreadsheet (all its sheets) with more rows holding a value, or a spreadsheet with more cells and rows
# to read than EXTRACT_MAX_CELLS (empty ones too), fails with the reason. A ZIP-based file (DOCX, PPTX, XLSX, ODT, ODS,
# ODP, EPUB) with more members, expanding to more bytes, or with a member over 1 MiB compressed better than
# ZIP_MAX_RATIO : 1, is refused at upload as a possible zip bomb.
EXTRACT_MAX_CSV_ROWS = env.int("EXTRACT_MAX_CSV_ROWS", default=200_000)
EXTRACT_MAX_CELLS = env.int("EXTRACT_MAX_CELLS", default=10_000_000)
# odfpy reads OpenDocument files (ODT, ODS, ODP) into a Python object per XML element: about 1 MB of XML per second
# and 28 bytes of memory per byte. A file with more XML than this fails with the reason (save it as DOCX/XLSX/PPTX).
EXTRACT_ODF_MAX_XML_BYTES = env.int("EXTRACT_ODF_MAX_XML_BYTES", default=10_000_000)
ZIP_MAX_MEMBERS = env.int("ZIP_MAX_MEMBERS", default=10_000)
ZIP_MAX_UNZIPPED_BYTES = env.int("ZIP_MAX_UNZIPPED_BYTES", default=200 * 1024 * 1024)
ZIP_MAX_RATIO = env.int("ZIP_MAX_RATIO", default=100)
# An e-mail message's first EML_MAX_ATTACHMENTS attachments become documents of their own (each within the upload
# limits); the others are listed on the message's page. Attachments of an attached message are not read.
EML_MAX_ATTACHMENTS = env.int("EML_MAX_ATTACHMENTS", default=20)
# Index amplification bounds: a heading in a heading path has at most DOCUMENT_HEADING_MAX_CHARS characters and a
# path at most DOCUMENT_HEADING_MAX_DEPTH headings; a chunk's context (title + heading path) takes at most
# CHUNK_CONTEXT_MAX_PERCENT % of the model's window; a document over DOCUMENT_MAX_CHARS extracted characters,
# DOCUMENT_MAX_PAGES pages or DOCUMENT_MAX_CHUNKS chunks fails with the reason.
DOCUMENT_HEADING_MAX_CHARS = env.int("DOCUMENT_HEADING_MAX_CHARS", default=200)
DOCUMENT_HEADING_MAX_DEPTH = env.int("DOCUMENT_HEADING_MAX_DEPTH", default=6)
CHUNK_CONTEXT_MAX_PERCENT = env.int("CHUNK_CONTEXT_MAX_PERCENT", default=25)
DOCUMENT_MAX_CHARS = env.int("DOCUMENT_MAX_CHARS", default=5_000_000)
DOCUMENT_MAX_PAGES = env.int("DOCUMENT_MAX_PAGES", default=2000)
DOCUMENT_MAX_CHUNKS = env.int("DOCUMENT_MAX_CHUNKS", default=20_000)
FILE_UPLOAD_HANDLERS = [
    "documents.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
