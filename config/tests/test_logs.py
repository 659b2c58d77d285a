"""Structured logs from the outside: real requests through the API and a real Celery worker, their lines read
back as JSON from the web side (a handler with the configured formatter on the root logger) and from the
worker's log file."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import User
from accounts.selectors import workspace_get_personal
from chat.testing import FakeLLM
from config.logs import renderer_processors, shared_processors
from config.testing import wait_until
from documents.models import Document

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

PLANTED_PASSWORD = "Pl4nted-passw0rd-" + uuid.uuid4().hex
PLANTED_KEY = "sk-planted-" + uuid.uuid4().hex
PLANTED_SENTENCE = f"The lighthouse keeper {uuid.uuid4().hex[:12]} counted nine herons at dawn."
PLANTED_QUESTION = f"How many herons did the keeper count, {uuid.uuid4().hex[:8]}?"


@pytest.fixture
def web_log(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Every line the web side (this process) logs while the test runs, as the JSON formatter writes it (at INFO:
    the evaluation commands, run in-process by other tests, quiet the ``documents`` logger)."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="documents")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=renderer_processors("json"), foreign_pre_chain=shared_processors()
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)


def _lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines in ``text`` (a worker's file also holds Celery's banner)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _worker_lines(celery_worker: Any) -> list[dict[str, Any]]:
    return _lines(celery_worker.log.read_text(errors="replace"))


def _upload(client: Any, text: str, **headers: str) -> Any:
    response = client.post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("notes.txt", text.encode())},
        format="multipart",
        **headers,
    )
    assert response.status_code == 201, response.content
    return response


def _wait_ready(document_id: int) -> None:
    wait_until(
        lambda: Document.objects.filter(pk=document_id, status="ready").exists(),
        timeout=90,
        failure=lambda: f"document {document_id} is {Document.objects.get(pk=document_id).status}",
    )


def test_request_id_reaches_the_worker_lines_of_the_ingestion(
    alice: User, api_client_for, celery_worker, web_log, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    request_id = "proxy-" + uuid.uuid4().hex
    workspace = workspace_get_personal(user=alice)
    response = _upload(
        api_client_for(alice),
        "Tides follow the moon. " * 20,
        HTTP_X_REQUEST_ID=request_id,
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert response["X-Request-ID"] == request_id
    document_id = response.json()["id"]
    _wait_ready(document_id)

    web = _lines(web_log.getvalue())
    finished = [line for line in web if line["event"] == "request_finished" and line["request"].startswith("POST")]
    assert finished[-1]["request_id"] == request_id
    assert finished[-1]["ip"] == "203.0.113.9"
    assert (finished[-1]["user_id"], finished[-1]["workspace_id"]) == (alice.pk, workspace.pk)
    assert finished[-1]["request"] == "POST /api/v1/documents/" and finished[-1]["code"] == 201
    uploaded = next(line for line in web if line["event"].startswith(f"document {document_id} uploaded"))
    assert (uploaded["request_id"], uploaded["workspace_id"]) == (request_id, workspace.pk)

    def ready_line() -> dict[str, Any] | None:
        ours = [line for line in _worker_lines(celery_worker) if line["request_id"] == request_id]
        return next(
            (
                line
                for line in ours
                if line["event"] == f"document {document_id} ready"
                or (line["event"].startswith(f"document {document_id} ready:"))
            ),
            None,
        )

    wait_until(lambda: ready_line() is not None, timeout=60, failure=lambda: "no 'ready' line with the request id")
    line = ready_line()
    assert line is not None
    assert (line["user_id"], line["workspace_id"], line["document_id"]) == (alice.pk, workspace.pk, document_id)
    assert line["logger"] == "documents.services.ingest" and line["level"] == "info"
    assert {"timestamp", "task_id"} <= line.keys()
    started = [
        entry
        for entry in _worker_lines(celery_worker)
        if entry["event"] == "task_started" and entry["request_id"] == request_id
    ]
    assert started and started[0]["task"] == "documents.tasks.document_ingest_task"


def test_request_id_from_the_client_is_ignored_without_a_trusted_proxy(alice: User, api_client_for, web_log) -> None:
    response = api_client_for(alice).get("/api/v1/me/", HTTP_X_REQUEST_ID="forged-id")
    assert response.status_code == 200
    generated = response["X-Request-ID"]
    assert generated != "forged-id" and uuid.UUID(generated)
    lines = [line for line in _lines(web_log.getvalue()) if line["event"] in {"request_started", "request_finished"}]
    assert lines and {line["request_id"] for line in lines} == {generated}
    assert "forged-id" not in web_log.getvalue()


def test_secrets_and_text_never_reach_the_logs(alice: User, api_client_for, celery_worker, web_log, settings) -> None:
    fake = FakeLLM()
    try:
        settings.LLM_PROVIDERS = [fake.provider("ok", api_key=PLANTED_KEY)]
        alice.set_password(PLANTED_PASSWORD)
        alice.save()
        page = Client()
        refused = page.post("/accounts/login/", {"login": alice.email, "password": PLANTED_PASSWORD[::-1]})
        assert refused.status_code == 200  # the form again, with an error
        signed_in = page.post("/accounts/login/", {"login": alice.email, "password": PLANTED_PASSWORD})
        assert signed_in.status_code == 302
        body = {"email": alice.email, "password": PLANTED_PASSWORD}
        token_response = api_client_for(None).post("/api/v1/auth/token/", body, format="json")
        assert token_response.status_code == 201, token_response.content
        token = token_response.json()["token"]
        client = api_client_for(None)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

        document_id = _upload(client, f"{PLANTED_SENTENCE}\n\nHerons nest in colonies near the shore.").json()["id"]
        _wait_ready(document_id)
        conversation = client.post("/api/v1/conversations/", {"title": "Birds"}, format="json").json()["id"]
        answer = client.post(
            f"/api/v1/conversations/{conversation}/messages/", {"content": PLANTED_QUESTION}, format="json"
        )
        assert answer.status_code == 201, answer.content
        assert answer.json()["provider"] == "ok" and "nine herons" in answer.json()["answer"]  # from the document
        assert any(mode == "ok" for mode, _ in fake.requests)
    finally:
        fake.close()

    wait_until(
        lambda: any(line.get("document_id") == document_id for line in _worker_lines(celery_worker)),
        timeout=30,
        failure=lambda: "the worker logged nothing about the document",
    )
    web, worker = web_log.getvalue(), celery_worker.log.read_text(errors="replace")
    assert _lines(web) and any(line["event"] == "request_finished" for line in _lines(web))
    planted = {
        "password": PLANTED_PASSWORD,
        "reversed password": PLANTED_PASSWORD[::-1],
        "API key": PLANTED_KEY,
        "token": token,
        "document sentence": PLANTED_SENTENCE,
        "document words": "nine herons",
        "question": PLANTED_QUESTION,
    }
    for what, value in planted.items():
        assert value not in web, f"the {what} is in the web log"
        assert value not in worker, f"the {what} is in the worker log"
