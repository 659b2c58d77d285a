"""Evaluate answers on SQuAD v1.1-format data through the chat pipeline.

    python manage.py evaluate_answers --squad ../shared/eval/squad-v1.1-dev/dev-v1.1.json --limit 1000
    python manage.py evaluate_answers --squad FILE --limit 200 --json      # only JSON on stdout

All paragraphs of the file become documents of a scratch workspace (``documents.scratch``; ingested in this
process; ``--keep`` keeps it for later runs), then the first ``--limit`` questions are asked, each in a new
conversation, with the LLM chain configured in settings (none: the offline extractive answerer).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.evaluation import conversations_delete, evaluate_squad, read_squad
from config.logs import logger_level
from config.progress import ProgressBar
from documents.scratch import EVALUATION_OWNER, scratch_workspace


class Command(BaseCommand):
    help = "Evaluate grounded answers (recall, F1, citation precision, latency) on a SQuAD-format file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--squad", type=Path, required=True)
        parser.add_argument("--limit", type=int, default=1000, help="questions to ask (in file order)")
        parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
        parser.add_argument("--keep", action="store_true", help="keep the scratch workspace for later runs")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not opts["squad"].is_file():
            raise CommandError(f"{opts['squad']} does not exist.")
        with logger_level("documents", logging.WARNING):  # one line per document would drown the bar
            self._run(**opts)

    def _run(self, **opts: Any) -> None:
        paragraphs, questions = read_squad(opts["squad"])
        name = f"Evaluation: {opts['squad'].name}"
        with scratch_workspace(
            owner_email=EVALUATION_OWNER, name=name, keep=opts["keep"], cleanup=conversations_delete
        ) as scratch:
            report = evaluate_squad(
                scratch.workspace,
                scratch.owner,
                paragraphs,
                questions[: opts["limit"]],
                progress_load=ProgressBar("ingesting paragraphs", self.stderr),
                progress_ask=ProgressBar("questions", self.stderr),
            )
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        names = list(next(iter(report.values())))
        self.stdout.write(f"{'provider':<12}" + "".join(f"{n:>20}" for n in names))
        for provider, metrics in report.items():
            self.stdout.write(f"{provider:<12}" + "".join(f"{v:>20.4f}" for v in metrics.values()))
