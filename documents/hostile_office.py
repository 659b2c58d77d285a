"""The hostile corpus's office and e-book files (``documents.hostile`` runs them): one per ZIP-based format,
each built to make its reader slow or large (claimed sheet sizes, repeated rows and cells, long titles, deep
nesting, wide tables, a spine that lists one chapter again and again). Deterministic; sizes scale with ``size``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pptx
from odf import dc, draw, style, table, text
from odf.opendocument import OpenDocumentPresentation, OpenDocumentSpreadsheet, OpenDocumentText
from pptx.util import Inches


def _words(count: int, seed: int) -> list[str]:
    from documents.hostile import distinct_words  # documents.hostile imports this module

    return distinct_words(count, seed=seed)


def pptx_hostile(directory: Path, size: int) -> Path:
    """Slides with titles of thousands of words, a 60-column table, and text boxes nested 30 groups deep."""
    deck = pptx.Presentation()
    deck.core_properties.title = " ".join(_words(30, seed=5))[:255]
    words = _words(2000, seed=6)
    for _ in range(max(1, size // 40_000)):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = " ".join(words)
        slide.placeholders[1].text = " ".join(words) * 2
        frame = slide.shapes.add_table(2, 60, Inches(0), Inches(5), Inches(9), Inches(1))
        for cell in frame.table.iter_cells():
            cell.text = "**cell"
        shapes = slide.shapes
        for _ in range(30):
            shapes = shapes.add_group_shape().shapes
        shapes.add_textbox(Inches(1), Inches(1), Inches(1), Inches(1)).text_frame.text = "deep"
    path = directory / "hostile.pptx"
    deck.save(str(path))
    return path


def xlsx_hostile(directory: Path, size: int) -> Path:
    """A sheet claiming A1:XFD1048576, rows of 1,000 columns, a header of long names, a row numbered 10^12."""
    book = openpyxl.Workbook()
    sheet = book.active
    words = _words(1000, seed=7)
    sheet.append([word * 20 for word in words])
    for row in range(max(1, size // 8_000)):
        sheet.append([row * 1000 + column for column in range(1000)])
    path = directory / "hostile.xlsx"
    book.save(str(path))
    far = b'<row r="1000000000000"><c r="XFD1000000000000" t="inlineStr"><is><t>far</t></is></c></row>'
    claim = b'<dimension ref="A1:XFD1048576"/>'
    _rewrite(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(rb'<dimension ref="[^"]*"/>', claim, xml.replace(b"</sheetData>", far + b"</sheetData>")),
    )
    return path


def odt_hostile(directory: Path, size: int) -> Path:
    """A long title and headings at outline level 99, a space run claiming a billion spaces, spans nested
    thousands deep."""
    document = OpenDocumentText()
    words = _words(2000, seed=8)
    document.meta.addElement(dc.Title(text=" ".join(words[:500])))
    for index in range(max(1, size // 30_000)):
        document.text.addElement(text.H(outlinelevel=1 + index % 99, text=" ".join(words)))
        paragraph = text.P(text="wide")
        paragraph.addElement(text.S(c=1_000_000_000))
        paragraph.addText(" ".join(words))
        document.text.addElement(paragraph)
    path = directory / "hostile.odt"
    document.save(str(path))
    deep = b"<text:p>" + b"<text:span>" * 3000 + b"deep" + b"</text:span>" * 3000 + b"</text:p>"
    _rewrite(path, "content.xml", lambda xml: xml.replace(b"</office:text>", deep + b"</office:text>"))
    return path


def ods_hostile(directory: Path, size: int) -> Path:
    """A million empty rows in one element, then a row of 16,384 repeated non-empty cells repeated a million times."""
    document = OpenDocumentSpreadsheet()
    sheet = table.Table(name=" ".join(_words(300, seed=9)))
    header = table.TableRow()
    for word in _words(max(10, size // 2_000), seed=10):
        cell = table.TableCell()
        cell.addElement(text.P(text=word))
        header.addElement(cell)
    sheet.addElement(header)
    empty = table.TableRow(numberrowsrepeated=1_000_000)
    empty.addElement(table.TableCell(numbercolumnsrepeated=16_384))
    sheet.addElement(empty)
    full = table.TableRow(numberrowsrepeated=1_000_000)
    cell = table.TableCell(numbercolumnsrepeated=1_000_000_000)
    cell.addElement(text.P(text="x"))
    full.addElement(cell)
    sheet.addElement(full)
    document.spreadsheet.addElement(sheet)
    path = directory / "hostile.ods"
    document.save(str(path))
    return path


def odp_hostile(directory: Path, size: int) -> Path:
    """Pages whose title frames hold thousands of words, and notes as long."""
    document = OpenDocumentPresentation()
    layout = style.PageLayout(name="layout")
    document.automaticstyles.addElement(layout)
    master = style.MasterPage(name="master", pagelayoutname=layout)
    document.masterstyles.addElement(master)
    words = " ".join(_words(2000, seed=11))
    for number in range(max(1, size // 30_000)):
        page = draw.Page(name=f"page{number}", masterpagename=master)
        for role in ("title", "outline"):
            frame = draw.Frame(width="20cm", height="3cm", x="1cm", y="1cm", **{"class": role})
            box = draw.TextBox()
            box.addElement(text.P(text=words))
            frame.addElement(box)
            page.addElement(frame)
        document.presentation.addElement(page)
    path = directory / "hostile.odp"
    document.save(str(path))
    return path


def epub_hostile(directory: Path, size: int) -> Path:
    """A spine listing one chapter 20,000 times, then a chapter of elements nested thousands deep; a title of
    500 words."""
    words = _words(500, seed=12)
    depth = max(100, size // 12)
    chapters = {
        "c.xhtml": f"<html><body><h1>{' '.join(words[:50])}</h1><p>{' '.join(words)}</p></body></html>",
        "deep.xhtml": "<html><body>" + "<div>" * depth + "<p>deep</p>" + "</div>" * depth + "</body></html>",
    }
    manifest = "".join(f'<item id="{n}" href="{n}" media-type="application/xhtml+xml"/>' for n in chapters)
    opf = (
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata'
        f' xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{" ".join(words)}</dc:title></metadata>'
        f"<manifest>{manifest}</manifest><spine>"
        + '<itemref idref="c.xhtml"/>' * 20_000
        + '<itemref idref="deep.xhtml"/></spine></package>'
    )
    container = (
        '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0"><rootfiles>'
        '<rootfile full-path="content.opf"/></rootfiles></container>'
    )
    path = directory / "hostile.epub"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("content.opf", opf)
        for name, chapter in chapters.items():
            archive.writestr(name, chapter)
    return path


def _rewrite(path: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    """Replace one member of the ZIP at ``path`` by ``change(its bytes)``, keeping the others and their order."""
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, change(data) if info.filename == member else data)


OFFICE_BUILDERS = (pptx_hostile, xlsx_hostile, odt_hostile, ods_hostile, odp_hostile, epub_hostile)
