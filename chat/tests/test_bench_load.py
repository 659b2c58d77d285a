"""The load benchmark (``manage.py bench_load``, issue 17 part 1): a tiny run of the whole harness (seed, the
production-like stack of gunicorn, worker and beat, locust, the report), and the verdict's rules on their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from chat.loadtest import report
from chat.loadtest.sse import read_events
from chat.loadtest.stack import free_port
from documents.models import Document

EVAL_DIR = Path(settings.BASE_DIR).parent / "shared" / "eval"


@pytest.mark.skipif(not (EVAL_DIR / "scifact").exists(), reason="needs ../shared/eval (BEIR SciFact, SQuAD)")
def test_a_small_load_run_reports_every_endpoint_and_waits_for_its_uploads(transactional_db, tmp_path, monkeypatch):
    monkeypatch.setenv("GROUNDWORK_TEST_WORKER", "1")  # the stack's processes use the test database
    call_command(
        "bench_load",
        *("--eval-dir", str(EVAL_DIR), "--users", "6", "--spawn-rate", "6", "--duration", "15", "--think", "0.5,1"),
        *("--workspaces", "2", "--big-documents", "4", "--small-documents", "1", "--port", str(free_port())),
        *("--out", str(tmp_path), "--search-p95-ms", "60000", "--first-token-p95-ms", "60000"),
    )
    figures = json.loads((tmp_path / "figures.json").read_text())
    names = {row["name"] for row in figures["endpoints"]}
    assert {"conversation create", "Aggregated"} <= names
    assert figures["missed"] == []
    assert figures["seeded"]["users"] == 6 and figures["seeded"]["workspaces"] == 2
    assert {"web", "worker", "beat", "postgres", "locust"} <= set(figures["processes"]["cpu_percent"])
    assert figures["processes"]["postgres_connections_peak"]["total"] >= 1
    uploads = json.loads((tmp_path / "results.json").read_text())["uploads"]
    assert figures["uploads"]["total"] == len(uploads)
    assert Document.objects.filter(pk__in=uploads, status=Document.Status.READY).count() == len(uploads)
    # the run's credentials are retired: no token, no usable password, the file (owner-only) emptied
    from knox.models import get_token_model

    from accounts.models import User
    from chat.loadtest.seed import LOAD_DOMAIN

    accounts_file = tmp_path / "accounts.json"
    assert json.loads(accounts_file.read_text())["accounts"] == []
    assert accounts_file.stat().st_mode & 0o777 == 0o600
    load_users = User.objects.filter(email__endswith=f"@{LOAD_DOMAIN}")
    assert load_users.count() == 6 and not any(user.has_usable_password() for user in load_users)
    assert not get_token_model().objects.filter(user__in=load_users).exists()


def _row(name: str, p95: float, failures: int = 0) -> report.Endpoint:
    return report.Endpoint(name, requests=10, per_second=1.0, p50=p95 / 2, p95=p95, p99=p95, failures=failures)


def test_the_verdict_names_each_missed_target():
    targets = {report.SEARCH: 200.0, report.FIRST_TOKEN: 1000.0}
    fine = [_row(report.SEARCH, 150), _row(report.FIRST_TOKEN, 800)]
    statuses = {report.SEARCH: {"200": 9, "429": 1}}
    assert report.misses(fine, statuses, {"total": 2, "ready": 2, "not_ready": 0}, targets) == []

    slow = [_row(report.SEARCH, 250), _row(report.FIRST_TOKEN, 800, failures=1)]
    missed = report.misses(slow, {report.SEARCH: {"500": 1}}, {"total": 2, "ready": 1, "not_ready": 1}, targets)
    assert len(missed) == 3
    assert "api search p95 250 ms > 200 ms" in missed[0]
    assert "api search 500" in missed[1] and "1 failed" in missed[1]
    assert "1 of 2 uploads" in missed[2]
    assert report.misses([], {}, {}, targets)[0] == "no api search request was measured"


def test_server_sent_events_are_read_to_their_end_with_the_first_token_time():
    class Stream:
        def iter_content(self, chunk_size: int) -> list[bytes | str]:
            return [
                b": open\n\nevent: citations\ndata: {}\n\nevent: tok",
                "en\ndata: {}\n\n",
                b"event: done\ndata: {}\n\n",
            ]

    first, last = read_events(Stream())
    assert first is not None and last == "done"

    class Empty:
        def iter_content(self, chunk_size: int) -> list[bytes]:
            return [b"event: error\ndata: {}\n\n"]

    assert read_events(Empty()) == (None, "error")
