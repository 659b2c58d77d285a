"""Extraction of PowerPoint, Excel, OpenDocument and EPUB files, the kind sniffed from a ZIP's members, and the
hostile variants of each container (issue 15, items 2 and 3).

No database: real files written into pytest's tmp_path by ``documents.tests.office_samples`` (python-pptx,
openpyxl, odfpy, zipfile) from public-domain text, read through ``check_file`` and ``extract``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from documents.models import page_label
from documents.services.extract import extract
from documents.services.extract_errors import (
    CorruptFile,
    DocumentTooLarge,
    ExtractionError,
    UnsupportedType,
    ZipBomb,
)
from documents.services.filetypes import check_file, sniff_file
from documents.services.formats.xlsx import NO_SAVED_VALUE
from documents.tests import office_samples as office
from documents.tests.samples import extract_checked, heading_at, make_docx

MAKERS: dict[str, Callable[[Path], Path]] = {
    "docx": lambda d: make_docx(d, [("Heading 1", "Amendment I"), ("Normal", office.AMENDMENTS[0][1])]),
    **office.ZIP_MAKERS,
}


def page_text(result, number: int) -> str:
    page = result.pages[number - 1]
    return result.text[page.char_start : page.char_end]


# --- What each format gives ---------------------------------------------------------------------------


def test_pptx_slides_are_pages_with_titles_tables_groups_and_notes(tmp_path):
    result = extract_checked(office.make_pptx(tmp_path), "pptx")

    assert result.title == "The Bill of Rights"
    assert [page.number for page in result.pages] == [1, 2, 3, 4]
    assert page_text(result, 1).split("\n\n") == [
        "Amendment I",
        office.AMENDMENTS[0][1],
        "Speaker notes: Ratified in 1791: the amendment i.",
    ]
    last = page_text(result, 4).split("\n\n")
    assert last[0] == "Amendment IV" and last[-1].startswith("Speaker notes:")
    assert "I | Freedom of religion, speech, press, assembly, and petition" in last
    assert "Grouped caption" in last
    assert [section.heading_path for section in result.sections] == [(title,) for title, _, _ in office.SLIDES]
    assert heading_at(result, "No Soldier shall") == ("Amendment III",)


def test_a_slide_without_a_title_does_not_inherit_the_previous_one(tmp_path):
    slides = [("Amendment I", office.AMENDMENTS[0][1], ""), ("", office.AMENDMENTS[1][1], "")]
    result = extract_checked(office.make_pptx(tmp_path, slides, extras=False), "pptx")

    assert heading_at(result, "A well regulated Militia") == ()
    assert page_text(result, 2) == office.AMENDMENTS[1][1]


def test_xlsx_sheets_are_sections_of_header_labelled_rows(tmp_path):
    result = extract_checked(office.make_xlsx(tmp_path), "xlsx")

    assert result.title == "Constitutional amendments"
    assert result.pages == []
    paragraphs = result.text.split("\n\n")
    assert paragraphs[:2] == [
        "Amendments",
        "amendment: I; ratified_year: 1791; subject: Freedom of religion, speech, press, assembly, and petition",
    ]
    assert len([p for p in paragraphs if p.startswith("amendment: ")]) == 27
    assert paragraphs[-4:] == [
        "Totals",
        f"measure: amendments; value: {NO_SAVED_VALUE}",
        "measure: first ratified; value: 1791-12-15",
        "measure: share; value: 0.3",
    ]
    assert heading_at(result, "amendment: XXVII") == ("Amendments",)
    assert heading_at(result, "measure: share") == ("Totals",)


def test_odt_headings_follow_their_outline_levels(tmp_path):
    result = extract_checked(office.make_odt(tmp_path), "odt")

    assert result.title == "The Bill of Rights"
    assert heading_at(result, "Congress shall make no law") == ("The Bill of Rights", "Amendment I")
    assert heading_at(result, "No Soldier shall") == ("The Bill of Rights", "Amendment III")
    paragraphs = result.text.split("\n\n")
    assert "Ratified December 15,\n1791." in paragraphs  # <text:s c="3"/> and <text:line-break/>
    assert "I | 1791 | Freedom of religion, speech, press, assembly, and petition" in paragraphs


def test_ods_rows_like_xlsx_and_a_million_repeated_empty_rows_cost_nothing(tmp_path, settings):
    settings.EXTRACT_MAX_CELLS = 1_000  # the file claims 1,000,000 x 1,024 empty cells in one repeated row
    result = extract_checked(office.make_ods(tmp_path, empty_rows=1_000_000), "ods")

    paragraphs = result.text.split("\n\n")
    assert paragraphs[0] == "Amendments"
    assert paragraphs[1] == (
        "amendment: I; ratified_year: 1791; subject: Freedom of religion, speech, press, assembly, and petition"
    )
    assert paragraphs[-1] == "amendment: XXVIII; subject: After a million empty rows"


def test_odp_pages_are_slides_with_their_title_frame_first_and_notes(tmp_path):
    result = extract_checked(office.make_odp(tmp_path), "odp")

    assert result.title == "The Bill of Rights"
    assert len(result.pages) == 4
    assert page_text(result, 2).split("\n\n") == [
        "Amendment II",
        office.AMENDMENTS[1][1],
        "Speaker notes: Ratified in 1791: the amendment ii.",
    ]
    assert [section.heading_path for section in result.sections] == [(title,) for title, _, _ in office.SLIDES]


def test_epub_is_read_in_spine_order_with_its_title(tmp_path):
    result = extract_checked(office.make_epub(tmp_path), "epub")

    assert result.title == "The Bill of Rights"
    assert result.text.split("\n\n") == [part for pair in office.AMENDMENTS[:3] for part in pair]
    assert heading_at(result, "No Soldier shall") == ("Amendment III",)
    assert "Table of contents" not in result.text  # the navigation document is not in the spine


def test_docx_title_comes_from_its_core_properties(tmp_path):
    path = make_docx(tmp_path, [("Normal", office.AMENDMENTS[0][1])], title="The Bill of Rights")
    assert extract_checked(path, "docx").title == "The Bill of Rights"
    assert extract(make_docx(tmp_path, [("Normal", "x y z")], name="untitled.docx"), "docx").title == ""


# --- The kind comes from the content --------------------------------------------------------------------


@pytest.mark.parametrize("kind", MAKERS)
@pytest.mark.parametrize("extension", [".docx", ".pptx", ".bin", ""])
def test_a_zip_is_known_by_its_members_whatever_its_name(tmp_path, kind, extension):
    path = MAKERS[kind](tmp_path)
    renamed = path.rename(tmp_path / f"upload{extension}")

    assert sniff_file(renamed, renamed.name) == kind
    check_file(renamed, kind)
    assert extract(renamed, kind).text


def test_the_extension_only_breaks_a_tie(tmp_path):
    both = tmp_path / "both.zip"
    with zipfile.ZipFile(both, "w") as archive:
        for name in ("[Content_Types].xml", "word/document.xml", "ppt/presentation.xml"):
            archive.writestr(name, b"<x/>")

    assert sniff_file(both, "slides.pptx") == "pptx"
    assert sniff_file(both, "letter.docx") == "docx"
    assert sniff_file(both, "archive.zip") == "docx"


@pytest.mark.parametrize(
    "members, what",
    [
        ({"mimetype": b"application/vnd.oasis.opendocument.graphics", "content.xml": b"<x/>"}, "drawing"),
        ({"notes.txt": b"Four score and seven years ago"}, "a ZIP archive"),
    ],
)
def test_other_zips_are_refused_with_what_they_are(tmp_path, members, what):
    path = tmp_path / "file.odt"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    with pytest.raises(UnsupportedType, match=what):
        sniff_file(path, path.name)


# --- Hostile variants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MAKERS)
def test_a_zip_bomb_in_every_container_is_refused(tmp_path, kind):
    zeros = bytes(20 * 1024 * 1024)  # deflates about 1000:1, over ZIP_MAX_RATIO (100:1)
    path = office.rewrite_zip(MAKERS[kind](tmp_path), tmp_path / f"bomb.{kind}", {"media/zeros.bin": zeros})

    assert sniff_file(path, path.name) == kind
    with pytest.raises(ZipBomb, match="compressed more than 100:1"):
        check_file(path, kind)
    with pytest.raises(ZipBomb):
        extract(path, kind)


@pytest.mark.parametrize("kind", MAKERS)
def test_too_many_parts_in_every_container_is_refused(tmp_path, settings, kind):
    settings.ZIP_MAX_MEMBERS = 60
    path = office.rewrite_zip(MAKERS[kind](tmp_path), tmp_path / f"parts.{kind}", {}, extra=60)

    with pytest.raises(ZipBomb, match=r"holds \d+ parts, more than the 60 allowed"):
        check_file(path, kind)


@pytest.fixture(scope="module")
def fifty_thousand_slides(tmp_path_factory) -> Path:
    return office.make_many_slides_pptx(tmp_path_factory.mktemp("slides"), 50_000)


def test_a_50000_slide_presentation_fails_with_a_reason(fifty_thousand_slides, settings):
    path = fifty_thousand_slides
    assert sniff_file(path, path.name) == "pptx"
    with pytest.raises(ZipBomb, match=r"holds 100,0[0-9]{2} parts, more than the 10,000 allowed"):
        extract(path, "pptx")

    settings.ZIP_MAX_MEMBERS = 200_000  # past the archive check, the slides are counted before python-pptx reads any
    settings.EXTRACT_MAX_SECONDS = 60
    with pytest.raises(DocumentTooLarge, match="has 50,000 slides, more than the 2,000 allowed"):
        extract(path, "pptx")


def test_the_slide_limit_is_the_workspace_page_limit(tmp_path):
    path = office.make_many_slides_pptx(tmp_path, 30)
    with pytest.raises(DocumentTooLarge, match="has 30 slides, more than the 29 allowed"):
        extract(path, "pptx", max_pages=29)
    assert len(extract(path, "pptx", max_pages=30).pages) == 30


def _claim_a_huge_sheet(xml: bytes) -> bytes:
    xml = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', xml)
    far = b'<row r="1000000000000"><c r="XFD1000000000000" t="inlineStr"><is><t>far away</t></is></c></row>'
    return xml.replace(b"</sheetData>", far + b"</sheetData>")


def test_a_sheet_claiming_a_million_rows_costs_only_the_rows_it_holds(tmp_path, settings):
    path = office.rewrite_zip(
        office.make_xlsx(tmp_path), tmp_path / "claims.xlsx", {"xl/worksheets/sheet1.xml": _claim_a_huge_sheet}
    )
    settings.EXTRACT_MAX_CELLS = 200  # 32 rows and 88 cells are in the file; the dimension claims 17 billion cells

    result = extract_checked(path, "xlsx")

    assert "Column 16384: far away" in result.text.split("\n\n")
    assert result.text.count("amendment: ") == 27


def test_a_million_empty_row_elements_are_skipped_and_bounded(tmp_path, settings):
    empty_rows = b"".join(b'<row r="%d"/>' % n for n in range(100, 1_000_100))
    path = office.rewrite_zip(
        office.make_xlsx(tmp_path),
        tmp_path / "empty-rows.xlsx",
        {"xl/worksheets/sheet1.xml": lambda xml: xml.replace(b"</sheetData>", empty_rows + b"</sheetData>")},
    )
    check_file(path, "xlsx")  # distinct row numbers compress only ~7:1: the upload checks let it through

    result = extract_checked(path, "xlsx")
    assert result.text.count("amendment: ") == 27

    settings.EXTRACT_MAX_CELLS = 500_000
    with pytest.raises(ExtractionError, match="more than 500,000 cells and rows to read"):
        extract(path, "xlsx")


@pytest.mark.parametrize("make, kind", [(office.make_xlsx, "xlsx"), (office.make_ods, "ods")])
def test_rows_past_the_limit_fail_with_a_reason(tmp_path, settings, make, kind):
    settings.EXTRACT_MAX_CSV_ROWS = 10
    with pytest.raises(ExtractionError, match="This spreadsheet has more than 10 rows"):
        extract(make(tmp_path), kind)


XML_BOMBS = [  # (maker, kind, member replaced by a billion-laughs document)
    (office.make_pptx, "pptx", "ppt/presentation.xml"),
    (office.make_pptx, "pptx", "ppt/slides/slide1.xml"),
    (lambda d: make_docx(d, [("Normal", "x")]), "docx", "word/document.xml"),
    (office.make_xlsx, "xlsx", "xl/worksheets/sheet1.xml"),
    (office.make_odt, "odt", "content.xml"),
    (office.make_ods, "ods", "content.xml"),
    (office.make_odp, "odp", "meta.xml"),
    (office.make_epub, "epub", "OEBPS/content.opf"),
]


@pytest.mark.parametrize("make, kind, member", XML_BOMBS, ids=[f"{k}:{m}" for _, k, m in XML_BOMBS])
def test_an_xml_bomb_in_a_member_fails_with_a_reason(tmp_path, make, kind, member):
    bomb = office.billion_laughs("root", "urn:groundwork:bomb")
    path = office.rewrite_zip(make(tmp_path), tmp_path / f"laughs.{kind}", {member: bomb})

    check_file(path, kind)  # 1 KB of XML: nothing to see in the archive
    with pytest.raises(CorruptFile, match="declares XML entities"):
        extract(path, kind)


def test_odf_text_spaces_and_nesting_are_bounded(tmp_path):
    office_ns = 'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
    text_ns = 'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    deep = "<text:span>" * 20_000 + "deep" + "</text:span>" * 20_000
    content = (
        f'<?xml version="1.0"?><office:document-content {office_ns} {text_ns} office:version="1.2"><office:body>'
        f'<office:text><text:p>wide<text:s text:c="1000000000"/>gap</text:p><text:p>{deep}</text:p>'
        "</office:text></office:body></office:document-content>"
    )
    path = office.rewrite_zip(office.make_odt(tmp_path), tmp_path / "hostile.odt", {"content.xml": content.encode()})

    assert extract_checked(path, "odt").text.split("\n\n") == ["wide gap", "deep"]


def test_odf_past_the_xml_bound_fails_with_a_reason(tmp_path, settings):
    settings.EXTRACT_ODF_MAX_XML_BYTES = 5_000
    with pytest.raises(DocumentTooLarge, match=r"MB of XML, more than the 0\.0 MB that can be read"):
        extract(office.make_ods(tmp_path), "ods")


def test_a_damaged_container_is_corrupt(tmp_path):
    path = office.rewrite_zip(office.make_pptx(tmp_path), tmp_path / "broken.pptx", {"ppt/slides/slide1.xml": b"<p:"})
    with pytest.raises(CorruptFile, match="PowerPoint presentation"):
        extract(path, "pptx")


@pytest.mark.parametrize(
    "kind, start, end, label",
    [
        ("pptx", 3, 3, "slide 3"),
        ("odp", 2, 4, "slides 2\u20134"),
        ("pdf", 2, None, "page 2"),
        ("pdf", 2, 3, "pages 2\u20133"),
        (None, 1, 1, "page 1"),
        ("pptx", None, None, ""),
    ],
)
def test_page_labels_follow_the_kind(kind, start, end, label):
    assert page_label(kind, start, end) == label


def test_a_malformed_odf_part_is_corrupt_and_its_text_never_printed(tmp_path, capsys):
    def break_after_the_first_amendment(xml: bytes) -> bytes:
        return xml.replace(b"</text:h>", b"</text:h><text:p <<broken", 2).replace(b"<text:p <<broken", b"", 1)

    path = office.rewrite_zip(
        office.make_odt(tmp_path), tmp_path / "broken.odt", {"content.xml": break_after_the_first_amendment}
    )

    with pytest.raises(CorruptFile, match="OpenDocument text"):  # odfpy alone keeps the part's first half, silently
        extract(path, "odt")
    assert "Congress shall" not in capsys.readouterr().out  # odfpy prints a part it cannot parse


@pytest.mark.parametrize(
    "make, kind, member, change",
    [
        (office.make_xlsx, "xlsx", "xl/styles.xml", lambda xml: xml.replace(b'fillId="0"', b'fillId="abc"', 1)),
        (office.make_pptx, "pptx", "ppt/slides/_rels/slide1.xml.rels", lambda xml: b"<NotRelationships/>"),
        (office.make_odt, "odt", "meta.xml", lambda xml: xml.replace(b"UTF-8", b"no-such-codec", 1)),
    ],
)
def test_parts_a_library_trips_over_are_corrupt_files(tmp_path, make, kind, member, change):
    path = office.rewrite_zip(make(tmp_path), tmp_path / f"odd.{kind}", {member: change})
    with pytest.raises(CorruptFile, match="is damaged"):
        extract(path, kind)
