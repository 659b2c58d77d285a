"""Benchmark the embedding variants on the same chunks: speed, memory and agreement with torch fp32.

    python manage.py bench_embed --scifact ../shared/eval/scifact --limit 1000
    python manage.py bench_embed --scifact DIR --variants onnx-int8,torch-bf16 --json

The chunks are real text: SciFact abstracts cut at ``--words`` words (kept where they fit the model's window), as
ingestion's chunks are. Each variant runs in fresh processes of its own (so the peak RSS is that variant's: Django,
the runtime and the model), three ways: 1 process with 1 thread, 1 process with 2 threads, and 2 processes with
1 thread each at once (the worker pool's layout: chunks/s of both together). Prints, per variant: chunks/s of each
way, peak RSS (MB) of a 1-thread process, the cosine of its vectors to torch fp32's (mean and minimum; the static
variant's vectors live in a space of their own, so theirs is not comparable), the seconds to make its file on
first use, and the CPU model. With ``--batch-sizes``, the batched variants also run at those batch sizes (1 process,
the thread count the pool gives each process). Retrieval and answer quality per variant come from
``evaluate_retrieval`` and ``evaluate_answers`` run with ``EMBEDDING_VARIANT`` set; given their ``--json`` outputs
(``--quality DIR`` holding ``VARIANT-scifact.json`` and ``VARIANT-squad.json``), the command ends with the README's
table of variants (Markdown), each against torch fp32::

    for V in torch-fp32 onnx-int8 static; do
        EMBEDDING_VARIANT=$V python manage.py evaluate_retrieval --beir SCIFACT --json > q/$V-scifact.json
        EMBEDDING_VARIANT=$V python manage.py evaluate_answers --squad DEV.json --limit 1000 --json > q/$V-squad.json
    done
    python manage.py bench_embed --scifact ../shared/eval/scifact --quality q
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.progress import ProgressBar
from documents.embedding_variants import REFERENCE, VARIANTS, artifact_path, cpu_description, ensure_artifact
from documents.embeddings import MAX_TEXT_TOKENS, count_tokens, local_embed_texts, unit_rows

LAYOUTS = (("1 thread", 1, 1), ("2 threads", 1, 2), ("2 processes x 1 thread", 2, 1))


def scifact_chunks(directory: Path, *, limit: int, words: int) -> list[str]:
    """Up to ``limit`` chunk texts from SciFact's corpus: each abstract's title and first ``words`` words, kept
    where it fits ``MAX_TEXT_TOKENS`` word pieces."""
    texts: list[str] = []
    with open(directory / "corpus.jsonl") as handle:
        for line in handle:
            row = json.loads(line)
            body = " ".join(row["text"].split()[:words])
            if body:
                texts.append(f"{row.get('title', '')}\n{body}".strip())
            if len(texts) >= limit * 2:
                break
    fits = count_tokens(texts)
    return [t for t, n in zip(texts, fits, strict=True) if n <= MAX_TEXT_TOKENS][:limit]


class Command(BaseCommand):
    help = "Benchmark the embedding variants (chunks/s by threads and processes, peak RSS, cosine to torch fp32)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scifact", type=Path, help="a BEIR SciFact directory (corpus.jsonl)")
        parser.add_argument("--limit", type=int, default=1000, help="chunks (default 1000)")
        parser.add_argument("--words", type=int, default=150, help="words per chunk before the window cut")
        parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated (default: all)")
        parser.add_argument("--batch-sizes", default="", help="e.g. 8,16,64: also run batched variants at these")
        parser.add_argument(
            "--quality", type=Path, help="a folder of evaluate_retrieval/evaluate_answers --json outputs"
        )
        parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
        # internal: one measuring process
        parser.add_argument("--child", nargs=3, metavar=("VARIANT", "TEXTS", "OUT"), help=argparse.SUPPRESS)
        parser.add_argument("--batch-size", type=int, default=0, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["child"]:
            self._child(*opts["child"], batch_size=opts["batch_size"])
            return
        if not opts["scifact"]:
            raise CommandError("--scifact DIR is required")
        names = [v.strip() for v in opts["variants"].split(",") if v.strip()]
        unknown = [n for n in names if n not in VARIANTS]
        if unknown:
            raise CommandError(f"unknown variant(s): {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
        if REFERENCE not in names:
            names.insert(0, REFERENCE)
        texts = scifact_chunks(opts["scifact"], limit=opts["limit"], words=opts["words"])
        sizes = [int(s) for s in opts["batch_sizes"].split(",") if s.strip()]
        report = self._measure(names, texts, sizes)
        if opts["quality"]:
            report["quality"] = quality_of(opts["quality"], names)
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self._print(report)
        if opts["quality"]:
            self.stdout.write("")
            self.stdout.write(quality_table(report))

    def _measure(self, names: list[str], texts: list[str], sizes: list[int]) -> dict[str, Any]:
        results: dict[str, Any] = {}
        runs = len(names) * len(LAYOUTS) + len(sizes) * len(names)
        bar, done = ProgressBar("measuring variants", self.stderr), 0
        with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
            source = Path(tmp) / "texts.json"
            source.write_text(json.dumps(texts))
            reference: np.ndarray | None = None
            for name in names:
                build_s = self._build(name)
                row: dict[str, Any] = {"build_s": build_s, "chunks_per_s": {}}
                for label, processes, threads in LAYOUTS:
                    measured = self._run(name, source, Path(tmp), processes=processes, threads=threads)
                    row["chunks_per_s"][label] = round(len(texts) * processes / measured["wall_s"], 1)
                    if processes == 1 and threads == 1:
                        row["peak_rss_mb"] = measured["peak_rss_mb"]
                        vectors = np.load(measured["vectors"])
                        if name == REFERENCE:
                            reference = vectors
                        if reference is not None and VARIANTS[name].runtime != "static":
                            cosines = np.einsum("ij,ij->i", vectors, reference)
                            row["cosine_to_fp32"] = {
                                "mean": round(float(cosines.mean()), 5),
                                "min": round(float(cosines.min()), 5),
                            }
                    done += 1
                    bar(done, runs, name)
                if sizes and not VARIANTS[name].alone and VARIANTS[name].runtime != "static":
                    row["chunks_per_s_by_batch"] = {}
                    for size in sizes:
                        measured = self._run(name, source, Path(tmp), processes=1, threads=1, batch_size=size)
                        row["chunks_per_s_by_batch"][size] = round(len(texts) / measured["wall_s"], 1)
                        done += 1
                        bar(done, runs, name)
                results[name] = row
        bar(runs, runs)
        return {
            "chunks": len(texts),
            "cpu": cpu_description(),
            "cores": len(os.sched_getaffinity(0)),
            "variants": results,
        }

    def _build(self, name: str) -> float | None:
        """Seconds to make the variant's file (``None``: it needs none, or it was made before)."""
        if VARIANTS[name].runtime == "torch" or artifact_path(name).exists():
            return None
        started = time.perf_counter()
        ensure_artifact(name)
        return round(time.perf_counter() - started, 1)

    def _run(
        self, name: str, source: Path, tmp: Path, *, processes: int, threads: int, batch_size: int = 0
    ) -> dict[str, Any]:
        """Run ``processes`` measuring processes of ``threads`` threads at once; the slowest one's wall time."""
        env = {**os.environ, "EMBEDDING_THREADS": str(threads), "EMBEDDING_VARIANT": name}
        outs = [tmp / f"{name}-{processes}-{threads}-{batch_size}-{i}.json" for i in range(processes)]
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        command = [sys.executable, manage, "bench_embed", "--child", name, str(source)]
        logs = [out.with_suffix(".log") for out in outs]  # the processes' log lines: shown only if one fails
        children = []
        for out, log in zip(outs, logs, strict=True):
            with open(log, "wb") as handle:
                args = [*command, str(out), "--batch-size", str(batch_size)]
                children.append(subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT))
        if any(child.wait() != 0 for child in children):
            tail = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
            raise CommandError(f"measuring {name} failed:\n{tail}")
        measured = [json.loads(out.read_text()) for out in outs]
        return {**measured[0], "wall_s": max(m["wall_s"] for m in measured)}

    def _child(self, name: str, source: str, out: str, *, batch_size: int) -> None:
        """One measuring process: load the variant, warm it on 16 texts, then time all of them once."""
        texts = json.loads(Path(source).read_text())
        size = batch_size or settings.EMBEDDING_BATCH_SIZE
        local_embed_texts(texts[:16], variant=name, batch_size=size)
        started = time.perf_counter()
        vectors = unit_rows(local_embed_texts(texts, variant=name, batch_size=size))
        wall = time.perf_counter() - started
        np.save(out + ".npy", vectors)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        Path(out).write_text(json.dumps({"wall_s": wall, "peak_rss_mb": round(peak), "vectors": out + ".npy"}))

    def _print(self, report: dict[str, Any]) -> None:
        self.stdout.write(f"{report['chunks']} SciFact chunks; CPU: {report['cpu']}, {report['cores']} cores")
        header = f"{'variant':<16}" + "".join(f"{label:>24}" for label, _, _ in LAYOUTS)
        self.stdout.write(header + f"{'RSS MB':>8}{'cos mean':>10}{'cos min':>9}{'file s':>8}")
        for name, row in report["variants"].items():
            speeds = "".join(f"{row['chunks_per_s'][label]:>20.1f} c/s" for label, _, _ in LAYOUTS)
            cosine = row.get("cosine_to_fp32")
            cos = f"{cosine['mean']:>10.5f}{cosine['min']:>9.5f}" if cosine else f"{'-':>10}{'-':>9}"
            build = f"{row['build_s']:>8.1f}" if row["build_s"] is not None else f"{'-':>8}"
            self.stdout.write(f"{name:<16}{speeds}{row['peak_rss_mb']:>8}{cos}{build}")
            if "chunks_per_s_by_batch" in row:
                by = ", ".join(f"batch {k}: {v} c/s" for k, v in row["chunks_per_s_by_batch"].items())
                self.stdout.write(f"{'':<16}1 thread, {by}")


