"""The chat app's evaluation and benchmark commands, run end to end on a two-paragraph SQuAD file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import Workspace
from chat.models import Conversation
from documents.models import Document

SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "Lighthouse_keeping",
            "paragraphs": [
                {
                    "context": "The lighthouse keeper logs the weather every morning at six. In winter the lamp "
                    "burns paraffin, and the keeper trims the wick twice a night.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "When does the lighthouse keeper log the weather?",
                            "answers": [{"text": "every morning at six", "answer_start": 40}],
                        },
                        {
                            "id": "q2",
                            "question": "What fuel does the lamp burn in winter?",
                            "answers": [{"text": "paraffin", "answer_start": 88}],
                        },
                    ],
                },
                {
                    "context": "Bread rises because yeast ferments the sugars in the dough and releases carbon "
                    "dioxide, which is trapped by the gluten network before baking.",
                    "qas": [
                        {
                            "id": "q3",
                            "question": "Which gas does yeast release in bread dough?",
                            "answers": [{"text": "carbon dioxide", "answer_start": 80}],
                        }
                    ],
                },
            ],
        }
    ],
}


@pytest.fixture
def squad_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(SQUAD))
    return path


@pytest.mark.django_db
def test_evaluate_answers_scores_the_extractive_answerer(squad_file, settings, capsys):
    settings.LLM_PROVIDERS = []  # the offline extractive answerer
    level = logging.getLogger("documents").level

    call_command("evaluate_answers", "--squad", str(squad_file), "--json")

    assert logging.getLogger("documents").level == level  # quieted while it ran, as it was after

    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"extractive", "all"}
    metrics = report["all"]
    assert metrics["questions"] == 3
    # each answer is a sentence of the gold paragraph, cited from it
    assert metrics["answer_recall"] == 1.0
    assert metrics["citation_precision"] == 1.0
    assert 0 < metrics["f1"] < 1  # a whole sentence, longer than the gold span
    assert metrics["not_covered_rate"] == 0.0
    assert metrics["latency_p50_ms"] > 0
    assert not Workspace.objects.filter(name="Evaluation: tiny-squad.json").exists()
    assert not Conversation.objects.exists() and not Document.objects.exists()


@pytest.mark.django_db
def test_evaluate_answers_keeps_documents_but_not_conversations(squad_file, settings, capsys):
    settings.LLM_PROVIDERS = []

    call_command("evaluate_answers", "--squad", str(squad_file), "--limit", "1", "--keep")

    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["provider", "questions", "answer_recall"]
    assert table[1].split()[:3] == ["extractive", "1.0000", "1.0000"]
    kept = Workspace.objects.get(name="Evaluation: tiny-squad.json")
    assert kept.documents.count() == 2 and not Conversation.objects.filter(workspace=kept).exists()


# gunicorn runs in another process: it must see committed rows of the test database
@pytest.mark.django_db(transaction=True)
def test_bench_chat_measures_first_tokens_and_concurrent_streams(squad_file, settings, monkeypatch, capsys):
    monkeypatch.setenv("GROUNDWORK_TEST_WORKER", "1")  # gunicorn uses pytest's test database
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    settings.LLM_PROVIDERS = []
    args = ["--paragraphs", "2", "--questions", "2", "--streams", "2", "--json"]

    call_command(
        "bench_chat", "--squad", str(squad_file), "--provider-first-token-ms", "50", "--provider-token-ms", "1", *args
    )

    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 2
    assert report["offline_first_token_ms"]["p50"] > 0
    assert report["answered_by_provider"] == 2
    assert report["provider_first_token_ms"]["p50"] >= 50  # the loopback provider waits that long
    assert report["groundwork_first_token_ms_with_provider"]["p50"] >= report["provider_first_token_ms"]["p50"] - 5
    streams = report["concurrent_streams"]
    assert (streams["streams"], streams["finished"]) == (2, 2)
    assert streams["stream_ms"]["p50"] >= 50 and streams["healthz_ms_during"]["p50"] > 0
    assert not Document.objects.exists() and not Conversation.objects.exists()
