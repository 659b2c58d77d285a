"""evaluate_retrieval on a small BEIR-format collection and on a workspace golden set."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Workspace
from documents.models import Document
from retrieval.evaluation import compare_results, evaluate_golden_set, score_run
from retrieval.services import golden_query_create
from retrieval.tests.factories import ingest_text

pytestmark = pytest.mark.django_db

CORPUS = [
    {"_id": "d1", "title": "Photosynthesis", "text": "Plants turn sunlight, water and carbon dioxide into sugar."},
    {"_id": "d2", "title": "Volcanoes", "text": "Magma rises through the crust and erupts as lava and ash."},
    {"_id": "d3", "title": "Tides", "text": "The moon's gravity raises the ocean tides twice a day."},
    {"_id": "d4", "title": "Vaccines", "text": "Vaccines train the immune system to recognise a pathogen."},
    {"_id": "d5", "title": "Bread", "text": "Yeast ferments sugar in dough and the bread rises in the oven."},
]
QUERIES = [
    {"_id": "q1", "text": "how do volcanoes erupt lava", "metadata": {"ignored": True}},
    {"_id": "q2", "text": "why are there two tides each day"},
    {"_id": "q3", "text": "how does yeast make bread rise"},
    {"_id": "q9", "text": "a query without judgements is not evaluated"},
]
QRELS = [("q1", "d2", 1), ("q2", "d3", 1), ("q3", "d5", 1)]


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS))
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS)
    )
    return tmp_path


def test_beir_evaluation_prints_json_per_mode_and_cleans_up(beir_dir):
    out, err = io.StringIO(), io.StringIO()
    call_command("evaluate_retrieval", "--beir", str(beir_dir), "--json", stdout=out, stderr=err)
    report = json.loads(out.getvalue())  # stdout holds only JSON; progress went to stderr
    assert set(report) == {"bm25", "vector", "hybrid"}
    for metrics in report.values():
        assert {"ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_p50_ms", "latency_p95_ms"} <= set(metrics)
        assert metrics["recall@100"] == 1.0  # five documents: all retrieved
    assert report["hybrid"]["ndcg@10"] == pytest.approx(1.0)
    assert "queries" in err.getvalue()
    assert not Workspace.objects.filter(name__startswith="Evaluation:").exists()
    assert Document.objects.count() == 0


def test_kept_workspace_is_reused_and_the_regression_gate_fails_on_a_drop(beir_dir, tmp_path):
    out = io.StringIO()
    call_command(
        "evaluate_retrieval",
        "--beir",
        str(beir_dir),
        "--mode",
        "bm25",
        "--json",
        "--keep",
        stdout=out,
        stderr=io.StringIO(),
    )
    baseline = json.loads(out.getvalue())
    err = io.StringIO()
    call_command(
        "evaluate_retrieval", "--beir", str(beir_dir), "--mode", "bm25", "--keep", stdout=io.StringIO(), stderr=err
    )
    assert "'present': 5" in err.getvalue() and Document.objects.count() == len(CORPUS)
    better = {"bm25": {name: value + 0.1 for name, value in baseline["bm25"].items()}}
    (tmp_path / "baseline.json").write_text(json.dumps(better))
    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "evaluate_retrieval",
            "--beir",
            str(beir_dir),
            "--mode",
            "bm25",
            "--compare",
            str(tmp_path / "baseline.json"),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert exit_info.value.code == 1


def test_compare_ignores_latency_and_small_noise():
    base = {"hybrid": {"ndcg@10": 0.70, "latency_p95_ms": 10.0}}
    assert compare_results({"hybrid": {"ndcg@10": 0.698, "latency_p95_ms": 99.0}}, base, tolerance=0.005) == []
    assert compare_results({"hybrid": {"ndcg@10": 0.60, "latency_p95_ms": 1.0}}, base, tolerance=0.005)


def test_a_query_without_results_counts_as_zero():
    qrels = {"a": {"d1": 1}, "b": {"d2": 1}}
    scores = score_run(qrels, {"a": {"d1": 2.0}, "b": {}})
    assert scores["ndcg@10"] == pytest.approx(0.5) and scores["mrr@10"] == pytest.approx(0.5)


def test_golden_set_by_document_and_by_passage(workspace):
    volcano = ingest_text(workspace, "Magma rises through the crust and erupts as lava.", title="Volcanoes")
    tides = ingest_text(workspace, "The moon's gravity raises the ocean tides twice a day.", title="Tides")
    golden_query_create(workspace=workspace, question="where does lava come from", expected_document=volcano)
    golden_query_create(
        workspace=workspace,
        question="what causes tides",
        expected_document=tides,
        expected_passage="The moon's   GRAVITY raises",
    )
    results = evaluate_golden_set(workspace, modes=["hybrid", "bm25"], depth=20)
    assert results["hybrid"].metrics["ndcg@10"] == pytest.approx(1.0)
    assert results["bm25"].metrics["recall@10"] == pytest.approx(1.0)


def test_golden_case_must_point_into_its_workspace(workspace, charlie):
    from django.core.exceptions import ValidationError

    from accounts.selectors import workspace_get_personal

    foreign = ingest_text(workspace_get_personal(user=charlie), "Charlie's notes.", title="Notes")
    with pytest.raises(ValidationError):
        golden_query_create(workspace=workspace, question="?", expected_document=foreign)


def test_empty_golden_set_is_a_clear_error(workspace):
    with pytest.raises(CommandError, match="no golden queries"):
        call_command("evaluate_retrieval", "--workspace", str(workspace.pk), stdout=io.StringIO())
