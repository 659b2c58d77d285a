"""Benchmark ingestion end to end through a real Celery worker, against the bare embedding model.

    python manage.py bench_ingest --scifact ../shared/eval/scifact --limit 1000   # many small documents
    python manage.py bench_ingest --pdf-pages 300                                 # one large PDF

Prints chunks/s, MB of extracted text/s, seconds per document, peak worker RSS (MB, process tree) and the
ratio of end-to-end throughput to ``model.encode`` throughput on the same chunks (the physical limit).
Uses a scratch workspace in the configured database, deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import workspace_create
from documents.embeddings import embed_texts, get_embedder, resolved_dtype
from documents.models import Chunk, Document, DocumentVersion
from documents.services.chunk import context_prefix
from documents.services.lifecycle import document_delete
from documents.services.upload import document_upload


def _scifact_files(directory: Path, limit: int, out: Path) -> list[Path]:
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


def _big_pdf(pages: int, out: Path, source: Path | None, images: bool) -> Path:
    """A text PDF of ``pages`` pages (~300 words each) of real abstracts, with a noise image every 10th page."""
    import os

    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    texts: list[str] = []
    if source is not None and (source / "corpus.jsonl").exists():
        with (source / "corpus.jsonl").open() as f:
            texts = [json.loads(line)["text"] for _, line in zip(range(pages * 2), f, strict=False)]
    if not texts:
        from documents.tests.samples import REAL_TEXT

        texts = [REAL_TEXT] * pages
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
            import io

            from PIL import Image

            img = Image.frombytes("RGB", (500, 400), os.urandom(500 * 400 * 3))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=95)
            buf.seek(0)
            pdf.drawImage(ImageReader(buf), 54, 60, width=250, height=200)
        pdf.showPage()
    pdf.save()
    return path


class _Worker:
    def __init__(self, concurrency: int, threads: int) -> None:
        env = {"EMBEDDING_THREADS": str(threads)} if threads else {}
        import os

        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                f"--concurrency={concurrency}",
                "--loglevel=WARNING",
                "--without-mingle",
                "--without-gossip",
            ],
            env={**os.environ, **env},
            start_new_session=True,
        )
        self.peak_rss = 0

    def sample(self) -> None:
        try:
            root = psutil.Process(self.proc.pid)
            tree = [root, *root.children(recursive=True)]
            self.peak_rss = max(self.peak_rss, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass

    def stop(self) -> None:
        import os
        import signal

        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


class Command(BaseCommand):
    help = "Benchmark ingestion through a real worker (see module docstring)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scifact", type=Path, help="BEIR SciFact folder: its abstracts become .txt documents")
        parser.add_argument("--limit", type=int, default=1000, help="how many SciFact abstracts (default 1000)")
        parser.add_argument("--pdf-pages", type=int, default=0, help="also ingest one generated PDF of N pages")
        parser.add_argument("--images", action="store_true", help="add noise images to the PDF (~10 MB at 300 pages)")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
        parser.add_argument("--threads", type=int, default=0, help="torch threads per worker process (0: default)")
        parser.add_argument("--timeout", type=float, default=1800)
        parser.add_argument("--keep", action="store_true", help="keep the scratch workspace")
        parser.add_argument("--json", action="store_true", help="print only a JSON result on stdout")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not opts["scifact"] and not opts["pdf_pages"]:
            raise CommandError("Give --scifact DIR and/or --pdf-pages N.")
        from django.contrib.auth import get_user_model

        user, _ = get_user_model().objects.get_or_create(email="bench@groundwork.local")
        workspace = workspace_create(owner=user, name=f"bench {time.strftime('%Y-%m-%d %H:%M:%S')}")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            files = _scifact_files(opts["scifact"], opts["limit"], out) if opts["scifact"] else []
            if opts["pdf_pages"]:
                files.append(_big_pdf(opts["pdf_pages"], out, opts["scifact"], opts["images"]))
            result = self._run(workspace, user, files, opts)
        if not opts["keep"]:
            for document in Document.objects.filter(workspace=workspace):
                document_delete(document=document)
            workspace.delete()
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        else:
            width = max(len(k) for k in result)
            for key, value in result.items():
                self.stdout.write(f"{key:<{width}}  {value}")

    def _run(self, workspace: Any, user: Any, files: list[Path], opts: dict[str, Any]) -> dict[str, Any]:
        worker = _Worker(opts["concurrency"], opts["threads"])
        time.sleep(8)  # let the worker boot before the clock starts (model loading happens on first task)
        total_bytes = sum(p.stat().st_size for p in files)
        started = time.perf_counter()
        ids = []
        for path in files:
            with path.open("rb") as f:
                ids.append(
                    document_upload(
                        workspace=workspace, user=user, file=File(f, name=path.name), filename=path.name
                    ).document.pk
                )
        uploaded = time.perf_counter()
        deadline = started + opts["timeout"]
        while time.perf_counter() < deadline:
            worker.sample()
            pending = Document.objects.filter(pk__in=ids).exclude(status__in=["ready", "failed"]).count()
            if pending == 0:
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        worker.stop()

        documents = Document.objects.filter(pk__in=ids)
        statuses = {s: documents.filter(status=s).count() for s in ("ready", "failed", "queued")}
        stuck = len(ids) - statuses["ready"] - statuses["failed"]
        chunks = list(
            Chunk.objects.filter(document__in=documents)
            .select_related("document")
            .only("text", "heading_path", "document__title")
        )
        text_mb = (
            sum(
                len(t)
                for t in DocumentVersion.objects.filter(document__in=documents).values_list("extracted_text", flat=True)
            )
            / 1e6
        )
        embed_inputs = [context_prefix(c.document.title, tuple(c.heading_path)) + c.text for c in chunks]
        get_embedder()
        t0 = time.perf_counter()
        embed_texts(embed_inputs, batch_size=settings.EMBEDDING_BATCH_SIZE)
        bare = len(embed_inputs) / (time.perf_counter() - t0) if embed_inputs else 0.0
        e2e = len(chunks) / elapsed if elapsed else 0.0
        return {
            "documents": len(ids),
            "ready": statuses["ready"],
            "failed": statuses["failed"],
            "not_finished": stuck,
            "input_MB": round(total_bytes / 1e6, 2),
            "chunks": len(chunks),
            "upload_s": round(uploaded - started, 2),
            "wall_s": round(elapsed, 2),
            "chunks_per_s": round(e2e, 1),
            "text_MB_per_s": round(text_mb / elapsed, 3) if elapsed else 0,
            "s_per_document": round(elapsed / len(ids), 3) if ids else 0,
            "peak_worker_rss_MB": round(worker.peak_rss / 1e6),
            "bare_encode_chunks_per_s": round(bare, 1),
            "e2e_to_encode_ratio": round(e2e / bare, 2) if bare else 0,
            "dtype": resolved_dtype(),
            "worker_concurrency": opts["concurrency"],
        }
