"""/metrics from the outside: one upload through a real worker, one search and one answer move the ingestion,
search and answer series; the endpoint refuses callers without the token or an allowed address; a worker with
``WORKER_METRICS_PORT`` serves its own series under the same rule; the deploy/ dashboard and alert rules only
use series that /metrics serves."""

import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from accounts.selectors import workspace_get_personal
from chat.testing import FakeLLM
from config import metrics
from config.metrics_files import multiproc_dir_prune
from config.testing import wait_until
from documents.models import Document
from documents.tests.ingestion import upload, wait_finished

DEPLOY = Path(django_settings.BASE_DIR) / "deploy"
TEXT = (
    "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the flour. The fermentation "
    "releases carbon dioxide, which the gluten network traps as the loaf proofs overnight in a cool kitchen."
)


def scrape(**extra: str) -> str:
    response = Client().get("/metrics", **extra)  # type: ignore[arg-type]
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``{(sample name, labels): value}`` of a scrape."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(parsed: dict, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in parsed.items() if n == name and wanted <= ls)


@pytest.mark.django_db(transaction=True)
def test_upload_search_and_answer_move_the_series(alice, api_client_for, celery_worker, settings):
    fake = FakeLLM()
    settings.LLM_PROVIDERS = [fake.provider("ok")]
    try:
        before = samples(scrape())
        client = api_client_for(alice)
        response = client.post(
            "/api/v1/documents/", {"file": SimpleUploadedFile("Secret recipe.txt", TEXT.encode())}, format="multipart"
        )
        assert response.status_code == 201, response.content
        document_id = response.json()["id"]
        wait_until(
            lambda: Document.objects.filter(pk=document_id, status="ready").exists(),
            timeout=90,
            failure=lambda: f"document still {Document.objects.get(pk=document_id).status}",
        )
        search = client.post("/api/v1/search/", {"query": "why does sourdough rise", "mode": "hybrid"}, format="json")
        assert search.status_code == 200, search.content
        conversation = client.post("/api/v1/conversations/", {"title": "Bread"}, format="json").json()["id"]
        answer = client.post(
            f"/api/v1/conversations/{conversation}/messages/", {"content": "What makes bread rise?"}, format="json"
        )
        assert answer.status_code in (200, 201) and answer.json()["provider"] == "ok", answer.content
        text = scrape()
    finally:
        fake.close()
    after = samples(text)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # written by the worker's pool process, read here: multiprocess mode
    for stage in ("extract", "chunk", "embed", "store"):
        assert grew("groundwork_ingest_stage_seconds_count", stage=stage) == 1
    assert grew("groundwork_chunks_embedded_total") == Document.objects.get(pk=document_id).chunk_count > 0
    assert grew("groundwork_ingest_documents_total", outcome="ready") == 1
    assert grew("groundwork_search_seconds_count", mode="hybrid", stage="total") >= 1
    assert grew("groundwork_search_seconds_count", mode="hybrid", stage="bm25") >= 1
    assert grew("groundwork_answers_total", provider="ok", fallback="false") == 1
    assert grew("groundwork_answer_first_token_seconds_count", provider="ok") == 1
    assert grew("groundwork_llm_tokens_total", provider="ok", kind="prompt") == 100
    assert total(after, "groundwork_documents", status="ready") >= 1
    assert ("groundwork_queue_depth", frozenset({("queue", "ingest")})) in after
    assert grew("django_http_requests_latency_seconds_by_view_method_count", view="api:search", method="POST") == 1
    assert grew("django_http_responses_total_by_status_view_method_total", view="api:document_list", status="201") == 1
    # no tenant data in any label: not the workspace, the document title, the user's email, nor any id
    workspace = workspace_get_personal(user=alice)
    for secret in (alice.email, workspace.name, "Secret recipe", f'"{document_id}"', f'"{workspace.pk}"'):
        assert secret not in text


@pytest.mark.django_db
def test_it_refuses_callers_without_the_token_or_an_allowed_address(alice, settings):
    settings.METRICS_TOKEN = "metrics-secret-token"
    settings.METRICS_ALLOWED_CIDRS = [ipaddress.ip_network("10.0.0.0/8")]
    outsider = "192.0.2.7"
    assert Client().get("/metrics", REMOTE_ADDR=outsider).status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", REMOTE_ADDR=outsider).status_code == 403
    assert (
        Client().get("/metrics", HTTP_AUTHORIZATION="Basic metrics-secret-token", REMOTE_ADDR=outsider).status_code
        == 403
    )
    signed_in = Client()
    signed_in.force_login(alice)
    assert (
        signed_in.get("/metrics", REMOTE_ADDR=outsider).status_code == 403
    )  # a login gives nothing; no redirect to it
    assert Client().get("/metrics").status_code == 403  # loopback is no longer in the list
    scrape(HTTP_AUTHORIZATION="Bearer metrics-secret-token", REMOTE_ADDR=outsider)
    scrape(REMOTE_ADDR="10.1.2.3")


