"""Generated inputs for the ingestion benchmarks (``bench_ingest``, ``bench_fairness``): SciFact abstracts as
text files, a large text PDF with optional noise images (~10 MB at 300 pages), and scans: real text rendered
into page images (``text_page_image``) and an image-only PDF of them (``scanned_pdf``). Files are written into a
folder the caller owns; nothing is committed.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from documents.demo_corpus.builders.common import gettysburg_address, read_source

if TYPE_CHECKING:
    from PIL import Image

# DejaVu (Debian's fonts-dejavu-core); without it, Pillow's own font.
SCAN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")


def scifact_files(directory: Path, limit: int, out: Path) -> list[Path]:
    paths = []
    with (directory / "corpus.jsonl").open() as f:
        for i, line in enumerate(f):
            if i >= limit:
                break
            row = json.loads(line)
            path = out / f"scifact-{row['_id']}.txt"
            path.write_text(f"{row['title']}\n\n{row['text']}\n")
            paths.append(path)
    return paths


def _pdf_texts(pages: int, source: Path | None) -> list[str]:
    """Abstracts of ``source``'s ``corpus.jsonl`` (two per page), else the Gettysburg Address on every page."""
    if source is not None and (source / "corpus.jsonl").exists():
        with (source / "corpus.jsonl").open() as f:
            texts = [json.loads(line)["text"] for _, line in zip(range(pages * 2), f, strict=False)]
        if texts:
            return texts
    return [gettysburg_address()] * pages


def _noise_image() -> ImageReader:
    """A 500×400 JPEG of random pixels (incompressible, ~0.5 MB)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("RGB", (500, 400), os.urandom(500 * 400 * 3)).save(buf, format="JPEG", quality=95)
    buf.seek(0)
    return ImageReader(buf)


def big_pdf(pages: int, out: Path, source: Path | None, images: bool) -> Path:
    """A text PDF of ``pages`` pages (~300 words each) of real abstracts, with a noise image every 10th page."""
    texts = _pdf_texts(pages, source)
    path = out / f"bench-{pages}-pages.pdf"
    pdf = canvas.Canvas(str(path), pagesize=letter)
    for page in range(pages):
        words = (texts[(2 * page) % len(texts)] + " " + texts[(2 * page + 1) % len(texts)]).split()[:320]
        text = pdf.beginText(54, 740)
        text.setFont("Helvetica", 9)
        line: list[str] = []
        for word in words:
            if len(" ".join([*line, word])) > 105:
                text.textLine(" ".join(line))
                line = []
            line.append(word)
        text.textLine(" ".join(line))
        pdf.drawText(text)
        if images and page % 10 == 0:
            pdf.drawImage(_noise_image(), 54, 60, width=250, height=200)
        pdf.showPage()
    pdf.save()
    return path


def text_page_image(
    text: str, *, dpi: int = 300, points: float = 11, width_in: float = 8.5, height_in: float = 11
) -> Image.Image:
    """A grayscale letter-size page (``width_in`` x ``height_in`` inches at ``dpi``) with ``text`` typeset in
    ``points``-point DejaVu Serif, 1-inch margins; a blank line in ``text`` starts a paragraph. Raises ValueError
    when the text does not fit on the page."""
    from PIL import Image, ImageDraw, ImageFont

    size = round(points * dpi / 72)
    font = ImageFont.truetype(str(SCAN_FONT), size) if SCAN_FONT.exists() else ImageFont.load_default(size)
    page = Image.new("L", (round(width_in * dpi), round(height_in * dpi)), 255)
    draw, margin, leading = ImageDraw.Draw(page), dpi, round(size * 1.4)
    y = margin
    for paragraph in text.split("\n\n"):
        line = ""
        for word in paragraph.split():
            if line and draw.textlength(f"{line} {word}", font=font) > page.width - 2 * margin:
                draw.text((margin, y), line, font=font, fill=0)
                line, y = word, y + leading
            else:
                line = f"{line} {word}".strip()
        draw.text((margin, y), line, font=font, fill=0)
        y += 2 * leading
        if y > page.height - margin + leading:
            raise ValueError("the text does not fit on one page")
    return page


def scanned_pdf(pages: int, out: Path, *, dpi: int = 300) -> Path:
    """An image-only PDF (no text layer) of ``pages`` pages, each ~300 words of the U.S. Constitution (public
    domain) rendered at ``dpi`` by ``text_page_image`` and made bilevel as an office scanner makes them (Group 4
    compressed: ~40 KB a page)."""
    from PIL import Image

    words = read_source("constitution.txt").split()
    path = out / f"scan-{pages}-pages.pdf"
    images = [
        text_page_image(" ".join(words[(300 * page) % (len(words) - 300) :][:300]), dpi=dpi).convert(
            "1", dither=Image.Dither.NONE
        )
        for page in range(pages)
    ]
    images[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return path


def bare_encode_seconds(workspace_id: int, *, document_ids: list[int] | None = None) -> tuple[int, float]:
    """The physical limit of ingestion: the chunks of the workspace (or of ``document_ids`` in it) and the seconds
    ``embed_texts`` alone takes on exactly their inputs (title and heading path prefixed, as ingestion embeds
    them, without the prefix where the chunker dropped it for length), in one call, in this process. Benchmarks
    divide their end-to-end time by it."""
    import time

    from django.conf import settings

    from documents.embeddings import embed_texts, get_encoder
    from documents.models import Chunk
    from documents.services.chunk import stored_embed_texts

    chunks = Chunk.objects.filter(workspace_id=workspace_id)
    if document_ids is not None:
        chunks = chunks.filter(document_id__in=document_ids)
    rows = list(chunks.select_related("document").only("text", "heading_path", "document__title"))
    inputs = stored_embed_texts([(c.document.title, tuple(c.heading_path), c.text) for c in rows])
    get_encoder()
    started = time.perf_counter()
    embed_texts(inputs, batch_size=settings.EMBEDDING_BATCH_SIZE)
    return len(inputs), time.perf_counter() - started
