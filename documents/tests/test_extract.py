"""Tests for documents.services.extract of text kinds, HTML and DOCX, and the upload checks of ZIPs.

No database: these work on files written into pytest's tmp_path by ``documents.tests.samples``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from documents.services.extract import Section, extract
from documents.services.extract_errors import (
    CorruptFile,
    EmptyFile,
    ExtractionError,
    UnsupportedType,
    ZipBomb,
)
from documents.services.filetypes import check_file, sniff_file, sniff_kind
from documents.services.formats import html as html_format
from documents.tests.samples import (
    REAL_TEXT,
    extract_checked,
    heading_at,
    make_docx,
    make_zip,
    make_zip_bomb,
    write,
)

GETTYSBURG = REAL_TEXT.split("\n\n")


# --- Text kinds -----------------------------------------------------------------------------------------


MARKDOWN = """\
Intro before any heading.

# Installation

Unpack   the\twidget.

## On Linux

```bash
# comment, not a heading
sudo apt install widget
```

Then reboot.

Usage
=====

Plain text.
More text on a second line.

Options
-------

- a list item

### Deep

Deep text.

# Appendix #

The end.
"""


def test_markdown_heading_paths(tmp_path: Path) -> None:
    result = extract_checked(write(tmp_path, "guide.md", MARKDOWN), "markdown")
    assert result.sections == [
        Section(result.text.index("Installation"), ("Installation",)),
        Section(result.text.index("On Linux"), ("Installation", "On Linux")),
        Section(result.text.index("Usage"), ("Usage",)),
        Section(result.text.index("Options"), ("Usage", "Options")),
        Section(result.text.index("Deep"), ("Usage", "Options", "Deep")),
        Section(result.text.index("Appendix"), ("Appendix",)),
    ]
    assert heading_at(result, "Intro before") == ()
    assert heading_at(result, "# comment, not a heading") == ("Installation", "On Linux")
    assert heading_at(result, "Then reboot") == ("Installation", "On Linux")
    assert heading_at(result, "a list item") == ("Usage", "Options")
    paragraphs = result.text.split("\n\n")
    assert "Unpack the widget." in paragraphs  # whitespace runs collapsed
    assert "Appendix" in paragraphs  # heading markers removed
    assert "```bash\n# comment, not a heading\nsudo apt install widget\n```" in paragraphs
    assert "Plain text.\nMore text on a second line." in paragraphs


def test_plain_text_paragraphs(tmp_path: Path) -> None:
    data = ("  " + REAL_TEXT.replace("\n\n", "\n   \n\n\t\n") + "\n\n\n").encode("utf-16")
    result = extract_checked(write(tmp_path, "speech.txt", data), "text")
    assert result.text.split("\n\n") == GETTYSBURG
    assert result.sections == []


def test_cp1252_text_file(tmp_path: Path) -> None:
    result = extract_checked(write(tmp_path, "menu.txt", "Café déjà vu\n\nCrème brûlée".encode("cp1252")), "text")
    assert result.text == "Café déjà vu\n\nCrème brûlée"


def test_whitespace_only_text_file_is_empty(tmp_path: Path) -> None:
    with pytest.raises(EmptyFile):
        extract(write(tmp_path, "blank.txt", " \n\n\t "), "text")


def test_csv_rows_become_column_value_paragraphs(tmp_path: Path) -> None:
    data = (
        "Name,Role,Year\nAda Lovelace,Analyst,1843\n\n"
        'Grace Hopper,,1952\n"Hamilton, Margaret","Apollo\nsoftware",1969\n'
    )
    result = extract_checked(write(tmp_path, "people.csv", data), "csv")
    assert result.text.split("\n\n") == [
        "Name: Ada Lovelace; Role: Analyst; Year: 1843",
        "Name: Grace Hopper; Year: 1952",
        "Name: Hamilton, Margaret; Role: Apollo software; Year: 1969",
    ]
    assert result.sections == [Section(0, ())]


def test_csv_semicolons_tabs_and_no_header(tmp_path: Path) -> None:
    semicolons = extract_checked(write(tmp_path, "a.csv", "city;country\nParis;France\nLima;Peru\n"), "csv")
    assert semicolons.text == "city: Paris; country: France\n\ncity: Lima; country: Peru"
    tabs = extract_checked(write(tmp_path, "b.tsv", "id\tscore\n1\t3.5\n2\t4.0\n"), "csv")
    assert tabs.text == "id: 1; score: 3.5\n\nid: 2; score: 4.0"
    numbers = extract_checked(write(tmp_path, "c.csv", "1,2\n3,4\n"), "csv")
    assert numbers.text == "Column 1: 1; Column 2: 2\n\nColumn 1: 3; Column 2: 4"


def test_csv_row_cap(tmp_path: Path, settings) -> None:
    settings.EXTRACT_MAX_CSV_ROWS = 3
    path = write(tmp_path, "big.csv", "n,square\n" + "".join(f"{n},{n * n}\n" for n in range(1, 6)))
    with pytest.raises(ExtractionError, match="more than 3 rows"):
        extract(path, "csv")


# --- HTML -----------------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Widget Handbook</title></head>
<body>
<header><nav><ul>
  <li><a href="/">Home</a></li><li><a href="/products">Products catalogue menu</a></li>
  <li><a href="/about">About us menu</a></li>
</ul></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies.</div>
<main><article>
<h1>Widget Handbook</h1>
<p>The widget is a small device that does <b>many</b> useful things for the household and the office alike.</p>
<h2>Installation</h2>
<p>Unpack the widget carefully and place it on a flat, dry surface away from direct sunlight and heat.</p>
<h3>On Linux</h3>
<p>Run the installer from a terminal with administrator rights, then reboot the machine to finish.</p>
<table><tr><th>Part</th><th>Count</th></tr><tr><td>Screws</td><td>12</td></tr></table>
<h2>Maintenance</h2>
<p>Clean the widget once a month with a soft cloth. Never immerse it in water or any other liquid.</p>
</article></main>
<footer><p>Copyright 2024 Widget Corp footer text. All rights reserved.</p></footer>
</body></html>
"""


