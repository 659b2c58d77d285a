"""Regenerate the demo corpus in ``files/`` from the plain-text sources in ``sources/``.

Run from the project root::

    .venv/bin/python documents/demo_corpus/build.py

The generated files are committed, so users never need to run this; it exists so the
demo documents can be rebuilt (and reviewed) from readable sources. The output is
deterministic: the PDF is written with ReportLab's ``invariant`` mode, and the DOCX
has fixed core properties and fixed ZIP entry timestamps, so an unchanged source
produces byte-identical files.

Formats, and what each one exercises in an extractor:

* ``us-constitution.pdf``  multi-page text PDF with headings, a running footer and
  an outline (bookmarks) per Article and Section.
* ``bill-of-rights.docx``  Title / Heading 1 / Normal paragraphs plus a table.
* ``declaration-of-independence.html``  the text inside ``<main><article>``,
  surrounded by navigation, banner, sidebar, footer and cookie boilerplate.
* ``gettysburg-address.md``  Markdown headings.
* ``second-inaugural-address.txt``  plain text.
* ``constitutional-amendments.csv``  a small table.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import shutil
import sys
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from docx import Document
from docx.shared import Pt
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
FILES = HERE / "files"

# A fixed timestamp for every piece of metadata that would otherwise record "now".
FIXED_DATETIME = dt.datetime(2024, 1, 1, 0, 0, 0)
FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)

ARTICLE_RE = re.compile(r"^Article [IVX]+$")
SECTION_RE = re.compile(r"^Section \d+$")
AMENDMENT_RE = re.compile(r"^Amendment [IVX]+$")


# --------------------------------------------------------------------------- helpers


def read_source(name: str) -> str:
    return (SOURCES / name).read_text(encoding="utf-8")


def blocks(text: str) -> list[str]:
    """Split a source into blank-line separated blocks, each stripped."""
    return [b.strip() for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def read_amendments() -> list[dict[str, str]]:
    with (SOURCES / "amendments_table.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != 27:
        raise SystemExit(f"amendments_table.csv: expected 27 rows, found {len(rows)}")
    return rows


# --------------------------------------------------------------------------- PDF


class OutlinedDocTemplate(BaseDocTemplate):
    """A doc template that turns tagged headings into PDF bookmarks."""

    def afterFlowable(self, flowable):  # noqa: N802 (ReportLab's hook name)
        outline = getattr(flowable, "outline", None)
        if outline is None:
            return
        key, title, level = outline
        self.canv.bookmarkPage(key)
        self.canv.addOutlineEntry(title, key, level=level, closed=False)


def _pdf_footer(canvas, doc):
    canvas.saveState()
    canvas.setFont("Times-Italic", 8.5)
    canvas.drawString(doc.leftMargin, 0.6 * inch, "The Constitution of the United States")
    canvas.drawRightString(LETTER[0] - doc.rightMargin, 0.6 * inch, f"Page {doc.page}")
    canvas.restoreState()


def build_constitution_pdf(out: Path) -> int:
    parts = blocks(read_source("constitution.txt"))
    title, body = parts[0], parts[1:]

    title_style = ParagraphStyle(
        "DocTitle", fontName="Times-Bold", fontSize=20, leading=24,
        alignment=TA_CENTER, spaceAfter=6,
    )
    subtitle_style = ParagraphStyle(
        "DocSubtitle", fontName="Times-Italic", fontSize=11, leading=14,
        alignment=TA_CENTER, spaceAfter=24,
    )
    h1 = ParagraphStyle(
        "Heading1", fontName="Times-Bold", fontSize=15, leading=19,
        spaceBefore=6, spaceAfter=8, keepWithNext=1,
    )
    h2 = ParagraphStyle(
        "Heading2", fontName="Times-Bold", fontSize=11.5, leading=14,
        spaceBefore=8, spaceAfter=4, keepWithNext=1,
    )
    body_style = ParagraphStyle(
        "Body", fontName="Times-Roman", fontSize=10, leading=13.5,
        spaceAfter=6, firstLineIndent=14,
    )

    story = [
        Paragraph(xml_escape(title), title_style),
        Paragraph("Signed in Convention at Philadelphia, September 17, 1787", subtitle_style),
    ]
    article = None
    for block in body:
        text = " ".join(block.split("\n"))
        if block == "Preamble" or ARTICLE_RE.match(block):
            if ARTICLE_RE.match(block):
                story.append(PageBreak())  # every Article starts on a new page
                article = block.split()[1]
            para = Paragraph(xml_escape(block), h1)
            key = "preamble" if block == "Preamble" else f"article-{article}"
            para.outline = (key, block, 0)
            story.append(para)
        elif SECTION_RE.match(block):
            if article is None:
                raise SystemExit(f"constitution.txt: {block!r} outside an Article")
            para = Paragraph(xml_escape(block), h2)
            number = block.split()[1]
            para.outline = (f"article-{article}-section-{number}", f"Article {article}, {block}", 1)
            story.append(para)
        else:
            story.append(Paragraph(xml_escape(text), body_style))
    story.append(Spacer(1, 12))

    doc = OutlinedDocTemplate(
        str(out),
        pagesize=LETTER,
        leftMargin=inch, rightMargin=inch, topMargin=inch, bottomMargin=inch,
        title="The Constitution of the United States",
        author="Constitutional Convention of 1787",
        subject="Text of the Constitution of the United States as signed in 1787 "
        "(Preamble and Articles I-VII); public domain",
        creator="Groundwork demo corpus (documents/demo_corpus/build.py)",
        keywords=["constitution", "united states", "public domain", "demo"],
        invariant=1,
        lang="en-US",
        displayDocTitle=1,
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body")
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPageEnd=_pdf_footer)])
    doc.build(story, canvasmaker=_OutlineCanvas)
    return doc.page


def _outline_canvas_factory():
    from reportlab.pdfgen.canvas import Canvas

    class OutlineCanvas(Canvas):
        """Canvas that asks viewers to open with the bookmarks pane visible."""

        def save(self):
            self.showOutline()
            super().save()

    return OutlineCanvas


_OutlineCanvas = _outline_canvas_factory()


# --------------------------------------------------------------------------- DOCX


def _deterministic_zip(data: bytes) -> bytes:
    """Rewrite a ZIP with fixed entry timestamps (python-docx stamps 'now')."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return buf.getvalue()