def quality_of(directory: Path, names: list[str]) -> dict[str, dict[str, float]]:
    """Each variant's SciFact nDCG@10 per mode and SQuAD answer recall and citation precision, from the
    ``--json`` outputs ``VARIANT-scifact.json`` (``evaluate_retrieval``) and ``VARIANT-squad.json``
    (``evaluate_answers``) in ``directory``; a variant without them is left out."""
    found: dict[str, dict[str, float]] = {}
    for name in names:
        scifact, squad = directory / f"{name}-scifact.json", directory / f"{name}-squad.json"
        if not (scifact.is_file() and squad.is_file()):
            continue
        retrieval, answers = json.loads(scifact.read_text()), json.loads(squad.read_text())["extractive"]
        found[name] = {f"{mode} nDCG@10": retrieval[mode]["ndcg@10"] for mode in ("bm25", "vector", "hybrid")}
        found[name] |= {"answer recall": answers["answer_recall"], "citation precision": answers["citation_precision"]}
    return found


def quality_table(report: dict[str, Any]) -> str:
    """The README's table: per variant, chunks/s (1 and 2 threads, 2 processes), peak RSS, SciFact nDCG@10
    (vector, hybrid; difference to torch fp32) and SQuAD answer recall and citation precision (difference)."""
    quality, variants = report.get("quality", {}), report["variants"]
    base = quality.get(REFERENCE, {})

    def cell(name: str, metric: str) -> str:
        value = quality.get(name, {}).get(metric)
        if value is None:
            return "–"
        delta = value - base[metric] if metric in base and name != REFERENCE else None
        return f"{value:.4f}" + (f" ({delta:+.4f})" if delta is not None else "")

    lines = [
        f"{report['chunks']} SciFact chunks on {report['cpu']}",
        "",
        "| variant | chunks/s 1 thread | 2 threads | 2 processes | RSS MB | cosine to fp32 (min) "
        "| SciFact vector nDCG@10 | hybrid nDCG@10 | SQuAD answer recall | citation precision |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in variants.items():
        speeds = " | ".join(f"{row['chunks_per_s'][label]:.1f}" for label, _, _ in LAYOUTS)
        cosine = row.get("cosine_to_fp32")
        cos = f"{cosine['mean']:.4f} ({cosine['min']:.4f})" if cosine else "other space"
        metrics = " | ".join(
            cell(name, m) for m in ("vector nDCG@10", "hybrid nDCG@10", "answer recall", "citation precision")
        )
        lines.append(f"| {name} | {speeds} | {row['peak_rss_mb']} | {cos} | {metrics} |")
    return "\n".join(lines)
