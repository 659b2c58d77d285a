"""PDF builder: ``us-constitution.pdf`` with headings, a running footer and an outline."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

from .common import ARTICLE_RE, SECTION_RE, blocks, read_source


class OutlinedDocTemplate(BaseDocTemplate):
    """A doc template that turns tagged headings into PDF bookmarks."""

    def afterFlowable(self, flowable):
        """Bookmark the page of a flowable that carries an ``outline`` tag."""
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


def _styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles of the Constitution PDF: title, subtitle, h1 (Articles), h2 (Sections), body."""
    return {
        "title": ParagraphStyle(
            "DocTitle", fontName="Times-Bold", fontSize=20, leading=24, alignment=TA_CENTER, spaceAfter=6
        ),
        "subtitle": ParagraphStyle(
            "DocSubtitle", fontName="Times-Italic", fontSize=11, leading=14, alignment=TA_CENTER, spaceAfter=24
        ),
        "h1": ParagraphStyle(
            "Heading1", fontName="Times-Bold", fontSize=15, leading=19, spaceBefore=6, spaceAfter=8, keepWithNext=1
        ),
        "h2": ParagraphStyle(
            "Heading2",
            fontName="Times-Bold",
            fontSize=11.5,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,
        ),
        "body": ParagraphStyle(
            "Body", fontName="Times-Roman", fontSize=10, leading=13.5, spaceAfter=6, firstLineIndent=14
        ),
    }


def _story(title: str, body: list[str]) -> list[Flowable]:
    """The flowables: title, subtitle, then the Preamble and each Article (on a new page) with its
    Sections, headings carrying their outline entries."""
    styles = _styles()
    story: list[Flowable] = [
        Paragraph(xml_escape(title), styles["title"]),
        Paragraph("Signed in Convention at Philadelphia, September 17, 1787", styles["subtitle"]),
    ]
    article = None
    for block in body:
        text = " ".join(block.split("\n"))
        if block == "Preamble" or ARTICLE_RE.match(block):
            if ARTICLE_RE.match(block):
                story.append(PageBreak())  # every Article starts on a new page
                article = block.split()[1]
            para = Paragraph(xml_escape(block), styles["h1"])
            key = "preamble" if block == "Preamble" else f"article-{article}"
            para.outline = (key, block, 0)  # read by OutlinedDocTemplate
            story.append(para)
        elif SECTION_RE.match(block):
            if article is None:
                raise SystemExit(f"constitution.txt: {block!r} outside an Article")
            para = Paragraph(xml_escape(block), styles["h2"])
            number = block.split()[1]
            outline = (f"article-{article}-section-{number}", f"Article {article}, {block}", 1)
            para.outline = outline  # read by OutlinedDocTemplate
            story.append(para)
        else:
            story.append(Paragraph(xml_escape(text), styles["body"]))
    story.append(Spacer(1, 12))
    return story


def build_constitution_pdf(out: Path) -> int:
    """Write the Constitution PDF to ``out`` and return its page count."""
    parts = blocks(read_source("constitution.txt"))
    doc = OutlinedDocTemplate(
        str(out),
        pagesize=LETTER,
        leftMargin=inch,
        rightMargin=inch,
        topMargin=inch,
        bottomMargin=inch,
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
    doc.build(_story(parts[0], parts[1:]), canvasmaker=_OutlineCanvas)
    return doc.page


def _outline_canvas_factory():
    from reportlab.pdfgen.canvas import Canvas

    class OutlineCanvas(Canvas):
        """Canvas that asks viewers to open with the bookmarks pane visible."""

        def save(self):
            """Set the open-with-outline flag, then save."""
            self.showOutline()
            super().save()

    return OutlineCanvas


_OutlineCanvas = _outline_canvas_factory()