def test_html_main_content_and_sections(tmp_path: Path) -> None:
    result = extract_checked(write(tmp_path, "page.html", HTML), "html")
    assert "Unpack the widget carefully" in result.text
    assert "does many useful things" in result.text
    for boilerplate in ("Products catalogue menu", "About us menu", "footer text", "Accept all cookies"):
        assert boilerplate not in result.text
    assert "Part | Count\nScrews | 12" in result.text
    assert heading_at(result, "Unpack the widget") == ("Widget Handbook", "Installation")
    assert heading_at(result, "Run the installer") == ("Widget Handbook", "Installation", "On Linux")
    assert heading_at(result, "Clean the widget") == ("Widget Handbook", "Maintenance")
    assert "Maintenance" in result.text.split("\n\n")


def test_html_fallback_without_trafilatura(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_format.trafilatura, "extract", lambda *args, **kwargs: None)
    result = extract_checked(write(tmp_path, "page.html", HTML), "html")
    assert "Products catalogue menu" not in result.text
    assert "footer text" not in result.text
    assert "Part | Count\n\nScrews | 12" in result.text
    assert heading_at(result, "Run the installer") == ("Widget Handbook", "Installation", "On Linux")


def test_html_declared_legacy_charset(tmp_path: Path) -> None:
    page = "<html><head><meta charset='windows-1252'></head><body><p>Crème brûlée, « très bien », 5 €.</p></body>"
    result = extract_checked(write(tmp_path, "menu.html", page.encode("cp1252")), "html")
    assert "Crème brûlée, « très bien », 5 €." in result.text


# --- DOCX -----------------------------------------------------------------------------------------------


def test_docx_headings_and_table(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path,
        [
            ("Title", "Employee Handbook"),
            ("Normal", "Welcome aboard."),
            ("Heading 1", "Benefits"),
            ("Normal", "You get   benefits."),
            ("Heading 2", "Leave"),
            ("table", "Kind|Days\nAnnual|25\nSick|10"),
            ("Normal", ""),
            ("Heading 1", "Conduct"),
            ("Normal", "Be kind.\nAlways."),
        ],
    )
    assert sniff_kind(path.read_bytes()[:65536], "handbook.bin") == "docx"
    result = extract_checked(path, "docx")
    assert result.text.split("\n\n") == [
        "Employee Handbook",
        "Welcome aboard.",
        "Benefits",
        "You get benefits.",
        "Leave",
        "Kind | Days",
        "Annual | 25",
        "Sick | 10",
        "Conduct",
        "Be kind.\nAlways.",
    ]
    assert heading_at(result, "Welcome") == ("Employee Handbook",)
    assert heading_at(result, "Annual | 25") == ("Employee Handbook", "Benefits", "Leave")
    assert heading_at(result, "Be kind") == ("Employee Handbook", "Conduct")


def test_zip_bomb(tmp_path: Path) -> None:
    path = make_zip_bomb(tmp_path)
    assert path.stat().st_size < 5 * 1024 * 1024
    assert sniff_kind(path.read_bytes()[:65536], path.name) == "docx"
    with pytest.raises(ZipBomb) as caught:
        check_file(path, "docx")
    assert caught.value.code == "zip_bomb"
    with pytest.raises(ZipBomb):
        extract(path, "docx")


def test_plain_zip_is_unsupported(tmp_path: Path) -> None:
    path = make_zip(tmp_path)
    assert sniff_kind(path.read_bytes()[:65536], "archive.docx") == "docx"
    with pytest.raises(UnsupportedType, match="ZIP archive"):
        check_file(path, "docx")


def test_a_docx_check_of_another_zip_kind_names_what_it_holds(tmp_path: Path) -> None:
    path = make_zip(tmp_path, "book.docx", {"xl/workbook.xml": b"<workbook/>", "[Content_Types].xml": b"<Types/>"})
    assert sniff_file(path, path.name) == "xlsx"  # at upload the members decide: this is a workbook
    with pytest.raises(UnsupportedType, match="Excel workbook"):
        check_file(path, "docx")


def test_damaged_docx_is_corrupt(tmp_path: Path) -> None:
    data = make_docx(tmp_path, [("Normal", "Hello")]).read_bytes()
    path = write(tmp_path, "broken.docx", data[: len(data) // 2])
    with pytest.raises(CorruptFile):
        check_file(path, "docx")
