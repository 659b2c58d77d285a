"""Bulk import from the server's disk (``manage.py import_documents``): walk folders and ZIP archives into
``ImportSource``s (``import_sources``) and import each through the upload service (``document_import``).

A file is imported once: the same bytes anywhere in the workspace are "unchanged" (the upload service deduplicates
by SHA-256), and a file whose path (``Document.source_path``) was imported before but whose bytes changed becomes
a new version of that document. So a re-run imports only what is new or changed.

An import is an operator's action on the server: it is not counted against ``UPLOADS_PER_USER_PER_HOUR`` (that
limit protects the web API from a user's scripts); the workspace's document and storage limits and every upload
check apply as for any upload.
"""

from __future__ import annotations

import contextlib
import enum
import fnmatch
import hashlib
import logging
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile

from config.errors import ApplicationError
from documents.models import Document, DocumentVersion
from documents.services.containers import check_zip_limits, describe_zip
from documents.services.extract_errors import ZipBomb
from documents.services.upload import document_upload, document_version_upload, file_too_large_message

if TYPE_CHECKING:
    from accounts.models import User, Workspace

logger = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    NEW = "new"
    UNCHANGED = "unchanged"
    NEW_VERSION = "new version"
    REFUSED = "refused"


@dataclass(frozen=True)
class ImportSource:
    """One file to import: ``path`` is recorded as ``Document.source_path`` (the absolute path; a ZIP member as
    "<archive path>/<member name>"), ``relative`` is what ``--include``/``--exclude`` match (the path under the
    folder given, or the archive's, then "/<member>"); ``size`` in bytes."""

    path: str
    relative: str
    name: str
    size: int
    archive: Path | None = None  # set for a ZIP member: the archive, and ``member`` its name inside
    member: str = ""


class SourceReader:
    """Opens ``ImportSource``s, keeping the last ZIP archive open (sources are sorted, so an archive's members come
    together: its directory is read once). Use as a context manager."""

    def __init__(self) -> None:
        self.archive: zipfile.ZipFile | None = None
        self.archive_path: Path | None = None

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.archive is not None:
            self.archive.close()

    @contextlib.contextmanager
    def open(self, source: ImportSource) -> Iterator[File]:
        """The file's bytes as a Django ``File`` (a ZIP member read into memory: ``import_sources`` checked it is
        at most ``MAX_UPLOAD_BYTES``). Raises OSError (and ``zipfile.BadZipFile``) when it cannot be read."""
        if source.archive is None:
            with open(source.path, "rb") as handle:
                yield File(handle, name=source.name)
            return
        if self.archive_path != source.archive:
            self.__exit__()
            self.archive, self.archive_path = zipfile.ZipFile(source.archive), source.archive
        assert self.archive is not None
        yield ContentFile(self.archive.read(source.member), name=source.name)


@dataclass
class Walk:
    """What ``import_sources`` found: the files to import, the ones refused before reading them (path, reason)
    and how many were left out (``--include``/``--exclude``, hidden, sub-folders without ``--recursive``)."""

    sources: list[ImportSource] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    excluded: int = 0
    folders_skipped: int = 0


def import_sources(paths: list[Path], *, recursive: bool, include: list[str], exclude: list[str]) -> Walk:
    """Every file under ``paths`` (files, folders: their files, and all of a folder's tree with ``recursive``),
    with the members of ZIP archives (a ZIP that is not a document format) as files of their own. Hidden files
    and folders (".name") and "__MACOSX" are skipped; a file is kept when it matches one of ``include`` (if given)
    and none of ``exclude`` (shell globs against its relative path or its name). An archive over the ZIP limits
    (``check_zip_limits``), a member over ``MAX_UPLOAD_BYTES`` or a missing path is refused with the reason.
    Sorted by path."""
    walk = Walk()
    for root in paths:
        root = root.expanduser().resolve()
        if not root.exists():
            walk.refused.append((str(root), "No such file or folder."))
        elif root.is_dir():
            for path, relative in _folder_files(root, recursive, walk):
                _add_file(walk, path, relative, include, exclude)
        else:
            _add_file(walk, root, root.name, include, exclude)
    walk.sources.sort(key=lambda source: source.path)
    return walk


def _folder_files(root: Path, recursive: bool, walk: Walk) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.iterdir()):
        if _hidden(path.name):
            continue
        if path.is_dir():
            if recursive:
                for inner, relative in _folder_files(path, recursive, walk):
                    yield inner, f"{path.name}/{relative}"
            else:
                walk.folders_skipped += 1
        elif path.is_file():
            yield path, path.name


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _wanted(relative: str, include: list[str], exclude: list[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]

    def matches(pattern: str) -> bool:
        return fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern)

    return (not include or any(map(matches, include))) and not any(map(matches, exclude))


