"""The documents app's commands, run end to end: bench_ingest through its own real Celery worker."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Workspace
from documents.demo_corpus.builders.common import FILES, gettysburg_address
from documents.models import Document

# The command starts a worker in another process: it must see committed rows of the test database.
pytestmark = pytest.mark.django_db(transaction=True)

ABSTRACTS = [
    ("Tides", "The gravitational pull of the moon raises ocean tides twice a day on most coasts of the world."),
    ("Vaccines", "Vaccines train the immune system to recognise a pathogen without causing the disease itself."),
]


def test_bench_ingest_times_two_files_through_its_own_worker(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GROUNDWORK_TEST_WORKER", "1")  # the worker uses pytest's test database
    scifact = tmp_path / "scifact"
    scifact.mkdir()
    rows = [{"_id": str(i), "title": title, "text": text} for i, (title, text) in enumerate(ABSTRACTS)]
    (scifact / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")

    call_command("bench_ingest", "--scifact", str(scifact), "--limit", "2", "--concurrency", "1", "--json")

    result = json.loads(capsys.readouterr().out)
    assert (result["documents"], result["ready"], result["failed"], result["not_finished"]) == (2, 2, 0, 0)
    assert result["chunks"] == 2  # one short abstract, one chunk
    assert 0 < result["upload_s"] < result["wall_s"]  # the clock ran from the first upload to the last chunk
    assert result["chunks_per_s"] > 0 and result["bare_encode_chunks_per_s"] > 0
    assert result["peak_worker_rss_MB"] > 50  # the worker's process tree was sampled while it worked
    assert result["worker_concurrency"] == 1
    assert not Document.objects.exists()  # the scratch workspace is gone
    assert not Workspace.objects.filter(name__startswith="bench 2").exists()


def test_bench_ingest_falls_back_to_real_prose_for_its_pdf(tmp_path):
    from documents.bench_corpus import _pdf_texts, big_pdf

    assert _pdf_texts(2, None) == [gettysburg_address()] * 2
    path = big_pdf(3, tmp_path, None, images=True)
    assert path.read_bytes().startswith(b"%PDF") and path.stat().st_size > 100_000  # noise images inside


def test_bench_fairness_times_probes_in_another_workspace_during_a_flood(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GROUNDWORK_TEST_WORKER", "1")  # the worker uses pytest's test database
    args = ["--flood", "3", "--pdf-pages", "2", "--hostile-size", "20000", "--interval", "0.5", "--concurrency", "1"]
    call_command("bench_fairness", *args, "--max-delay", "600", "--json")

    result = json.loads(capsys.readouterr().out)
    assert result["flood_documents"] + result["flood_refused_at_upload"] > 3 + 1 + 10  # small, PDF, hostile corpus
    assert result["flood_refused_at_upload"] > 0  # binary junk never reaches a worker
    assert result["flood_ready"] + result["flood_failed"] == result["flood_documents"]
    assert result["probes"] and all(p["status"] == "ready" for p in result["probes"])
    assert result["worst_delay_s"] == round(max(p["delay_s"] for p in result["probes"]), 2)  # the worst probe's
    assert result["idle_probe_s"] > 0 and result["peak_worker_rss_MB"] > 50
    assert not Document.objects.exists()  # both scratch workspaces are gone
    assert not Workspace.objects.filter(name__startswith="fairness ").exists()


def test_bench_ingest_needs_an_input():
    with pytest.raises(CommandError, match=r"--scifact DIR, --pdf-pages N and/or --ocr-pages N\."):
        call_command("bench_ingest")


def test_bench_ingest_times_a_scan_per_page_read_by_ocr(monkeypatch, capsys):
    from documents.tests.scans import require_ocr

    require_ocr()
    monkeypatch.setenv("GROUNDWORK_TEST_WORKER", "1")  # the worker uses pytest's test database

    call_command("bench_ingest", "--ocr-pages", "2", "--pdf-pages", "2", "--concurrency", "1", "--json")

    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"large", "ocr", "summary"}  # each workload with a worker of its own, then the summary
    assert report["large"]["ready"] == 1 and "ocr_pages" not in report["large"]
    result = report["ocr"]
    assert report["summary"] == {
        "large_e2e_to_encode_ratio": report["large"]["e2e_to_encode_ratio"],
        "ocr_s_per_page": result["ocr_s_per_page"],
        "cpu": result["cpu"],
    }
    assert (result["documents"], result["ready"], result["ocr_pages"]) == (1, 1, 2)
    assert result["ocr_extract_s"] > 0
    assert result["ocr_s_per_page"] == pytest.approx(result["ocr_extract_s"] / 2, abs=0.05)  # both rounded
    assert result["ocr_mean_confidence"] > 80  # the Constitution, rendered at 300 dpi and made bilevel
    assert "logical cores" in result["cpu"]
    assert not Document.objects.exists()


@pytest.mark.django_db
def test_load_demo_corpus_uploads_every_file_once(alice, capsys):
    call_command("load_demo_corpus", "--email", "ALICE@example.com")
    first = capsys.readouterr().out.splitlines()
    call_command("load_demo_corpus", "--email", alice.email)
    again = capsys.readouterr().out.splitlines()

    names = sorted(p.name for p in FILES.iterdir() if p.is_file())
    assert len(names) == 6 and first[:-1] == [f"queued   {name}" for name in names]
    assert again[:-1] == [f"present  {name}" for name in names]
    assert first[-1] == again[-1] == f"Demo corpus: 6 files in “{alice.personal_workspace.name}”."
    assert Document.objects.filter(workspace=alice.personal_workspace, status="queued").count() == 6


@pytest.mark.django_db
def test_load_demo_corpus_needs_an_existing_user():
    with pytest.raises(CommandError, match=r"No user nobody@example\.com"):
        call_command("load_demo_corpus", "--email", "nobody@example.com")


def test_bench_embed_measures_each_variant_in_processes_of_its_own(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GROUNDWORK_TEST_WORKER", "1")  # its measuring processes use pytest's settings
    scifact = tmp_path / "scifact"
    scifact.mkdir()
    rows = [{"_id": str(i), "title": title, "text": text} for i, (title, text) in enumerate(ABSTRACTS * 6)]
    (scifact / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    quality = tmp_path / "quality"  # what evaluate_retrieval and evaluate_answers --json wrote, per variant
    quality.mkdir()
    for variant, ndcg, recall in (("torch-fp32", 0.72, 0.80), ("onnx-int8", 0.71, 0.79)):
        retrieval = {mode: {"ndcg@10": ndcg - 0.1 * (mode != "hybrid")} for mode in ("bm25", "vector", "hybrid")}
        answers = {"extractive": {"answer_recall": recall, "citation_precision": 0.75}}
        (quality / f"{variant}-scifact.json").write_text(json.dumps(retrieval))
        (quality / f"{variant}-squad.json").write_text(json.dumps(answers))

    call_command(
        "bench_embed",
        "--scifact",
        str(scifact),
        "--limit",
        "10",
        "--variants",
        "static",
        "--quality",
        str(quality),
        "--json",
    )

    result = json.loads(capsys.readouterr().out)
    assert result["chunks"] == 10 and list(result["variants"]) == ["torch-fp32", "static"]  # fp32: the reference
    for row in result["variants"].values():
        assert set(row["chunks_per_s"]) == {"1 thread", "2 threads", "2 processes x 1 thread"}
        assert all(speed > 0 for speed in row["chunks_per_s"].values()) and row["peak_rss_mb"] > 100
    assert result["variants"]["torch-fp32"]["cosine_to_fp32"]["min"] == pytest.approx(1.0, abs=1e-5)
    assert "cosine_to_fp32" not in result["variants"]["static"]  # a space of its own
    assert result["quality"]["torch-fp32"]["hybrid nDCG@10"] == 0.72 and "static" not in result["quality"]
    assert "onnx-int8" not in result["quality"]  # not measured here: its files are not read

    from documents.management.commands.bench_embed import quality_table

    result["variants"]["onnx-int8"] = result["variants"]["static"] | {"cosine_to_fp32": {"mean": 0.994, "min": 0.99}}
    result["quality"] = {
        "torch-fp32": result["quality"]["torch-fp32"],
        "onnx-int8": {
            "vector nDCG@10": 0.61,
            "hybrid nDCG@10": 0.71,
            "answer recall": 0.79,
            "citation precision": 0.75,
        },
    }
    table = quality_table(result)
    assert "| onnx-int8 |" in table and "0.7100 (-0.0100)" in table and "0.7900 (-0.0100)" in table
    assert "| static |" in table and "other space" in table