def build_bill_of_rights_docx(out: Path, amendments: list[dict[str, str]]) -> int:
    parts = blocks(read_source("bill_of_rights.txt"))
    title, body = parts[0], parts[1:]

    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(11)

    props = document.core_properties
    props.title = title
    props.subject = "The first ten amendments to the Constitution of the United States (1791)"
    props.author = "First Federal Congress (proposed 1789)"
    props.keywords = "bill of rights; amendments; constitution; public domain; demo"
    props.comments = "Generated by documents/demo_corpus/build.py for the Groundwork demo corpus."
    props.last_modified_by = "Groundwork demo corpus"
    props.category = "Demo corpus"
    props.revision = 1
    props.created = FIXED_DATETIME
    props.modified = FIXED_DATETIME
    props.last_printed = FIXED_DATETIME

    document.add_paragraph(title, style="Title")
    document.add_paragraph(
        "The first ten amendments to the Constitution of the United States, "
        "ratified December 15, 1791."
    )
    headings = 0
    for block in body:
        if AMENDMENT_RE.match(block):
            document.add_paragraph(block, style="Heading 1")
            headings += 1
        else:
            document.add_paragraph(" ".join(block.split("\n")), style="Normal")

    caption = document.add_paragraph()
    caption.add_run("Ratification of the Bill of Rights").bold = True
    table = document.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    header = table.rows[0].cells
    header[0].text = "Amendment"
    header[1].text = "Ratified"
    for run in (header[0].paragraphs[0].runs + header[1].paragraphs[0].runs):
        run.bold = True
    for row in amendments[:10]:
        cells = table.add_row().cells
        cells[0].text = f"Amendment {row['amendment']}"
        cells[1].text = row["ratified_year"]

    buf = io.BytesIO()
    document.save(buf)
    out.write_bytes(_deterministic_zip(buf.getvalue()))
    return headings


