"""The evaluation and benchmark commands of retrieval, run end to end on tiny inputs."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Workspace
from documents.models import Chunk, Document
from retrieval.services import golden_query_create
from retrieval.tests.factories import ingest_text

pytestmark = pytest.mark.django_db

CORPUS = [
    ("d1", "Photosynthesis", "Plants convert sunlight, water and carbon dioxide into glucose and oxygen."),
    ("d2", "Volcanoes", "Magma rises through the crust and erupts as lava; volcanic ash can ground aircraft."),
    ("d3", "Tides", "The gravitational pull of the moon raises ocean tides twice a day on most coasts."),
]
QUERIES = {
    "q1": "How do plants make glucose from sunlight?",
    "q2": "What happens when magma erupts from a volcano?",
    "q3": "Why does the moon cause ocean tides?",
}
QRELS = {"q1": "d1", "q2": "d2", "q3": "d3"}


def _beir(directory: Path) -> Path:
    """A 3-document BEIR collection (corpus.jsonl, queries.jsonl, qrels/test.tsv) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"_id": i, "title": title, "text": text}) for i, title, text in CORPUS]
    (directory / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    lines = [json.dumps({"_id": q, "text": text, "metadata": {}}) for q, text in QUERIES.items()]
    (directory / "queries.jsonl").write_text("\n".join(lines) + "\n")
    (directory / "qrels").mkdir(exist_ok=True)
    rows = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t1" for q, d in QRELS.items())]
    (directory / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return directory


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_evaluate_retrieval_scores_a_beir_collection_and_removes_its_workspace(tmp_path, capsys):
    beir = _beir(tmp_path / "tiny")
    level = logging.getLogger("documents").level

    call_command("evaluate_retrieval", "--beir", str(beir), "--json", "--bare")

    assert logging.getLogger("documents").level == level  # quieted while it ran, as it was after

    captured = capsys.readouterr()
    assert re.search(r"corpus: \{'ingested': 3, 'present': 0, 'failed': 0\} in [\d.]+ s", captured.err)
    assert re.search(r"bare encoding of its 3 chunks: [\d.]+ s; loading took [\d.]+x that", captured.err)
    report = json.loads(captured.out)
    assert set(report) == {"bm25", "vector", "hybrid"}
    for metrics in report.values():  # each query's one relevant document comes first
        assert metrics["ndcg@10"] == metrics["mrr@10"] == metrics["recall@10"] == 1.0
        assert metrics["latency_p50_ms"] > 0
    assert not Workspace.objects.filter(name="Evaluation: tiny").exists()
    assert not Document.objects.exists()


def test_evaluate_retrieval_keeps_and_reuses_its_workspace_and_gates_regressions(tmp_path, capsys):
    beir = _beir(tmp_path / "tiny")
    call_command("evaluate_retrieval", "--beir", str(beir), "--mode", "bm25", "--keep", "--json")
    first = _json(capsys)
    kept = Workspace.objects.get(name="Evaluation: tiny")
    assert kept.documents.count() == 3
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"bm25": {**first["bm25"], "ndcg@10": 1.5}}))

    with pytest.raises(SystemExit) as exit_:
        call_command("evaluate_retrieval", "--beir", str(beir), "--mode", "bm25", "--compare", str(baseline))

    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert "corpus: {'ingested': 0, 'present': 3, 'failed': 0}" in captured.err  # reused, not loaded again
    assert "REGRESSION bm25 ndcg@10: 1.0000 < baseline 1.5000" in captured.err
    assert captured.out.splitlines()[1].split()[:2] == ["bm25", "1.0000"]  # the table
    assert not Workspace.objects.filter(name="Evaluation: tiny").exists()  # no --keep this time


