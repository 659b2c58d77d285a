"""Extraction of the ZIP-based formats (``containers.ZIP_KINDS``): Word, PowerPoint and Excel files,
OpenDocument text, spreadsheets and presentations, and EPUB e-books, into a ``extract._Builder``.

Each file passes ``check_zip`` (zip bombs, damaged archives) before a parser opens it; library errors become
``CorruptFile``; presentations have at most ``max_pages`` slides (``DocumentTooLarge``, counted before the
slides are parsed); spreadsheets at most ``EXTRACT_MAX_CSV_ROWS`` rows with a value and ``EXTRACT_MAX_CELLS``
cells and rows visited (``ExtractionError``), so a sheet claiming a million rows costs only the rows it holds;
OpenDocument files at most ``EXTRACT_ODF_MAX_XML_BYTES`` of XML (``DocumentTooLarge``): odfpy builds a Python
object per element, about 1 MB of XML a second and 28 bytes of memory per byte of XML (measured: 6.8 MB of
content.xml, 8 s and 190 MB).
Every reader fills ``builder.title`` from the format's metadata (core properties, ``dc:title``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
import xml.etree.ElementTree
import xml.sax
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import defusedxml
import defusedxml.ElementTree
import docx
import lxml.etree
import odf.opendocument
import openpyxl
import pptx
from django.conf import settings
from docx.exceptions import PythonDocxError
from docx.opc.exceptions import OpcError
from openpyxl.utils.exceptions import InvalidFileException
from pptx.exc import PythonPptxError

from documents.services.containers import ZIP_FORMATS, check_zip
from documents.services.decode import decode_text
from documents.services.extract_errors import CorruptFile, DocumentTooLarge, ExtractionError
from documents.services.formats import Block
from documents.services.formats.csv import Cells, labelled_rows
from documents.services.formats.docx import docx_blocks
from documents.services.formats.epub import epub_book
from documents.services.formats.html import html_plain_blocks
from documents.services.formats.odf import odf_body, odf_title, odp_slide_count, odp_slides, ods_sheets, odt_blocks
from documents.services.formats.pptx import pptx_slides, pptx_title
from documents.services.formats.xlsx import xlsx_sheets, xlsx_title

if TYPE_CHECKING:
    from documents.services.extract import _Builder

logger = logging.getLogger(__name__)

_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError)
# What the parsers raise on malformed parts (a missing part, a value of the wrong type or out of range, an unknown
# encoding): openpyxl's descriptors raise TypeError, python-pptx AttributeError on a relationships part that is
# not one, XML declarations LookupError.
_PARSER_ERRORS = (KeyError, ValueError, IndexError, TypeError, AttributeError, LookupError, OverflowError)
_LIBRARY_ERRORS = (PythonDocxError, OpcError, PythonPptxError, InvalidFileException)
_XML_ERRORS = (lxml.etree.LxmlError, xml.etree.ElementTree.ParseError, xml.sax.SAXException)
_ODF_PARTS = {"odt": "text", "ods": "spreadsheet", "odp": "presentation"}
_P_NS = "{http://schemas.openxmlformats.org/presentationml/2006/main}"


def extract_container(path: Path, kind: str, builder: _Builder, *, max_pages: int) -> None:
    """Read the file at ``path`` of ZIP kind ``kind`` into ``builder`` (see the module docstring).

    Raises ``ZipBomb``, ``CorruptFile``, ``UnsupportedType`` (from ``check_zip``), ``CorruptFile`` (the parser
    failed, or the XML declares entities: a possible XML bomb), ``DocumentTooLarge``, ``ExtractionTimeout``
    and ``ExtractionError`` (over a row or cell bound).
    """
    check_zip(path, kind)
    what = ZIP_FORMATS[kind][0].removeprefix("a ").removeprefix("an ")
    try:
        if kind == "docx":
            _docx(path, builder)
        elif kind == "pptx":
            _pptx(path, builder, max_pages)
        elif kind == "xlsx":
            _xlsx(path, builder)
        elif kind == "epub":
            _epub(path, builder)
        else:
            _odf(path, kind, builder, max_pages)
    except (*_ZIP_ERRORS, *_PARSER_ERRORS, *_LIBRARY_ERRORS, *_XML_ERRORS) as exc:
        logger.info("unreadable %s: %s: %.200s", kind, type(exc).__name__, exc)
        if _declares_entities(exc):
            raise CorruptFile(
                f"This {what} declares XML entities (a possible XML bomb), so it is not read: save it again and"
                " upload the new file."
            ) from exc
        raise CorruptFile(f"This {what} is damaged, so its text cannot be read.") from exc


def _declares_entities(exc: BaseException) -> bool:
    """Whether ``exc`` or an exception it was raised from (openpyxl wraps its parser's errors in ValueError) is
    defusedxml refusing entity declarations or libxml2 refusing their expansion (billion laughs)."""
    for _ in range(10):
        if isinstance(exc, defusedxml.DefusedXmlException) or "amplification" in str(exc):
            return True
        if (cause := exc.__cause__ or exc.__context__) is None:
            return False
        exc = cause
    return False


def _docx(path: Path, builder: _Builder) -> None:
    document = docx.Document(str(path))
    builder.title = " ".join((document.core_properties.title or "").split())
    for block in docx_blocks(document):
        builder.add(block)


def _pptx(path: Path, builder: _Builder, max_pages: int) -> None:
    with zipfile.ZipFile(path) as archive, archive.open("ppt/presentation.xml") as source:
        slides = sum(1 for _, element in defusedxml.ElementTree.iterparse(source) if element.tag == f"{_P_NS}sldId")
    _check_slides(slides, max_pages)
    presentation = pptx.Presentation(str(path))
    builder.title = pptx_title(presentation)
    for number, blocks in enumerate(pptx_slides(presentation), start=1):
        builder.slide(number, blocks)


def _xlsx(path: Path, builder: _Builder) -> None:
    with path.open("rb") as file:  # a file, not a path: openpyxl refuses paths not named .xlsx (stored files are not)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about unsupported extensions, styles, data validation
            try:
                workbook = openpyxl.load_workbook(file, read_only=True, data_only=True, keep_links=False)
            except OSError as exc:  # openpyxl: "File contains no valid workbook part"
                raise ValueError(str(exc)) from exc
        try:
            builder.title = xlsx_title(workbook)
            add_sheets(builder, xlsx_sheets(workbook))
        finally:
            workbook.close()


def _odf(path: Path, kind: str, builder: _Builder, max_pages: int) -> None:
    with zipfile.ZipFile(path) as archive:
        xml_bytes = sum(info.file_size for info in archive.infolist() if info.filename.endswith(".xml"))
    if xml_bytes > (limit := settings.EXTRACT_ODF_MAX_XML_BYTES):
        raise DocumentTooLarge(
            f"This OpenDocument file holds {xml_bytes / 1e6:,.1f} MB of XML, more than the {limit / 1e6:,.1f} MB that"
            " can be read; split it, or save it in the Microsoft Office format (DOCX, XLSX, PPTX), and upload that."
        )
    sax_errors = _SaxFailures()
    with contextlib.redirect_stdout(sax_errors):  # odfpy prints a part it fails to parse, and goes on without it
        document = odf.opendocument.load(str(path))
    if sax_errors.failed:
        raise ValueError("odfpy could not parse a part")
    builder.title = odf_title(document)
    body = odf_body(document, _ODF_PARTS[kind])
    if body is None:
        return
    if kind == "odt":
        for block in odt_blocks(body):
            builder.add(block)
    elif kind == "odp":
        _check_slides(odp_slide_count(body), max_pages)
        for number, blocks in enumerate(odp_slides(body), start=1):
            builder.slide(number, blocks)
    else:
        add_sheets(builder, ods_sheets(body))


class _SaxFailures(io.TextIOBase):
    """Standard output while odfpy loads: dropped (odfpy prints the whole XML of a part it cannot parse: the
    document's text, never for the logs), remembering whether a part failed."""

    failed = False

    def write(self, text: str) -> int:
        self.failed = self.failed or "SAX FAILED TO PARSE" in text
        return len(text)


def _epub(path: Path, builder: _Builder) -> None:
    with zipfile.ZipFile(path) as archive:
        book = epub_book(archive)
        builder.title = book.title
        for name in book.documents:
            builder.check_deadline()
            for block in html_plain_blocks(decode_text(archive.read(name))):
                builder.add(block)


def _check_slides(slides: int, max_pages: int) -> None:
    if slides > max_pages:
        raise DocumentTooLarge(
            f"This presentation has {slides:,} slides, more than the {max_pages:,} allowed; split it into smaller"
            " files and upload those."
        )


def add_sheets(builder: _Builder, sheets: Iterable[tuple[str, Iterator[Cells]]]) -> None:
    """Each sheet as a section (its name a level-1 heading) of "column: value; ..." rows (``labelled_rows``),
    within the row and cell bounds of the module docstring."""
    visits, rows = [0], 0
    for number, (name, sheet_rows) in enumerate(sheets, start=1):
        builder.add(Block(name.strip() or f"Sheet {number}", 1))
        rows = add_table_rows(builder, labelled_rows(_bounded(sheet_rows, builder, visits)), "spreadsheet", rows)


def add_table_rows(builder: _Builder, paragraphs: Iterable[str], what: str, done: int = 0) -> int:
    """Add table rows (one paragraph each) to ``builder``, ``done`` rows having been added before; raises
    ``ExtractionError`` past ``settings.EXTRACT_MAX_CSV_ROWS`` in all. Returns the rows added in all."""
    max_rows = settings.EXTRACT_MAX_CSV_ROWS
    for paragraph in paragraphs:
        done += 1
        if done > max_rows:
            raise ExtractionError(
                f"This {what} has more than {max_rows:,} rows; split it into smaller files and upload those."
            )
        builder.paragraph(paragraph)
    return done


def _bounded(rows: Iterable[Cells], builder: _Builder, visits: list[int]) -> Iterator[Cells]:
    """``rows``, counting each row and cell read in ``visits[0]`` (shared by a workbook's sheets) and raising
    ``ExtractionError`` past ``settings.EXTRACT_MAX_CELLS``; checks the extraction deadline as it goes."""
    limit = settings.EXTRACT_MAX_CELLS
    for row in rows:
        visits[0] += 1 + len(row)
        if visits[0] > limit:
            raise ExtractionError(
                f"This spreadsheet has more than {limit:,} cells and rows to read; split it into smaller files"
                " and upload those."
            )
        builder.check_deadline()
        yield row
