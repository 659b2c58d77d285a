"""Evaluate retrieval quality: nDCG@10, Recall@10, Recall@100, MRR@10 and latency per mode.

    python manage.py evaluate_retrieval --beir ../shared/eval/scifact            # BEIR collection, test split
    python manage.py evaluate_retrieval --beir DIR --json > run.json             # only JSON on stdout
    python manage.py evaluate_retrieval --beir DIR --compare run.json            # exit 1 on a regression
    python manage.py evaluate_retrieval --workspace 12                           # a workspace's golden set
    python manage.py evaluate_retrieval --beir DIR --bare                        # + loading time / bare encoding

A BEIR collection is loaded into a scratch workspace (``documents.scratch``) through the product's ingestion
code, in this process, as a worker ingests small documents (``documents.services.ingest_batch``): batches
embedded on a thread of their own while the next is uploaded and the last stored. With ``--keep`` the workspace
stays and later runs reuse it (only missing documents are added).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Workspace
from config.logs import logger_level
from config.progress import ProgressBar
from documents.bench_corpus import bare_encode_seconds
from documents.scratch import EVALUATION_OWNER, scratch_workspace
from retrieval.evaluation import (
    ModeResult,
    compare_results,
    evaluate_beir,
    evaluate_golden_set,
    load_beir_corpus,
)
from retrieval.selectors import MODES, Mode


class Command(BaseCommand):
    help = "Evaluate retrieval (bm25, vector, hybrid) on a BEIR collection or a workspace's golden set."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--beir", type=Path, help="a BEIR-format directory (corpus.jsonl, queries.jsonl, qrels/)")
        source.add_argument("--workspace", type=int, help="evaluate this workspace's golden set")
        parser.add_argument("--split", default="test", help="qrels split (default: test)")
        parser.add_argument("--mode", default="all", choices=["all", *MODES])
        parser.add_argument("--k", type=int, default=100, help="documents kept per query (≥ 100 for Recall@100)")
        parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
        parser.add_argument(
            "--bare", action="store_true", help="also time the bare encoding of the loaded chunks (loading / bare)"
        )
        parser.add_argument("--compare", type=Path, help="a saved --json result: exit 1 if a metric fell below it")
        parser.add_argument("--tolerance", type=float, default=0.005, help="allowed drop for --compare")
        parser.add_argument("--keep", action="store_true", help="keep the scratch workspace for later runs")

    def handle(self, *args: Any, **opts: Any) -> None:
        with logger_level("documents", logging.WARNING):  # one line per document would drown the bar
            self._run(**opts)

    def _run(self, **opts: Any) -> None:
        modes: list[Mode] = list(MODES) if opts["mode"] == "all" else [opts["mode"]]
        depth = 2 * max(opts["k"], 10)  # chunk hits per query: documents have several chunks
        if opts["beir"]:
            results = self._beir(opts["beir"], opts["split"], modes, depth, opts["keep"], opts["bare"])
        else:
            workspace = Workspace.objects.filter(pk=opts["workspace"]).first()
            if workspace is None:
                raise CommandError(f"No workspace {opts['workspace']}.")
            try:
                results = evaluate_golden_set(
                    workspace, modes=modes, depth=depth, progress=ProgressBar("golden set", self.stderr)
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        report = {mode: result.as_dict() for mode, result in results.items()}
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self._table(results)
        if opts["compare"]:
            regressions = compare_results(report, json.loads(opts["compare"].read_text()), tolerance=opts["tolerance"])
            for line in regressions:
                self.stderr.write(f"REGRESSION {line}")
            if regressions:
                sys.exit(1)

    def _beir(
        self, directory: Path, split: str, modes: list[Mode], depth: int, keep: bool, bare: bool
    ) -> dict[str, ModeResult]:
        if not (directory / "corpus.jsonl").is_file():
            raise CommandError(f"{directory} is not a BEIR collection (no corpus.jsonl).")
        name = f"Evaluation: {directory.resolve().name}"
        with scratch_workspace(owner_email=EVALUATION_OWNER, name=name, keep=keep) as scratch:
            bar = ProgressBar("ingesting corpus", self.stderr)
            started = time.perf_counter()
            counts = load_beir_corpus(scratch.workspace, directory, progress=bar)
            seconds = time.perf_counter() - started
            self.stderr.write(f"corpus: {counts} in {seconds:.1f} s")
            if bare:  # the physical limit: the model alone on the same chunks
                chunks, bare_seconds = bare_encode_seconds(scratch.workspace.pk)
                self.stderr.write(
                    f"bare encoding of its {chunks} chunks: {bare_seconds:.1f} s; loading took"
                    f" {seconds / bare_seconds:.2f}x that"
                )
            bar = ProgressBar("queries", self.stderr)
            return evaluate_beir(scratch.workspace, directory, split=split, modes=modes, depth=depth, progress=bar)

    def _table(self, results: dict[str, ModeResult]) -> None:
        names = list(next(iter(results.values())).as_dict())
        self.stdout.write(f"{'mode':<8}" + "".join(f"{n:>16}" for n in names))
        for mode, result in results.items():
            self.stdout.write(f"{mode:<8}" + "".join(f"{v:>16.4f}" for v in result.as_dict().values()))