@pytest.mark.django_db
def test_loopback_only_by_default_and_proxied_callers_by_their_own_address(settings):
    allowed = [str(network) for network in settings.METRICS_ALLOWED_CIDRS]
    assert allowed == ["127.0.0.0/8", "::1/128"]
    scrape()
    scrape(REMOTE_ADDR="::1")
    assert Client().get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    settings.TRUSTED_PROXY_COUNT = settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    # a reverse proxy on the same host: the address it forwarded decides, not its own loopback address
    assert Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    scrape(HTTP_X_FORWARDED_FOR="127.0.0.1")


_WRITER = """
import sys
from prometheus_client import Counter, Gauge
Counter("jobs", "Jobs done.").inc(int(sys.argv[1]))
Gauge("busy", "Busy processes.", multiprocess_mode="livesum").set(1)
print("written", flush=True)
sys.stdin.read()  # runs until its stdin closes
"""


def _writer(folder: Path, jobs: int) -> subprocess.Popen[str]:
    """A process writing ``jobs`` to a counter and 1 to a live gauge in ``folder``, running until stdin closes."""
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(jobs)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline() == "written\n"
    return writer


def _end(writer: subprocess.Popen[str]) -> None:
    assert writer.stdin is not None
    writer.stdin.close()
    assert writer.wait(30) == 0


def _folder_samples(folder: Path) -> dict:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return samples(generate_latest(registry).decode())


def test_a_start_beside_running_processes_keeps_the_dead_processes_counts(tmp_path):
    """A worker or gunicorn starting while a sibling serves on: the summed counters must not drop (Prometheus
    would read a reset); only the dead process's live gauge goes. Once nothing that wrote runs, all goes."""
    _end(_writer(tmp_path, jobs=1))  # a process that ended (a restarted worker's old pool process)
    running = _writer(tmp_path, jobs=2)  # a sibling still serving
    try:
        assert total(_folder_samples(tmp_path), "jobs_total") == 3
        assert multiproc_dir_prune(tmp_path) == 1
        after = _folder_samples(tmp_path)
        assert total(after, "jobs_total") == 3  # counted on, no reset
        assert total(after, "busy") == 1  # the live gauge of the running one only
    finally:
        _end(running)
    assert multiproc_dir_prune(tmp_path) == 3  # nothing runs: both counters and the last live gauge
    assert not list(tmp_path.glob("*.db"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, authorization: str | None = None) -> tuple[int, str]:
    """``(status, body)`` of a GET; connection errors propagate."""
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _answers(url: str) -> bool:
    try:
        _get(url)
    except OSError:
        return False
    return True


@pytest.mark.django_db(transaction=True)
def test_a_worker_serves_its_own_metrics_behind_the_metrics_access_rule(start_own_worker, alice, api_client_for):
    """A worker whose metric files no web process reads (its own container) serves them on WORKER_METRICS_PORT:
    what its pool process counted during an ingestion shows there. The caller here (127.0.0.1) is outside the
    worker's METRICS_ALLOWED_CIDRS, so only the token lets it in."""
    port, token = _free_port(), "worker-metrics-token"
    worker = start_own_worker(
        {
            "WORKER_METRICS_PORT": str(port),
            "BIND_HOST": "127.0.0.1",
            "METRICS_TOKEN": token,
            "METRICS_ALLOWED_CIDRS": "10.0.0.0/8",
        }
    )
    url = f"http://127.0.0.1:{port}/metrics"
    wait_until(
        lambda: _answers(url), timeout=30, failure=lambda: f"nothing on {url}:\n{worker.log.read_text()[-3000:]}"
    )
    assert _get(url) == (403, "Forbidden\n")
    assert _get(url, "Bearer wrong")[0] == 403
    status, text = _get(url, f"Bearer {token}")
    assert status == 200
    before = samples(text)
    document = wait_finished(upload(api_client_for(alice), "bread.txt", TEXT.encode()), worker=worker)
    assert document.status == "ready", document.error
    status, text = _get(url, f"Bearer {token}")
    assert status == 200
    after = samples(text)
    grown = total(after, "groundwork_chunks_embedded_total") - total(before, "groundwork_chunks_embedded_total")
    assert grown == document.chunk_count > 0
    assert total(after, "groundwork_ingest_documents_total", outcome="ready") >= 1


@pytest.mark.django_db
def test_every_429_is_counted_once_by_its_code(alice, api_client_for, monkeypatch, settings):
    """A DRF throttle and a quota (a ``TooManyRequestsError``) each count one rejection where the 429 is
    answered; an error that is built but never raised counts nothing."""
    from rest_framework.throttling import ScopedRateThrottle

    from config.errors import TooManyRequestsError

    before = samples(scrape())
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"token_create": "1/min"})  # read at import
    anonymous = api_client_for(None)
    tries = [anonymous.post("/api/v1/auth/token/", {"email": alice.email, "password": "x"}, format="json")]
    tries.append(anonymous.post("/api/v1/auth/token/", {"email": alice.email, "password": "x"}, format="json"))
    assert [r.status_code for r in tries] == [400, 429] and tries[1].json()["code"] == "throttled"
    settings.WORKSPACES_PER_USER_MAX = 0
    refused = api_client_for(alice).post("/api/v1/workspaces/", {"name": "Research"}, format="json")
    assert refused.status_code == 429 and refused.json()["code"] == "workspace_limit"
    TooManyRequestsError("built, never raised")
    after = samples(scrape())

    def grew(**labels: str) -> float:
        name = "groundwork_rejections_total"
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew(kind="throttled") == 1
    assert grew(kind="workspace_limit") == 1
    assert grew() == 2


