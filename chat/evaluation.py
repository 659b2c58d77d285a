"""Answer evaluation on SQuAD-format data, through the same answer pipeline as the chat.

Metrics (per provider that answered):
- ``answer_recall``: share of questions where a gold answer appears in the answer, after the official SQuAD
  v1.1 normalization (lower case, no punctuation, no articles, single spaces; Rajpurkar et al. 2016,
  ``evaluate-v1.1.py``); citation markers are removed first;
- ``f1``: the official SQuAD token F1 of the answer against the best gold answer;
- ``citation_precision``: share of all citations whose chunk comes from the question's gold paragraph;
- ``mean_answer_words``, ``not_covered_rate``, latency and time-to-first-token p50/p95 in ms.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from accounts.models import User, Workspace
from chat.citations import MARKER
from chat.models import Conversation, Message
from chat.services import message_answer
from config.stats import percentiles
from documents.vector_cache import fresh_query_cache
from retrieval.evaluation import beir_document_ids, load_corpus

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SquadQuestion:
    question: str
    answers: list[str]
    paragraph_id: str


def read_squad(path: Path) -> tuple[list[tuple[str, str, str]], list[SquadQuestion]]:
    """Paragraphs ``[(id, title, context)]`` (id ``squad-<article>-<paragraph>``) and questions, in file order."""
    data = json.loads(path.read_text())["data"]
    paragraphs, questions = [], []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            pid = f"squad-{a}-{p}"
            paragraphs.append((pid, article["title"].replace("_", " "), paragraph["context"]))
            for qa in paragraph["qas"]:
                questions.append(SquadQuestion(qa["question"], [x["text"] for x in qa["answers"]], pid))
    return paragraphs, questions


def conversations_delete(workspace: Workspace) -> None:
    """Delete every conversation of ``workspace`` (the ones an evaluation or benchmark run asked in): the
    ``cleanup`` of their ``scratch_workspace``, so a kept workspace keeps only its documents."""
    Conversation.objects.filter(workspace=workspace).delete()


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's official answer normalization."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD v1.1's official token F1."""
    pred, truth = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = Counter(pred) & Counter(truth)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(truth)
    return 2 * precision * recall / (precision + recall)


@dataclass
class _Tally:
    questions: int = 0
    recalled: int = 0
    f1: float = 0.0
    words: int = 0
    not_covered: int = 0
    citations: int = 0
    correct_citations: int = 0
    latency: list[float] = field(default_factory=list)
    first_token: list[float] = field(default_factory=list)

    def report(self) -> dict[str, float]:
        n = max(self.questions, 1)
        latency, first = percentiles(self.latency), percentiles(self.first_token)
        return {
            "questions": self.questions,
            "answer_recall": self.recalled / n,
            "f1": self.f1 / n,
            "citation_precision": self.correct_citations / self.citations if self.citations else 0.0,
            "mean_answer_words": self.words / n,
            "not_covered_rate": self.not_covered / n,
            "latency_p50_ms": latency["p50"],
            "latency_p95_ms": latency["p95"],
            "first_token_p50_ms": first["p50"],
            "first_token_p95_ms": first["p95"],
        }


def evaluate_squad(
    workspace: Workspace,
    user: User,
    paragraphs: list[tuple[str, str, str]],
    questions: list[SquadQuestion],
    *,
    progress_load: Progress | None = None,
    progress_ask: Progress | None = None,
) -> dict[str, dict[str, float]]:
    """Load the paragraphs into ``workspace`` (``load_corpus``), ask every question in a new conversation of
    ``user`` (no quota: this is an operator's run), and return ``{provider: metrics, "all": metrics}``."""
    load_corpus(workspace, paragraphs, progress=progress_load)
    paragraph_of = beir_document_ids(workspace)  # document pk → paragraph id
    tallies: dict[str, _Tally] = {}
    for done, case in enumerate(questions, start=1):
        conversation = Conversation.objects.create(workspace=workspace, user=user, title=case.question[:80])
        question = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=case.question)
        with fresh_query_cache():  # a question repeated in the file is timed like the first time
            events = message_answer(conversation=conversation, question=question)
            result = next((e.data for e in events if e.name == "done"), None)
        if result is None:
            continue
        for key in (result["provider"], "all"):
            tally = tallies.setdefault(key, _Tally())
            answer = MARKER.sub(" ", result["answer"])
            tally.questions += 1
            tally.recalled += any(normalize_answer(g) in normalize_answer(answer) for g in case.answers)
            tally.f1 += max(token_f1(answer, g) for g in case.answers)
            tally.words += len(answer.split())
            tally.not_covered += result["not_covered"]
            tally.citations += len(result["citations"])
            tally.correct_citations += sum(
                paragraph_of.get(c["document_id"]) == case.paragraph_id for c in result["citations"]
            )
            tally.latency.append(result["latency_ms"])
            tally.first_token.append(result["first_token_ms"])
        if progress_ask:
            progress_ask(done, len(questions))
    return {provider: tally.report() for provider, tally in tallies.items()}
