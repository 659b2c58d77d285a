"""Hostile files for the upload path (``documents/tests/test_hostile_uploads.py``), built in code, small on disk:
hand-written PDFs (10,000 pages that are one page object listed 10,000 times, JavaScript actions, a huge image on a
blank page), image headers claiming billions of pixels, ZIPs whose sizes lie, XML entity bombs and external
entities in every XML-based format, polyglots, and an e-mail message whose attachments carry hostile names.
Extraction-level hostile text (long lines, deep nesting) is in ``documents.hostile``."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

from documents.tests import office_samples as office
from documents.tests import samples
from documents.tests.emails import make_message

PROSE = b"Four score and seven years ago our fathers brought forth on this continent a new nation."
_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_TEXT_PAGE = (
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >>"
)


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (object 1 is the catalog), numbered from 1, with a correct cross-reference table."""
    pdf = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


def pdf_stream(data: bytes, entries: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(data), entries, data)


def _text_ops(text: bytes) -> bytes:
    return b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text


def pdf_pages(count: int, text: bytes = PROSE) -> bytes:
    """A PDF of ``count`` pages, each the same page object (its ``/Kids`` lists it ``count`` times): 60 KB for
    10,000 pages, every one of which pdfium opens."""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + b"3 0 R " * count + b"] /Count %d >>" % count,
            _TEXT_PAGE + b" >>",
            pdf_stream(_text_ops(text)),
            _FONT,
        ]
    )


def pdf_javascript(text: bytes = PROSE) -> bytes:
    """A one-page text PDF that runs JavaScript when opened (``/OpenAction``, the ``/Names`` tree, the page's own
    open action) in a reader that runs it."""
    action = b"<< /Type /Action /S /JavaScript /JS (app.alert('pwned'); this.submitForm('http://127.0.0.1:9/x');) >>"
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R /Names << /JavaScript << /Names [(x) 6 0 R] >> >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            _TEXT_PAGE + b" /AA << /O 6 0 R >> >>",
            pdf_stream(_text_ops(text)),
            _FONT,
            action,
        ]
    )


def pdf_huge_image(side: int = 30_000) -> bytes:
    """A page with no text layer covered by a ``side`` x ``side`` 1-bit image (900 megapixels, 110 KB of Flate):
    OCR renders the page, not the image, at its own resolution."""
    row, deflate = b"\xff" * ((side + 7) // 8), zlib.compressobj(9)
    pixels = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    image = b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 1" % (
        side,
        side,
    )
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /XObject << /Im1 5 0 R >> >> >>",
            pdf_stream(b"q 612 0 0 792 0 0 cm /Im1 Do Q"),
            pdf_stream(pixels, image + b" /Filter /FlateDecode "),
        ]
    )


