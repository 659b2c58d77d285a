"""Generated inputs for the ingestion benchmarks (``bench_ingest``, ``bench_fairness``): SciFact abstracts as
text files, and a large text PDF with optional noise images (~10 MB at 300 pages). Files are written into a
folder the caller owns; nothing is committed.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from documents.demo_corpus.builders.common import gettysburg_address


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
