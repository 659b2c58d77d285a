"""ZIP-based formats (Office Open XML, OpenDocument, EPUB): which one a ZIP holds, decided from its members
(``zip_kind``), and the checks every one of them passes before a parser opens it (``check_zip``: zip bombs,
damaged archives, the format's main part).

Only the central directory is read, plus the small ``mimetype`` member of ODF and EPUB files: milliseconds
for a 25 MB file. The extension only breaks ties (a ZIP holding both ``word/`` and ``ppt/``) and never
overrides the members, so a presentation named ``.docx`` is still read as a presentation.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from django.conf import settings

from documents.services.extract_errors import SUPPORTED, CorruptFile, UnsupportedType, ZipBomb

# kind -> (what it is, in words; the member it cannot be read without)
ZIP_FORMATS: dict[str, tuple[str, str]] = {
    "docx": ("a Word document (DOCX)", "word/document.xml"),
    "pptx": ("a PowerPoint presentation (PPTX)", "ppt/presentation.xml"),
    "xlsx": ("an Excel workbook (XLSX)", "xl/workbook.xml"),
    "odt": ("an OpenDocument text (ODT)", "content.xml"),
    "ods": ("an OpenDocument spreadsheet (ODS)", "content.xml"),
    "odp": ("an OpenDocument presentation (ODP)", "content.xml"),
    "epub": ("an EPUB e-book", "META-INF/container.xml"),
}
ZIP_KINDS = tuple(ZIP_FORMATS)
RATIO_MIN_BYTES = 1024 * 1024  # members this large may not compress better than ZIP_MAX_RATIO : 1
MIMETYPE_MAX_BYTES = 256  # a longer "mimetype" member is not an ODF/EPUB one

_OOXML_FOLDERS = (("word/", "docx"), ("ppt/", "pptx"), ("xl/", "xlsx"))
_MIMETYPES = (  # the "mimetype" member of ODF and EPUB files (ODF templates read as their documents)
    ("application/epub+zip", "epub"),
    ("application/vnd.oasis.opendocument.text", "odt"),
    ("application/vnd.oasis.opendocument.spreadsheet", "ods"),
    ("application/vnd.oasis.opendocument.presentation", "odp"),
)
_EXTENSIONS = {f".{kind}": kind for kind in ZIP_KINDS} | {".docm": "docx", ".pptm": "pptx", ".xlsm": "xlsx"}


def zip_kind_by_name(filename: str) -> str:
    """The ZIP kind a file name suggests (".pptx" -> "pptx"; "docx" for any other name): a guess for when
    only a file's head is known; ``zip_kind`` decides from the members."""
    return _EXTENSIONS.get(Path(filename).suffix.lower(), "docx")


def zip_kind(path: Path, filename: str = "") -> str:
    """The kind (one of ``ZIP_KINDS``) of the ZIP at ``path``, from its members: an ODF/EPUB ``mimetype``
    member, the Office Open XML folders (``word/``, ``ppt/``, ``xl/`` next to ``[Content_Types].xml``) or main
    parts (``word/document.xml``, ...), else ``META-INF/container.xml`` (an EPUB without its mimetype).
    ``filename``'s extension breaks ties only.

    Raises ``CorruptFile`` (not a readable ZIP) and ``UnsupportedType`` (another kind of ZIP, named).
    """
    names, mimetype = _members(path)
    ooxml = "[Content_Types].xml" in names
    candidates = [
        kind
        for prefix, kind in _OOXML_FOLDERS
        if ZIP_FORMATS[kind][1] in names or (ooxml and any(name.startswith(prefix) for name in names))
    ]
    candidates += [kind for prefix, kind in _MIMETYPES if mimetype.startswith(prefix.encode())]
    if not candidates and "META-INF/container.xml" in names:
        candidates = ["epub"]
    if not candidates:
        raise UnsupportedType(f"This looks like {describe_zip(names, mimetype)}; {SUPPORTED}")
    by_name = _EXTENSIONS.get(Path(filename).suffix.lower())
    return by_name if by_name in candidates else candidates[0]


