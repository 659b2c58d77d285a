"""Builders of real office and e-book files for tests: PowerPoint (python-pptx), Excel (openpyxl), OpenDocument
text, spreadsheets and presentations (odfpy) and EPUB (zipfile, by hand as the EPUB 3 specification lays it out),
filled with public-domain text: the Bill of Rights (its amendments) and the table of constitutional amendments.

Every ``make_*`` function writes one file into ``directory`` and returns its ``Path``. ``rewrite_zip`` derives
hostile variants from a real file (a member replaced or added), so they stay valid everywhere else.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import openpyxl
import pptx
import pptx.slide
from odf import dc, draw, presentation, style, table, text
from odf.opendocument import OpenDocumentPresentation, OpenDocumentSpreadsheet, OpenDocumentText
from pptx.util import Inches

from documents.demo_corpus.builders.common import blocks, read_amendments, read_source

# (title, body) of each amendment of the Bill of Rights (public domain).
_BILL = blocks(read_source("bill_of_rights.txt"))[1:]
AMENDMENTS: list[tuple[str, str]] = [(_BILL[i], _BILL[i + 1]) for i in range(0, 20, 2)]
# The table of the 27 amendments: header and rows (amendment, ratified_year, subject).
AMENDMENT_ROWS: list[list[str]] = [["amendment", "ratified_year", "subject"]] + [
    [row["amendment"], row["ratified_year"], row["subject"]] for row in read_amendments()
]
# (title, body, speaker notes) per slide.
Slide = tuple[str, str, str]
SLIDES: list[Slide] = [(title, body, f"Ratified in 1791: the {title.lower()}.") for title, body in AMENDMENTS[:4]]
BILL_BOM = "\ufeff"


def make_pptx(
    directory: Path,
    slides: Sequence[Slide] = SLIDES,
    *,
    name: str = "bill.pptx",
    title: str = "The Bill of Rights",
    extras: bool = True,
) -> Path:
    """A presentation with one "Title and Content" slide per (title, body, notes), a core-properties title and
    (``extras``) a table of the first amendments' subjects and a text box inside a group shape on the last
    slide."""
    deck = pptx.Presentation()
    deck.core_properties.title = title
    for slide_title, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = slide_title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    if extras:
        _add_table_and_group(deck.slides[-1])
    path = directory / name
    deck.save(str(path))
    return path


def _add_table_and_group(slide: pptx.slide.Slide) -> None:
    frame = slide.shapes.add_table(3, 2, Inches(1), Inches(5), Inches(6), Inches(1))
    for r, row in enumerate(AMENDMENT_ROWS[:3]):
        for c, value in enumerate((row[0], row[2])):
            frame.table.cell(r, c).text = value
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(6.5), Inches(4), Inches(0.5)).text_frame.text = "Grouped caption"


def make_many_slides_pptx(directory: Path, count: int, *, name: str = "many.pptx") -> Path:
    """A real presentation of ``count`` slides, each a copy of one "Title and Content" slide (its XML and
    relationships), listed in presentation.xml, its relationships and [Content_Types].xml as PowerPoint lists
    them; written member by member, so 50,000 slides take seconds (python-pptx takes minutes)."""
    one = make_pptx(directory, [(SLIDES[0][0], "", "")], name=f"one-{name}", extras=False)
    slide_type = "application/vnd.openxmlformats-officedocument.presentationml.slide+xml"
    rel_type = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide"
    ids = "".join(f'<p:sldId id="{256 + n}" r:id="rIdS{n}"/>' for n in range(2, count + 1))
    rels = "".join(
        f'<Relationship Id="rIdS{n}" Type="{rel_type}" Target="slides/slide{n}.xml"/>' for n in range(2, count + 1)
    )
    types = "".join(
        f'<Override PartName="/ppt/slides/slide{n}.xml" ContentType="{slide_type}"/>' for n in range(2, count + 1)
    )
    target = directory / name
    with zipfile.ZipFile(one) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "ppt/presentation.xml":
                data = data.replace(b"</p:sldIdLst>", ids.encode() + b"</p:sldIdLst>")
            elif info.filename == "ppt/_rels/presentation.xml.rels":
                data = data.replace(b"</Relationships>", rels.encode() + b"</Relationships>")
            elif info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", types.encode() + b"</Types>")
            archive.writestr(info.filename, data)
        slide, slide_rels = source.read("ppt/slides/slide1.xml"), source.read("ppt/slides/_rels/slide1.xml.rels")
        for n in range(2, count + 1):
            archive.writestr(f"ppt/slides/slide{n}.xml", slide)
            archive.writestr(f"ppt/slides/_rels/slide{n}.xml.rels", slide_rels)
    one.unlink()
    return target


def make_xlsx(directory: Path, *, name: str = "amendments.xlsx", title: str = "Constitutional amendments") -> Path:
    """A workbook: sheet "Amendments" (the 27 amendments with a header row), sheet "Totals" with a formula
    saved without a value (openpyxl never calculates) and a date, and a core-properties title."""
    import datetime

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Amendments"
    for row in AMENDMENT_ROWS:
        sheet.append([int(v) if v.isdigit() else v for v in row])
    totals = book.create_sheet("Totals")
    totals.append(["measure", "value"])
    totals.append(["amendments", "=COUNTA(Amendments!A2:A28)"])
    totals.append(["first ratified", datetime.date(1791, 12, 15)])
    totals.append(["share", 0.1 + 0.2])
    book.properties.title = title
    path = directory / name
    book.save(str(path))
    return path


def make_odt(directory: Path, *, name: str = "bill.odt", title: str = "The Bill of Rights") -> Path:
    """A text document: a level-1 heading, then each amendment as a level-2 heading and its paragraph (one with a
    <text:s> run and a line break), a table, and a dc:title."""
    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text=title))
    document.text.addElement(text.H(outlinelevel=1, text="The Bill of Rights"))
    for heading, body in AMENDMENTS[:3]:
        document.text.addElement(text.H(outlinelevel=2, text=heading))
        document.text.addElement(text.P(text=body))
    paragraph = text.P(text="Ratified")
    paragraph.addElement(text.S(c=3))
    paragraph.addText("December 15,")
    paragraph.addElement(text.LineBreak())
    paragraph.addText("1791.")
    document.text.addElement(paragraph)
    document.text.addElement(_odf_table("Subjects", AMENDMENT_ROWS[:3]))
    path = directory / name
    document.save(str(path))
    return path


def make_ods(directory: Path, *, name: str = "amendments.ods", empty_rows: int = 0) -> Path:
    """A spreadsheet with sheet "Amendments" (the 27 amendments), then ``empty_rows`` empty rows stored as one
    repeated row element (as LibreOffice stores a sheet's unused rows), then one more row."""
    document = OpenDocumentSpreadsheet()
    sheet = _odf_table("Amendments", AMENDMENT_ROWS)
    if empty_rows:
        filler = table.TableRow(numberrowsrepeated=empty_rows)
        filler.addElement(table.TableCell(numbercolumnsrepeated=1024))
        sheet.addElement(filler)
        sheet.addElement(_odf_row(["XXVIII", "", "After a million empty rows"]))
    document.spreadsheet.addElement(sheet)
    path = directory / name
    document.save(str(path))
    return path


def make_odp(directory: Path, slides: Sequence[Slide] = SLIDES, *, name: str = "bill.odp") -> Path:
    """A presentation with one page per (title, body, notes): a title frame, a body frame and speaker notes."""
    document = OpenDocumentPresentation()
    document.meta.addElement(dc.Title(text="The Bill of Rights"))
    layout = style.PageLayout(name="layout")
    document.automaticstyles.addElement(layout)
    master = style.MasterPage(name="master", pagelayoutname=layout)
    document.masterstyles.addElement(master)
    for number, (slide_title, body, notes) in enumerate(slides, start=1):
        page = draw.Page(name=f"page{number}", masterpagename=master)
        page.addElement(_odp_frame(body, "outline"))  # the body first: the title frame is found by its class
        page.addElement(_odp_frame(slide_title, "title"))
        if notes:
            notes_element = presentation.Notes()
            notes_element.addElement(_odp_frame(notes, "notes"))
            page.addElement(notes_element)
        document.presentation.addElement(page)
    path = directory / name
    document.save(str(path))
    return path


def make_epub(
    directory: Path,
    chapters: Sequence[tuple[str, str]] = AMENDMENTS[:3],
    *,
    name: str = "bill.epub",
    title: str = "The Bill of Rights",
) -> Path:
    """An EPUB 3: mimetype first and stored, container.xml, an OPF in OEBPS/ with dc:title, a navigation document
    (not in the spine) and one XHTML chapter per (heading, text), its heading in a ``<header>`` as EPUB 3 books
    put it, listed in the spine in reverse file order (so the reader must follow the spine, not the archive)."""
    items = "".join(
        f'<item id="c{i}" href="text/ch{i}.xhtml" media-type="application/xhtml+xml"/>' for i in range(len(chapters))
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    opf = (
        '<?xml version="1.0" encoding="UTF-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"'
        ' unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:identifier id="id">urn:uuid:groundwork-test</dc:identifier><dc:title>{title}</dc:title>'
        '<dc:language>en</dc:language></metadata><manifest><item id="nav" href="nav.xhtml" properties="nav"'
        f' media-type="application/xhtml+xml"/>{items}</manifest><spine>{spine}</spine></package>'
    )
    members = {
        "META-INF/container.xml": (
            '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>"
        ),
        "OEBPS/content.opf": opf,
        "OEBPS/nav.xhtml": _xhtml("Contents", "<nav><ol><li>Table of contents</li></ol></nav>"),
    }
    for i, (heading, body) in reversed(list(enumerate(chapters))):
        section = f'<section epub:type="chapter"><header><h1>{heading}</h1></header><p>{body}</p></section>'
        members[f"OEBPS/text/ch{i}.xhtml"] = _xhtml(heading, section)
    path = directory / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def rewrite_zip(
    source: Path, target: Path, replace: Mapping[str, bytes | Callable[[bytes], bytes]], *, extra: int = 0
) -> Path:
    """Copy the ZIP ``source`` to ``target`` with members replaced (bytes, or a function of the old bytes) or
    added (names not in ``source``), deflated, order kept; ``extra`` more members "filler/<n>" of one byte."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info)
            change = replace.get(info.filename)
            new.writestr(info, change(data) if callable(change) else data if change is None else change)
        for name, change in replace.items():
            if name not in old.namelist():
                new.writestr(name, change if isinstance(change, bytes) else change(b""))
        for n in range(extra):
            new.writestr(f"filler/{n}", b"x")
    return target


def billion_laughs(root: str, namespace: str) -> bytes:
    """An XML document whose root element ``root`` (in ``namespace``) holds "&lol9;": 10^9 "lol"s when expanded."""
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10)
    )
    return f'<?xml version="1.0"?><!DOCTYPE {root} [{entities}]><{root} xmlns="{namespace}">&lol9;</{root}>'.encode()


def _odf_table(name: str, rows: list[list[str]]) -> table.Table:
    sheet = table.Table(name=name)
    for row in rows:
        sheet.addElement(_odf_row(row))
    return sheet


def _odf_row(values: list[str]) -> table.TableRow:
    row = table.TableRow()
    for value in values:
        cell = table.TableCell()
        if value:
            cell.addElement(text.P(text=value))
        row.addElement(cell)
    return row


def _odp_frame(content: str, kind: str) -> draw.Frame:
    frame = draw.Frame(width="20cm", height="3cm", x="1cm", y="1cm", **{"class": kind})
    box = draw.TextBox()
    box.addElement(text.P(text=content))
    frame.addElement(box)
    return frame


def _xhtml(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml"'
        f' xmlns:epub="http://www.idpf.org/2007/ops"><head><title>{title}</title></head><body>{body}</body></html>'
    )


# Makers of a real file of each ZIP-based kind other than DOCX (``samples.make_docx`` takes its paragraphs).
ZIP_MAKERS: dict[str, Callable[[Path], Path]] = {
    "pptx": make_pptx,
    "xlsx": make_xlsx,
    "odt": make_odt,
    "ods": make_ods,
    "odp": make_odp,
    "epub": make_epub,
}