def _add_file(walk: Walk, path: Path, relative: str, include: list[str], exclude: list[str]) -> None:
    if not is_archive(path):
        if _wanted(relative, include, exclude):
            walk.sources.append(ImportSource(str(path), relative, path.name, path.stat().st_size))
        else:
            walk.excluded += 1
        return
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
        check_zip_limits(members)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError):
        walk.refused.append((str(path), "This ZIP archive is damaged, so its files cannot be read."))
        return
    except ZipBomb as exc:
        walk.refused.append((str(path), exc.message))
        return
    latest = {member.filename: member for member in members}  # a name added again replaces the older entry
    for member in latest.values():
        parts = member.filename.split("/")
        if member.is_dir() or any(_hidden(part) for part in parts):
            continue
        inner = f"{relative}/{member.filename}"
        if not _wanted(inner, include, exclude):
            walk.excluded += 1
        elif member.file_size > settings.MAX_UPLOAD_BYTES:
            walk.refused.append((f"{path}/{member.filename}", file_too_large_message()))
        else:
            source = ImportSource(
                f"{path}/{member.filename}", inner, parts[-1], member.file_size, path, member.filename
            )
            walk.sources.append(source)


def is_archive(path: Path) -> bool:
    """True for a ZIP file that is an archive of files, not a document format stored as a ZIP (DOCX, XLSX, PPTX,
    ODF, EPUB: ``describe_zip``); False for anything else, a damaged ZIP included (the upload says why)."""
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, KeyError):
        return False
    return "word/document.xml" not in names and describe_zip(names, mimetype) == "a ZIP archive"


@dataclass(frozen=True)
class ImportResult:
    outcome: Outcome
    document: Document | None  # None when refused
    message: str


def document_import(
    *, workspace: Workspace, user: User | None, file: File, filename: str, source_path: str
) -> ImportResult:
    """Import one file (``file``, named ``filename``, read from ``source_path``) into ``workspace`` as ``user``
    (the recorded uploader; None: the operator).

    NEW: a new document (``source_path`` recorded). UNCHANGED: the same bytes are already a document of the
    workspace. NEW_VERSION: a document was imported from this path before and the bytes changed: they become its
    new version. REFUSED: any upload error (type, size, limits, a document still being ingested), with the message.
    Not counted against the hourly upload limit (an operator's action). Database errors propagate.
    """
    existing = (
        Document.objects.filter(workspace=workspace, source_path=source_path)
        .exclude(source_path="")
        .order_by("pk")
        .first()
    )
    try:
        if existing is None:
            result = document_upload(
                workspace=workspace, user=user, file=file, filename=filename, source_path=source_path
            )
            return ImportResult(Outcome.NEW if result.created else Outcome.UNCHANGED, result.document, result.message)
        same = DocumentVersion.objects.filter(workspace=workspace, sha256=_sha256(file)).first()
        if same is not None:
            return ImportResult(Outcome.UNCHANGED, same.document, "Unchanged.")
        version = document_version_upload(document=existing, user=user, file=file, filename=filename)
    except ApplicationError as exc:
        return ImportResult(Outcome.REFUSED, None, exc.message)
    return ImportResult(Outcome.NEW_VERSION, existing, f"Version {version.number} of “{existing.title}”.")


def _sha256(file: File) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for block in file.chunks():
        digest.update(block)
    file.seek(0)
    return digest.hexdigest()


@dataclass
class ImportSummary:
    """Counts per ``Outcome``, the refused files with their reasons, the ids of the documents to ingest (new
    ones and new versions), bytes read and whether the run was interrupted."""

    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    refused: list[tuple[str, str]] = field(default_factory=list)
    queued_ids: list[int] = field(default_factory=list)
    bytes_read: int = 0
    interrupted: bool = False


def documents_import(
    *,
    workspace: Workspace,
    user: User | None,
    walk: Walk,
    progress: Callable[[int, int, int], None] | None = None,
) -> ImportSummary:
    """Import every source of ``walk`` in order (``document_import``), calling ``progress(files_done,
    bytes_done, bytes_total)`` after each; the refused files of the walk are counted as refused. Stops early on
    KeyboardInterrupt (``interrupted``; what was imported stays). Database errors propagate."""
    summary = ImportSummary()
    for path, reason in walk.refused:
        summary.counts[Outcome.REFUSED] += 1
        summary.refused.append((path, reason))
    total = sum(source.size for source in walk.sources)
    try:
        with SourceReader() as reader:
            for done, source in enumerate(walk.sources, start=1):
                result = _import_one(reader, workspace, user, source)
                summary.counts[result.outcome] += 1
                summary.bytes_read += source.size
                if result.outcome is Outcome.REFUSED:
                    summary.refused.append((source.path, result.message))
                elif result.outcome in (Outcome.NEW, Outcome.NEW_VERSION) and result.document is not None:
                    summary.queued_ids.append(result.document.pk)
                if progress is not None:
                    progress(done, summary.bytes_read, total)
    except KeyboardInterrupt:
        summary.interrupted = True
    logger.info(
        "import into workspace %s: %s",
        workspace.pk,
        ", ".join(f"{outcome} {count}" for outcome, count in summary.counts.items()),
    )
    return summary


def _import_one(reader: SourceReader, workspace: Workspace, user: User | None, source: ImportSource) -> ImportResult:
    try:
        with reader.open(source) as file:
            return document_import(
                workspace=workspace, user=user, file=file, filename=source.name, source_path=source.path
            )
    except (
        OSError,
        zipfile.BadZipFile,
        zlib.error,
    ) as exc:  # unreadable: permissions, vanished meanwhile, damaged member
        return ImportResult(Outcome.REFUSED, None, f"This file could not be read ({exc}).")