def pdf_truncated(directory: Path) -> bytes:
    """The first half of a real three-page PDF: its objects cut mid-stream, no cross-reference table, no trailer."""
    data = samples.make_pdf(directory, [samples.REAL_TEXT] * 3, name="whole.pdf").read_bytes()
    return data[: len(data) // 2]


def pdf_encrypted(directory: Path) -> bytes:
    return samples.make_encrypted_pdf(directory).read_bytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *, text: bytes = b"") -> bytes:
    """A PNG whose header says ``width`` x ``height`` (1-bit grey) over one row of pixel data (a bomb's header
    costs nothing to send); ``text``: a ``tEXt`` chunk of that content (an HTML or script polyglot)."""
    extra = _png_chunk(b"tEXt", b"Comment\x00" + text) if text else b""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\xff" * ((width + 7) // 8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + extra
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    """A real 8 x 8 JPEG whose frame header (SOF0) is rewritten to say ``width`` x ``height``."""
    out = io.BytesIO()
    Image.new("L", (8, 8), 255).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff(width: int, height: int) -> bytes:
    """A one-strip bilevel TIFF whose tags say ``width`` x ``height`` over 8 bytes of pixels."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 1), (259, 3, 1), (262, 3, 0)]
    tags += [(273, 4, 0), (277, 3, 1), (278, 4, height), (279, 4, 8)]  # 273: the strip's offset, set below
    strip = 8 + 2 + 12 * len(tags) + 4

    def entry(tag: int, kind: int, value: int) -> bytes:
        value = strip if tag == 273 else value
        packed = struct.pack("<I", value) if kind == 4 else struct.pack("<HH", value, 0)
        return struct.pack("<HHI", tag, kind, 1) + packed

    entries = b"".join(entry(*tag) for tag in tags)
    return b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries + b"\x00" * 4 + b"\xff" * 8


def _docx(directory: Path, name: str) -> Path:
    return samples.make_docx(directory, [("Heading 1", "Report"), ("Normal", samples.REAL_TEXT)], name=name)


def zip_ratio_bomb(directory: Path) -> bytes:
    """A DOCX with a 20 MB member of zeros compressed 1,000:1 (20 KB)."""
    return samples.make_zip_bomb(directory, megabytes=20).read_bytes()


def zip_lying_sizes(directory: Path) -> bytes:
    """A DOCX whose ``word/document.xml`` is 20 MB of paragraphs (21 KB compressed) while its local and central
    headers claim 1,000 bytes: under every ratio and size check, so only the reader can notice."""
    paragraph = b"<w:p><w:r><w:t>lol</w:t></w:r></w:p>"
    body = b"<w:body>" + paragraph * (20_000_000 // len(paragraph)) + b"</w:body></w:document>"
    xml = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">' + body
    path = office.rewrite_zip(_docx(directory, "lies.docx"), directory / "lying.docx", {"word/document.xml": xml})
    data = bytearray(path.read_bytes())
    name = b"word/document.xml"
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = -1
        while (at := data.find(signature, at + 1)) >= 0:
            if data[at + name_at : at + name_at + len(name)] == name:
                data[at + size_at : at + size_at + 4] = struct.pack("<I", 1000)
    return bytes(data)


def billion_laughs(root: str, namespace: str) -> bytes:
    return office.billion_laughs(root, namespace)


def external_entity(root: str, namespace: str, inside: str = "") -> bytes:
    """XML whose element ``root`` holds ``&xxe;``, an external entity naming /etc/passwd (``inside``: markup around
    the reference, for a format whose reader needs it)."""
    reference = inside.replace("XXE", "&xxe;") if inside else "&xxe;"
    return (
        f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f'<{root} xmlns="{namespace}">{reference}</{root}>'
    ).encode()


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_member(directory: Path, name: str, member: str, data: bytes) -> bytes:
    """A real DOCX with ``member`` replaced by ``data``."""
    return office.rewrite_zip(_docx(directory, f"base-{name}"), directory / name, {member: data}).read_bytes()


def office_member(directory: Path, kind: str, member: str, data: bytes) -> bytes:
    """A real file of ZIP kind ``kind`` (pptx, xlsx, odt, ods, odp, epub) with ``member`` replaced by ``data``."""
    path = office.rewrite_zip(office.ZIP_MAKERS[kind](directory), directory / f"hostile-{kind}.{kind}", {member: data})
    return path.read_bytes()


def polyglot_pdf_zip(directory: Path) -> bytes:
    """A real PDF with a real DOCX appended: a ZIP reader finds the DOCX (its directory is at the end), a PDF
    reader the PDF (its header is at the start)."""
    pdf = samples.make_pdf(directory, [samples.REAL_TEXT], name="front.pdf").read_bytes()
    return pdf + _docx(directory, "back.docx").read_bytes()


def deep_html(depth: int = 20_000) -> bytes:
    """Prose inside ``depth`` nested elements (past ``EXTRACT_HTML_MAX_DEPTH``: the plain reader takes it)."""
    return b"<html><body>" + b"<div>" * depth + b"<p>" + PROSE + b"</p>" + b"</div>" * depth + b"</body></html>"


def xxe_html() -> bytes:
    return (
        b'<!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><html><head><title>Leak &xxe;</title></head>'
        b"<body><p>" + PROSE + b" &xxe;</p></body></html>"
    )


def eml_hostile_attachments() -> bytes:
    """A message whose attachments have hostile names: a path out of the upload folder with an escape sequence
    (text: becomes a document), a Windows program behind an RTL override and a NUL (refused: a note)."""
    attachments = [
        ("../../../etc/cron.d/evil\x1b[31m.txt", PROSE * 3, "text/plain"),
        ("invoice\u202egpj.exe\x00.pdf", b"MZ\x90\x00" + bytes(200), "application/octet-stream"),
    ]
    return make_message(subject="Quarterly figures", body=PROSE.decode(), attachments=attachments).as_bytes()


def nul_after_the_sniffed_head() -> bytes:
    """Plain text whose NUL bytes start after the 64 KiB that the upload checks decode."""
    head = (PROSE + b"\n\n") * (70_000 // (len(PROSE) + 2))
    return head + b"tail \x00\x00\x00 after the head " * 50