def check_zip(path: Path, kind: str) -> None:
    """A file of ZIP kind ``kind`` is a sane ZIP: at most ``ZIP_MAX_MEMBERS`` members expanding to at most
    ``ZIP_MAX_UNZIPPED_BYTES`` bytes, none over 1 MiB compressed better than ``ZIP_MAX_RATIO`` : 1 (else
    ``ZipBomb``), readable (``CorruptFile``), holding the format's main part (else ``UnsupportedType``, naming
    what it holds). The sizes are the central directory's; ``zipfile`` never reads a member past them."""
    what, main_part = ZIP_FORMATS[kind]
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, ValueError) as exc:
        raise CorruptFile(f"This file is damaged or not {what}, so it cannot be read.") from exc
    check_zip_limits(members)
    names = {member.filename for member in members}
    if main_part not in names:
        holds = describe_zip(names, _members(path)[1])
        if holds == what:
            raise CorruptFile(f"This file is damaged: {what} without its {main_part}, so it cannot be read.")
        raise UnsupportedType(f"This looks like {holds}; {SUPPORTED}")


def check_zip_limits(members: list[zipfile.ZipInfo]) -> None:
    """Raise ``ZipBomb`` (with the reason) when a ZIP's members (its ``infolist()``) are too much to unpack: more
    than ``ZIP_MAX_MEMBERS``, expanding past ``ZIP_MAX_UNZIPPED_BYTES``, or one over 1 MiB compressed better than
    ``ZIP_MAX_RATIO`` : 1. Used for documents (``check_zip``) and for archives walked by a bulk import."""
    if reason := _bomb_reason(members):
        raise ZipBomb(f"{reason} (a possible zip bomb), so it is not read.")


def _bomb_reason(members: list[zipfile.ZipInfo]) -> str:
    """Why a ZIP's members are too much to unpack (``ZIP_MAX_*`` settings), or "" when they are not."""
    if len(members) > (limit := settings.ZIP_MAX_MEMBERS):
        return f"This file holds {len(members):,} parts, more than the {limit:,} allowed"
    if (total := sum(member.file_size for member in members)) > (limit := settings.ZIP_MAX_UNZIPPED_BYTES):
        return f"This file would expand to {total / 1024**2:,.0f} MB, more than the {limit / 1024**2:,.0f} MB allowed"
    ratio = settings.ZIP_MAX_RATIO
    if any(m.file_size > RATIO_MIN_BYTES and m.file_size > ratio * max(m.compress_size, 1) for m in members):
        return f"This file would expand to far more data than it holds: a part is compressed more than {ratio}:1"
    return ""


def _members(path: Path) -> tuple[set[str], bytes]:
    """The member names of a ZIP and its "mimetype" member's bytes (b"" when absent or too large)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            info = archive.getinfo("mimetype") if "mimetype" in names else None
            mimetype = archive.read(info).strip() if info and info.file_size <= MIMETYPE_MAX_BYTES else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, ValueError) as exc:
        raise CorruptFile("This file is damaged or not a document, so it cannot be read.") from exc
    return names, mimetype


def describe_zip(names: set[str], mimetype: bytes) -> str:
    """What a ZIP holds in words, from its member names and its "mimetype" member (ODF, EPUB)."""
    if "[Content_Types].xml" in names:
        for prefix, kind in _OOXML_FOLDERS:
            if any(name.startswith(prefix) for name in names):
                return ZIP_FORMATS[kind][0]
    for prefix, kind in _MIMETYPES:
        if mimetype.startswith(prefix.encode()):
            return ZIP_FORMATS[kind][0]
    if mimetype.startswith(b"application/epub"):
        return "an EPUB e-book"
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return "an OpenDocument file of a kind Groundwork does not read (drawing, formula, chart)"
    return "a ZIP archive"
