"""Tests for documents.services.extract: sniffing, decoding, upload checks and extraction of every kind.

No database: these work on files written into pytest's tmp_path by ``documents.tests.samples``.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from documents.services import extract_formats
from documents.services.extract import (
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    ExtractedText,
    ExtractionError,
    NoExtractableText,
    Section,
    UnsupportedType,
    ZipBomb,
    check_file,
    decode_text,
    extract,
    sniff_kind,
)
from documents.tests.samples import (
    REAL_TEXT,
    make_corrupt_pdf,
    make_docx,
    make_encrypted_pdf,
    make_pdf,
    make_scanned_pdf,
    make_zip,
    make_zip_bomb,
)

PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
GETTYSBURG = REAL_TEXT.split("\n\n")


def write(directory: Path, name: str, data: bytes | str) -> Path:
    path = directory / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def extract_checked(path: Path, kind: str) -> ExtractedText:
    """``check_file`` then ``extract``, asserting the offset and paragraph invariants on the result."""
    check_file(path, kind)
    result = extract(path, kind)
    assert result.kind == kind
    assert_well_formed(result)
    return result


def assert_well_formed(result: ExtractedText) -> None:
    text = result.text
    # Paragraphs are separated by exactly one blank line and never contain one.
    for paragraph in text.split("\n\n"):
        assert paragraph, "empty paragraph (three or more newlines in a row)"
        assert paragraph == paragraph.strip()
        assert "\n\n" not in paragraph
        assert all(line == line.strip() and "  " not in line and "\t" not in line for line in paragraph.split("\n"))
    starts = [section.char_start for section in result.sections]
    assert starts == sorted(set(starts))
    assert all(0 <= start <= len(text) for start in starts)
    if result.kind != "pdf":
        assert result.pages == []
        # Non-PDF sections start at a paragraph (a heading).
        assert all(start == 0 or text[start - 2 : start] == "\n\n" for start in starts)
        return
    assert [page.number for page in result.pages] == list(range(1, len(result.pages) + 1))
    assert result.pages[0].char_start == 0
    assert result.pages[-1].char_end == len(text)
    for page in result.pages:
        assert page.char_start <= page.char_end
    for previous, page in zip(result.pages, result.pages[1:]):
        assert text[previous.char_end : page.char_start] in ("", "\n\n")


def heading_at(result: ExtractedText, needle: str) -> tuple[str, ...]:
    """The heading path that applies where ``needle`` first occurs in the text."""
    position = result.text.index(needle)
    path: tuple[str, ...] = ()
    for section in result.sections:
        if section.char_start <= position:
            path = section.heading_path
    return path


# --- sniff_kind -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "filename", "kind"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "report.txt", "pdf"),
        (b"\r\n   \x00junk%PDF-1.4\n", "scan", "pdf"),
        (b"PK\x03\x04\x14\x00\x06\x00", "letter.docx", "docx"),
        (b"\xef\xbb\xbf  <!-- saved -->\n<!DOCTYPE html><html><body>Hi</body></html>", "page.txt", "html"),
        (b"<html lang='en'><p>Hello</p></html>", "", "html"),
        (b"<div class='post'><p>Hello there</p></div>", "fragment", "html"),
        (b"Title\n=====\n\nSome text.", "notes.md", "markdown"),
        (b"# Install\n\nRun the installer.\n\n## Linux\n\nUse apt.", "README", "markdown"),
        (b"name,age\nAda,36\nGrace,85\n", "people.csv", "csv"),
        (b"name,age,city\nAda,36,London\nGrace,85,Arlington\nAlan,41,Wilmslow\n", "export", "csv"),
        (b"name,age,city\nAda,36,London\nGrace,85,Arlington\nAlan,41,Wilmslow\n", "export.txt", "text"),
        (b"id\tname\n1\tAda\n2\tGrace\n3\tAlan\n", "data.tsv", "csv"),
        (REAL_TEXT.encode(), "speech.txt", "text"),
        (REAL_TEXT.encode(), "speech.pdf", "text"),
        (b"<Ctrl> and <Alt> are keys on a keyboard.", "keys", "text"),
    ],
)
def test_sniff_kind_reads_the_content(head: bytes, filename: str, kind: str) -> None:
    assert sniff_kind(head, filename) == kind


def test_sniff_kind_utf16_text_is_text() -> None:
    assert sniff_kind(REAL_TEXT.encode("utf-16"), "speech.txt") == "text"
    assert sniff_kind("# Titre\n\nCafé".encode("utf-16-le"), "notes") == "markdown"


def test_sniff_kind_a_png_named_pdf_is_unsupported() -> None:
    with pytest.raises(UnsupportedType) as caught:
        sniff_kind(PNG_HEAD, "report.pdf")
    assert "PNG image" in caught.value.message
    assert caught.value.status_code == 415
    assert caught.value.code == "unsupported_type"


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "old-format Microsoft Office"),
        (b"\x7fELF\x02\x01\x01\x00", "Linux program"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "MP4"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WebP image"),
        (b"{\\rtf1\\ansi\\deff0 Hello}", "RTF document"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG image"),
    ],
)
def test_sniff_kind_names_known_binary_formats(head: bytes, what: str) -> None:
    with pytest.raises(UnsupportedType, match=what):
        sniff_kind(head, "file.txt")


def test_sniff_kind_unknown_binary_is_unsupported() -> None:
    with pytest.raises(UnsupportedType, match="binary data"):
        sniff_kind(bytes(range(256)) * 8, "blob.txt")


@pytest.mark.parametrize("head", [b"", b"   \n\t\r\n  "])
def test_sniff_kind_empty(head: bytes) -> None:
    with pytest.raises(EmptyFile) as caught:
        sniff_kind(head, "empty.txt")
    assert caught.value.code == "empty_file"


def test_sniff_kind_tolerates_a_head_cut_inside_a_character() -> None:
    data = ("Words. " * 9362 + "xé and déjà vu.").encode()  # the "é" starts at byte 65535
    head = data[: 64 * 1024]
    assert head[-1:] == b"\xc3"  # the cut falls inside "é"
    assert sniff_kind(head, "notes") == "text"


# --- decode_text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café déjà vu", "utf-8"),
        ("Café déjà vu", "utf-8-sig"),
        ("Café déjà vu", "utf-16"),
        ("Café déjà vu", "utf-16-le"),
        ("Café déjà vu", "utf-16-be"),
        ("Café déjà vu", "utf-32"),
        ("Café déjà vu", "cp1252"),
        ("Grüße aus München – „schöne“ Straße", "cp1252"),
        ("Le garçon a mangé une crêpe à la fenêtre.", "latin-1"),
        ("Привет, как дела? Всё хорошо, спасибо большое.", "cp1251"),
    ],
)
def test_decode_text(text: str, encoding: str) -> None:
    assert decode_text(text.encode(encoding)) == text


def test_decode_text_normalises_newlines() -> None:
    assert decode_text(b"one\r\ntwo\rthree\nfour") == "one\ntwo\nthree\nfour"


def test_decode_text_rejects_binary() -> None:
    with pytest.raises(UnsupportedType):
        decode_text(PNG_HEAD + bytes(range(256)))


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


def test_csv_row_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("documents.services.extract.MAX_CSV_ROWS", 3)
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
    monkeypatch.setattr(extract_formats.trafilatura, "extract", lambda *args, **kwargs: None)
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


def test_xlsx_is_unsupported(tmp_path: Path) -> None:
    path = make_zip(tmp_path, "book.xlsx", {"xl/workbook.xml": b"<workbook/>", "[Content_Types].xml": b"<Types/>"})
    with pytest.raises(UnsupportedType, match="Excel workbook"):
        check_file(path, "docx")


def test_damaged_docx_is_corrupt(tmp_path: Path) -> None:
    data = make_docx(tmp_path, [("Normal", "Hello")]).read_bytes()
    path = write(tmp_path, "broken.docx", data[: len(data) // 2])
    with pytest.raises(CorruptFile):
        check_file(path, "docx")


# --- PDF ------------------------------------------------------------------------------------------------


def test_pdf_pages_have_exact_spans(tmp_path: Path) -> None:
    pages = ["Page one says hello to the reader.", REAL_TEXT, "The third and last page."]
    path = make_pdf(tmp_path, pages, name="speech.txt")
    assert sniff_kind(path.read_bytes()[:65536], path.name) == "pdf"
    result = extract_checked(path, "pdf")
    assert [page.number for page in result.pages] == [1, 2, 3]
    spans = [result.text[page.char_start : page.char_end] for page in result.pages]
    assert spans == pages  # wrapped lines rejoined with spaces, paragraphs kept
    assert result.text == "\n\n".join(pages)
    assert result.sections == []


def test_pdf_outline_gives_sections(tmp_path: Path) -> None:
    pages = ["Preface\n\nWhy this book exists.", "Chapter One\n\nIt begins.", "More of chapter one.", "Notes\n\nEnd."]
    outline = [("Preface", 1), ("Chapter One", 2), ("Part A", 3, 1), ("Notes", 4)]
    result = extract_checked(make_pdf(tmp_path, pages, outline=outline), "pdf")
    starts = [page.char_start for page in result.pages]
    assert result.sections == [
        Section(starts[0], ("Preface",)),
        Section(starts[1], ("Chapter One",)),
        Section(starts[2], ("Chapter One", "Part A")),
        Section(starts[3], ("Notes",)),
    ]
    assert heading_at(result, "It begins") == ("Chapter One",)
    assert heading_at(result, "More of chapter one") == ("Chapter One", "Part A")


def test_pdf_bookmark_inside_a_page_starts_at_its_title(tmp_path: Path) -> None:
    pages = ["Intro text here.\n\nMethods\n\nWe measured things carefully."]
    result = extract_checked(make_pdf(tmp_path, pages, outline=[("Methods", 1)]), "pdf")
    assert result.sections == [Section(result.text.index("Methods"), ("Methods",))]


def test_pdf_lines_and_hyphenation(tmp_path: Path) -> None:
    page = "This is an exam-\nple of hyphen-\nation across lines, and Jean-\nPaul keeps his.\n\nA second paragraph."
    result = extract_checked(make_pdf(tmp_path, [page]), "pdf")
    assert result.text.split("\n\n") == [
        "This is an example of hyphenation across lines, and Jean-Paul keeps his.",
        "A second paragraph.",
    ]


def test_pdf_short_lines_ending_sentences_end_paragraphs(tmp_path: Path) -> None:
    # No empty lines between the paragraphs: only their short last lines ending a sentence separate them.
    lines = [
        "Four score and seven years ago our fathers brought forth on this continent, a new nation,",
        "conceived in Liberty.",
        "Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived",
        "and so dedicated, can long endure.",
        "No full stop at the end",
    ]
    result = extract_checked(make_pdf(tmp_path, ["\n".join(lines)]), "pdf")
    assert result.text.split("\n\n") == [f"{lines[0]} {lines[1]}", f"{lines[2]} {lines[3]}", lines[4]]


def test_pdf_empty_page_keeps_its_span(tmp_path: Path) -> None:
    result = extract_checked(make_pdf(tmp_path, [REAL_TEXT, "", "Last page text."]), "pdf")
    assert [(page.char_end - page.char_start) > 0 for page in result.pages] == [True, False, True]
    assert result.text[result.pages[2].char_start : result.pages[2].char_end] == "Last page text."


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = make_encrypted_pdf(tmp_path)
    assert sniff_kind(path.read_bytes()[:65536], path.name) == "pdf"
    with pytest.raises(EncryptedPdf, match="password-protected") as caught:
        check_file(path, "pdf")
    assert caught.value.code == "encrypted_pdf"


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = make_corrupt_pdf(tmp_path)
    assert sniff_kind(path.read_bytes()[:65536], path.name) == "pdf"
    with pytest.raises(CorruptFile, match="damaged") as caught:
        check_file(path, "pdf")
    assert caught.value.code == "corrupt_file"
    with pytest.raises(CorruptFile):
        extract(path, "pdf")


def test_scanned_pdf_has_no_text(tmp_path: Path) -> None:
    path = make_scanned_pdf(tmp_path)
    check_file(path, "pdf")
    with pytest.raises(NoExtractableText, match="scanned PDF") as caught:
        extract(path, "pdf")
    assert caught.value.code == "no_text"


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.pdf", b"")
    with pytest.raises(EmptyFile):
        check_file(path, "pdf")
    with pytest.raises(EmptyFile):
        extract(path, "text")


def test_300_page_pdf(tmp_path: Path) -> None:
    pages = [f"Page {number}.\n\n{REAL_TEXT}" for number in range(1, 301)]
    path = make_pdf(tmp_path, pages, outline=[(f"Part {n}", n * 50 - 49) for n in range(1, 7)])
    check_file(path, "pdf")
    result = extract(path, "pdf")
    assert_well_formed(result)
    assert len(result.pages) == 300
    page_200 = result.pages[199]
    assert result.text[page_200.char_start : page_200.char_end] == pages[199]
    assert heading_at(result, "Page 160.") == ("Part 4",)