def _expr_metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (ours and django-prometheus's; node_exporter's are external)."""
    return set(re.findall(r"\b((?:groundwork|django)_[a-z0-9_]+)", expr))


# Read at scrape time by every web target alike (config.monitoring._ScrapeTimeCollector): summed over targets
# they would count each document or message once per web process scraped.
SCRAPE_TIME_SERIES = ("groundwork_documents", "groundwork_queue_depth", "groundwork_llm_circuit_open")
_AGGREGATION = re.compile(r"\b(sum|max|min|avg|count)\b(?: by \([^)]*\))? ?\(")


def _innermost_aggregation(expr: str, name: str) -> set[str]:
    """The aggregation operators applied first to each use of the series ``name`` in ``expr``."""
    return {
        ([m.group(1) for m in _AGGREGATION.finditer(expr[: use.start()])] or ["none"])[-1]
        for use in re.finditer(rf"\b{name}\b", expr)
    }


@pytest.mark.django_db
def test_deploy_dashboard_and_alerts_use_only_served_series():
    # every labelled series once, so each name appears in the scrape
    metrics.ingest_observe(timings={"extract": 0.01}, chunks=0)
    metrics.ingest_failed()
    metrics.search_observe(mode="bm25", timings={"total": 0.01})
    metrics.answer_observe(
        provider="extractive",
        fallback=True,
        seconds=0.1,
        first_token_seconds=0.05,
        prompt_tokens=1,
        completion_tokens=1,
    )
    metrics.llm_skipped(provider="primary", reason="error")
    metrics.rejection_count(kind="quota_exceeded")
    metrics.model_loaded(seconds=1.0)
    Client().get("/healthz")
    served = {s.name for family in text_string_to_metric_families(scrape()) for s in family.samples}
    served |= {"groundwork_llm_circuit_open"}  # one sample per configured provider; none in the tests

    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 15
    rules = [
        rule
        for group in yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]
    assert {r["alert"] for r in rules} >= {
        "GroundworkIngestionStuck",
        "GroundworkQueueGrowing",
        "GroundworkHighErrorRate",
        "GroundworkLLMFallbackRate",
        "GroundworkDiskFilling",
    }
    for rule in rules:
        assert {"expr", "for", "labels", "annotations"} <= rule.keys(), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]
        exprs.append(rule["expr"])
    for expr in exprs:
        assert expr.count("(") == expr.count(")"), expr
        assert _expr_metric_names(expr) <= served, (expr, _expr_metric_names(expr) - served)
        for name in SCRAPE_TIME_SERIES:
            assert _innermost_aggregation(expr, name) <= {"max"}, (name, expr)
    assert all(_expr_metric_names(e) or "node_filesystem" in e for e in exprs)
