"""Benchmark ``search_chunks`` latency at scale, in a separate database (``<name>_bench``, kept between runs).

    python manage.py bench_search --chunks 100000            # build (or reuse) and measure
    python manage.py bench_search --chunks 1000000 --queries 300
    python manage.py bench_search --chunks 300 --small 3 --queries 5 --in-place --json   # a smoke run

Builds one workspace of ``--chunks`` chunks among several small ones (three of ``--small`` documents) from
real text, synthesized to size (``retrieval.bench_corpus``). Then it runs real queries (SciFact test and SQuAD
questions) through ``search_chunks`` (hybrid, k=10, query embedding included) and prints p50/p95/p99 in ms, plus
each stage's share (``retrieval.bench_measure``). ``--in-place`` uses the configured database instead (the
workspaces are scratch workspaces there, removed afterwards unless ``--keep``).
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from config.bootstrap import process_setup
from documents.embeddings import embedding_threads
from documents.models import Chunk
from documents.scratch import BENCH_OWNER, scratch_workspace
from retrieval.bench_corpus import corpus_load, workspace_fill
from retrieval.bench_measure import search_measure
from retrieval.services import vector_indexes_ensure


def _use_bench_database(*, rebuild: bool) -> None:
    """Switch the default connection to ``<name>_bench`` (created when missing, dropped first with ``rebuild``)."""
    db: dict[str, Any] = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"{db['NAME']}_bench"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=not rebuild)


class Command(BaseCommand):
    help = "Measure search_chunks latency (hybrid, k=10) at 100k–1M chunks in a separate benchmark database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the measured workspace")
        parser.add_argument("--small", type=int, default=50, help="documents of each of the 3 small workspaces")
        parser.add_argument("--queries", type=int, default=300)
        parser.add_argument("--mode", default="hybrid", choices=["bm25", "vector", "hybrid"])
        parser.add_argument("--eval-dir", type=Path, default=settings.BASE_DIR.parent / "shared" / "eval")
        parser.add_argument("--rebuild", action="store_true", help="drop the benchmark database first")
        parser.add_argument("--in-place", action="store_true", help="use the configured database, not <name>_bench")
        parser.add_argument("--keep", action="store_true", help="with --in-place: keep the workspaces")
        parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
        parser.add_argument(
            "--processes",
            type=int,
            default=2,
            help="web processes sharing the cores, as gunicorn's WEB_CONCURRENCY (default 2): torch gets "
            "cores // processes threads, as a web process does (config/gunicorn.py)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if not (opts["eval_dir"] / "scifact" / "corpus.jsonl").exists():
            raise CommandError(f"Needs SciFact and SQuAD under {opts['eval_dir']} (--eval-dir).")
        process_setup(role="web", processes=opts["processes"])
        if not opts["in_place"]:
            _use_bench_database(rebuild=opts["rebuild"])
        corpus, questions = corpus_load(eval_dir=opts["eval_dir"], cache_dir=settings.DATA_DIR / "bench")
        keep = opts["keep"] or not opts["in_place"]
        sizes = {f"bench {opts['chunks']}": opts["chunks"]}
        sizes.update({f"bench small {i}": opts["small"] * 3 for i in range(3)})
        with ExitStack() as stack:
            spaces = [
                stack.enter_context(scratch_workspace(owner_email=BENCH_OWNER, name=name, keep=keep)).workspace
                for name in sizes
            ]
            rng = np.random.default_rng(7)
            started = time.perf_counter()
            for workspace, size in zip(spaces, sizes.values(), strict=True):
                workspace_fill(workspace=workspace, size=size, corpus=corpus, rng=rng)
            own_indexes = vector_indexes_ensure()  # what Celery beat does in production
            build_s = time.perf_counter() - started
            result = {
                "chunks_in_workspace": opts["chunks"],
                "chunks_in_table": Chunk.objects.count(),
                "build_s": round(build_s, 1),
                "own_vector_indexes_built": own_indexes["built"],
                "embedding_threads": embedding_threads(),
                **search_measure(
                    workspace=spaces[0], small=spaces[1], questions=questions[: opts["queries"]], mode=opts["mode"]
                ),
            }
        if opts["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key:<28} {value}")