# --------------------------------------------------------------------------- HTML

HTML_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>The Declaration of Independence | The Founders' Reading Room</title>
  <meta name="description" content="Full text of the Declaration of Independence, July 4, 1776.">
  <link rel="canonical" href="https://example.org/documents/declaration-of-independence">
  <style>
    body {{ font-family: Georgia, serif; margin: 0; color: #222; }}
    nav ul {{ list-style: none; display: flex; gap: 1.5em; margin: 0; padding: 0.75em 2em; background: #1b2a41; }}
    nav a {{ color: #fff; text-decoration: none; }}
    header.banner {{ padding: 2em; background: #f3efe4; border-bottom: 1px solid #d8d0b8; }}
    main {{ display: flex; gap: 3em; padding: 2em; }}
    article {{ max-width: 42em; line-height: 1.6; }}
    aside {{ width: 16em; font-size: 0.9em; }}
    footer {{ padding: 1.5em 2em; background: #eee; font-size: 0.8em; }}
    .cookie-banner {{ position: fixed; bottom: 0; left: 0; right: 0; padding: 1em; background: #333; color: #fff; }}
  </style>
  <script>
    window.dataLayer = window.dataLayer || [];
    function acceptCookies() {{ document.getElementById("cookie-banner").hidden = true; }}
  </script>
</head>
<body>
  <nav aria-label="Main menu">
    <ul>
      <li><a href="/">Home</a></li>
      <li><a href="/about">About</a></li>
      <li><a href="/archives">Archives</a></li>
      <li><a href="/donate">Donate</a></li>
    </ul>
  </nav>
  <header class="banner">
    <p class="site-name">The Founders' Reading Room</p>
    <p class="tagline">Primary sources of American history, free to read. Subscribe to our newsletter for a new document every week!</p>
  </header>
  <main>
    <article>
      <h1>The Declaration of Independence</h1>
{article}
    </article>
    <aside class="sidebar">
      <h3>Related documents</h3>
      <ul>
        <li><a href="/documents/articles-of-confederation">The Articles of Confederation</a></li>
        <li><a href="/documents/constitution">The Constitution of the United States</a></li>
        <li><a href="/documents/bill-of-rights">The Bill of Rights</a></li>
      </ul>
      <p>Share this page: <a href="#">Email</a> &middot; <a href="#">Print</a></p>
    </aside>
  </main>
  <footer>
    <p>&copy; 2024 The Founders' Reading Room. Site design and commentary all rights reserved. The text of the Declaration of Independence is in the public domain.</p>
    <p><a href="/privacy">Privacy Policy</a> | <a href="/terms">Terms of Use</a> | <a href="/cookies">Cookie Policy</a> | <a href="/contact">Contact us</a></p>
    <div class="cookie-banner" id="cookie-banner" role="dialog" aria-label="Cookie consent">
      We use cookies to improve your experience and to analyse site traffic. By continuing to browse this site you agree to our use of cookies.
      <button type="button" onclick="acceptCookies()">Accept all cookies</button>
    </div>
  </footer>
</body>
</html>
"""


def build_declaration_html(out: Path) -> None:
    parts = blocks(read_source("declaration.txt"))
    dateline, heading, paragraphs = parts[0], parts[1], parts[2:]

    grievances_start = next(i for i, p in enumerate(paragraphs) if p.startswith("He has refused his Assent"))
    conclusion_start = next(i for i, p in enumerate(paragraphs) if p.startswith("In every stage"))
    preamble = paragraphs[:grievances_start]
    grievances = paragraphs[grievances_start:conclusion_start]
    conclusion = paragraphs[conclusion_start:]

    def esc(text: str) -> str:
        return html.escape(" ".join(text.split("\n")), quote=False)

    indent = " " * 6
    lines = [
        f'{indent}<p class="dateline">{esc(dateline)}</p>',
        f'{indent}<p class="subtitle"><strong>{esc(heading)}</strong></p>',
        f"{indent}<h2>Preamble</h2>",
    ]
    lines += [f"{indent}<p>{esc(p)}</p>" for p in preamble]
    lines.append(f"{indent}<h2>Grievances</h2>")
    in_list = False
    for p in grievances:
        # The "For ..." clauses continue the preceding "He has combined ..." sentence.
        if p.startswith("For "):
            if not in_list:
                lines.append(f"{indent}<ul>")
                in_list = True
            lines.append(f"{indent}  <li>{esc(p)}</li>")
        else:
            if in_list:
                lines.append(f"{indent}</ul>")
                in_list = False
            lines.append(f"{indent}<p>{esc(p)}</p>")
    if in_list:
        lines.append(f"{indent}</ul>")
    lines.append(f"{indent}<h2>Conclusion</h2>")
    lines += [f"{indent}<p>{esc(p)}</p>" for p in conclusion]

    write_text(out, HTML_TEMPLATE.format(article="\n".join(lines)))


# --------------------------------------------------------------------------- Markdown / text / CSV


GETTYSBURG_ABOUT = (
    "The Gettysburg Address was delivered by President Abraham Lincoln on November 19, 1863, "
    "at the dedication of the Soldiers' National Cemetery in Gettysburg, Pennsylvania, "
    "four and a half months after the Battle of Gettysburg. "
    "The text below follows the Bliss copy, the manuscript Lincoln wrote out in 1864 and the "
    "version most often reproduced."
)


def build_gettysburg_md(out: Path) -> None:
    text = read_source("gettysburg.txt").strip()
    md = "\n".join(
        [
            "# The Gettysburg Address",
            "",
            "## About",
            "",
            GETTYSBURG_ABOUT,
            "",
            "## Text",
            "",
            text,
            "",
        ]
    )
    write_text(out, md)


def build_second_inaugural_txt(out: Path) -> None:
    text = read_source("lincoln_second_inaugural.txt").strip()
    header = "Second Inaugural Address\nAbraham Lincoln\nWashington, D.C., March 4, 1865\n\n"
    write_text(out, header + text + "\n")


def build_amendments_csv(out: Path) -> None:
    shutil.copyfile(SOURCES / "amendments_table.csv", out)


# --------------------------------------------------------------------------- main


def main() -> int:
    FILES.mkdir(parents=True, exist_ok=True)
    amendments = read_amendments()

    def report(path: Path, note: str = "") -> None:
        rel = path.relative_to(HERE.parent.parent) if path.is_relative_to(HERE.parent.parent) else path
        suffix = f"  ({note})" if note else ""
        print(f"wrote {rel}  {path.stat().st_size:,} bytes{suffix}")

    pdf = FILES / "us-constitution.pdf"
    pages = build_constitution_pdf(pdf)
    report(pdf, f"{pages} pages")

    docx_path = FILES / "bill-of-rights.docx"
    headings = build_bill_of_rights_docx(docx_path, amendments)
    report(docx_path, f"{headings} Heading 1 paragraphs + table")

    html_path = FILES / "declaration-of-independence.html"
    build_declaration_html(html_path)
    report(html_path)

    md = FILES / "gettysburg-address.md"
    build_gettysburg_md(md)
    report(md)

    txt = FILES / "second-inaugural-address.txt"
    build_second_inaugural_txt(txt)
    report(txt)

    csv_path = FILES / "constitutional-amendments.csv"
    build_amendments_csv(csv_path)
    report(csv_path, f"{len(amendments)} rows")

    total = sum(p.stat().st_size for p in FILES.iterdir() if p.is_file())
    print(f"total {total:,} bytes in {FILES.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
