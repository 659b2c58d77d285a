"""Tests for documents.services.filetypes and decode: sniffing a file's kind and decoding text of any encoding.

No database.
"""

from __future__ import annotations

import pytest

from documents.services.decode import decode_text
from documents.services.extract_errors import (
    EmptyFile,
    UnsupportedType,
)
from documents.services.filetypes import sniff_kind
from documents.tests.samples import (
    REAL_TEXT,
)

PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"


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
        (PNG_HEAD, "report.pdf", "image"),  # read by OCR, whatever its name
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "photo.jpg", "image"),
        (b"II*\x00\x08\x00\x00\x00", "scan.tif", "image"),
        (b"MM\x00*\x00\x00\x00\x08", "scan.tiff", "image"),
    ],
)
def test_sniff_kind_reads_the_content(head: bytes, filename: str, kind: str) -> None:
    assert sniff_kind(head, filename) == kind


def test_sniff_kind_utf16_text_is_text() -> None:
    assert sniff_kind(REAL_TEXT.encode("utf-16"), "speech.txt") == "text"
    assert sniff_kind("# Titre\n\nCafé".encode("utf-16-le"), "notes") == "markdown"


def test_sniff_kind_a_gif_named_pdf_is_unsupported() -> None:
    with pytest.raises(UnsupportedType) as caught:
        sniff_kind(b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "report.pdf")
    assert "GIF image" in caught.value.message
    assert "images (PNG, JPEG, TIFF)" in caught.value.message
    assert caught.value.status_code == 415
    assert caught.value.code == "unsupported_type"


@pytest.mark.parametrize(
    ("head", "what"),
    [
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