def _eval_dir(root: Path) -> Path:
    """What bench_search reads: SciFact's corpus and queries, and a SQuAD v1.1 dev file."""
    scifact = root / "scifact"
    scifact.mkdir(parents=True)
    corpus = [
        {"_id": str(i), "title": title, "text": f"{text} Study {i} repeats the finding in a second cohort."}
        for i, (_, title, text) in enumerate(CORPUS * 3)
    ]
    (scifact / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in corpus) + "\n")
    (scifact / "queries.jsonl").write_text("\n".join(json.dumps({"_id": q, "text": t}) for q, t in QUERIES.items()))
    squad = {
        "data": [
            {
                "title": "Tides",
                "paragraphs": [
                    {
                        "context": "Spring tides happen when the sun and the moon line up. Neap tides are weaker.",
                        "qas": [{"id": "s1", "question": "When do spring tides happen?", "answers": []}],
                    }
                ],
            }
        ]
    }
    (root / "squad-v1.1-dev").mkdir()
    (root / "squad-v1.1-dev" / "dev-v1.1.json").write_text(json.dumps(squad))
    return root


def test_bench_search_in_place_builds_measures_and_cleans_up(tmp_path, settings, capsys):
    settings.DATA_DIR = tmp_path / "data"
    eval_dir = _eval_dir(tmp_path / "eval")
    args = ["--chunks", "300", "--small", "4", "--queries", "4", "--processes", "1", "--in-place", "--json"]

    call_command("bench_search", "--eval-dir", str(eval_dir), *args)

    result = _json(capsys)
    assert result["chunks_in_workspace"] == 300
    assert result["chunks_in_table"] == 300 + 3 * 4 * 3
    assert result["queries"] == 4 and result["mode"] == "hybrid"
    assert result["search_chunks_ms"]["p50"] > 0 and result["embed_query_ms"]["p50"] > 0
    # a few hundred chunks: pruned BM25 and the vector plan are exhaustive, so they agree with the exact runs
    assert result["bm25_top10_agreement"] == 1.0
    assert result["vector_recall@10_vs_exact"] == 1.0
    assert result["small_workspace_k_results"] is True and result["small_workspace_only_own"] is True
    assert list((settings.DATA_DIR / "bench").glob("base-*.npy"))  # the base passages' vectors, cached
    assert not Chunk.objects.exists()
    assert not Workspace.objects.filter(name__in=["bench 300", "bench small 0", "bench small 2"]).exists()


def test_bench_search_needs_the_evaluation_data(tmp_path):
    with pytest.raises(CommandError, match="Needs SciFact and SQuAD"):
        call_command("bench_search", "--eval-dir", str(tmp_path), "--in-place")


def test_evaluate_retrieval_scores_a_workspace_golden_set(workspace, capsys):
    documents = {title: ingest_text(workspace, text, title=title) for _, title, text in CORPUS}
    golden_query_create(
        workspace=workspace, question="Where does glucose come from?", expected_document=documents["Photosynthesis"]
    )
    golden_query_create(
        workspace=workspace,
        question="What grounds aircraft after an eruption?",
        expected_document=documents["Volcanoes"],
        expected_passage="volcanic ASH can ground   aircraft",  # case and whitespace do not matter
    )

    call_command("evaluate_retrieval", "--workspace", str(workspace.pk), "--mode", "hybrid", "--json")

    report = _json(capsys)
    assert list(report) == ["hybrid"]
    assert report["hybrid"]["ndcg@10"] == report["hybrid"]["recall@10"] == 1.0
    assert workspace.documents.count() == 3  # a golden set is evaluated in place, nothing is removed


def test_evaluate_retrieval_explains_what_it_cannot_evaluate(workspace):
    with pytest.raises(CommandError, match="no golden queries"):
        call_command("evaluate_retrieval", "--workspace", str(workspace.pk))
    with pytest.raises(CommandError, match="No workspace 0"):
        call_command("evaluate_retrieval", "--workspace", "0")
    with pytest.raises(CommandError, match="is not a BEIR collection"):
        call_command("evaluate_retrieval", "--beir", "/nonexistent")
