"""Log lines in both formats, the settings that choose them, redaction and the request id's trust rules (no
worker here: config/tests/test_logs.py follows a request into the worker)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from django.test import Client

from config.logs import renderer_processors, shared_processors
from config.settings.paths import BASE_DIR

SCRIPT = (
    "import django, logging, structlog; django.setup(); "
    "logging.getLogger('documents.probe').warning('probe %s', 42); "
    "structlog.get_logger('probe').info('probe_event', password='hunter2', api_key='sk-probe', n=1)"
)


def _run(**variables: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **variables}
    for name in ("LOG_FORMAT", "DEBUG"):
        if name not in variables:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=BASE_DIR, env=environment, capture_output=True, text=True, check=False
    )


def test_json_lines_carry_the_keys_and_redact_secrets() -> None:
    result = _run(LOG_FORMAT="json", LOG_LEVEL="info")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    stdlib = next(line for line in lines if line["event"] == "probe 42")
    assert stdlib["level"] == "warning" and stdlib["logger"] == "documents.probe"
    assert {"timestamp", "request_id", "user_id", "workspace_id"} <= stdlib.keys()
    native = next(line for line in lines if line["event"] == "probe_event")
    assert native["password"] == native["api_key"] == "[redacted]" and native["n"] == 1
    assert "hunter2" not in result.stderr and "sk-probe" not in result.stderr


def test_debug_defaults_to_the_colour_console_and_the_level_filters() -> None:
    result = _run(DEBUG="true", LOG_LEVEL="warning")
    assert result.returncode == 0, result.stderr
    assert "probe 42" in result.stderr and "\x1b[" in result.stderr  # ANSI colours
    assert "documents.probe" in result.stderr and "request_id" in result.stderr
    assert "probe_event" not in result.stderr  # INFO, under LOG_LEVEL=warning
    assert not any(line.startswith("{") for line in result.stderr.splitlines())


@pytest.mark.parametrize(("name", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")])
def test_bad_values_are_refused(name: str, value: str) -> None:
    result = _run(**{name: value})
    assert result.returncode != 0 and f"{name} must be" in result.stderr


@pytest.fixture
def web_log() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=renderer_processors("json"), foreign_pre_chain=shared_processors()
        )
    )
    logging.getLogger().addHandler(handler)
    try:
        yield buffer
    finally:
        logging.getLogger().removeHandler(handler)


def _finished(buffer: io.StringIO) -> dict[str, Any]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [line for line in lines if line["event"] in {"request_finished", "request_failed"}][-1]


@pytest.mark.parametrize(
    ("sent", "trusted"),
    [("edge-" + uuid.uuid4().hex, True), ("two words", False), ("x" * 65, False), ("line\nbreak", False)],
)
def test_a_proxy_request_id_is_kept_only_when_well_formed(db, settings, web_log, sent: str, trusted: bool) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=sent, HTTP_X_FORWARDED_FOR="198.51.100.7, 10.0.0.2")
    assert (response["X-Request-ID"] == sent) is trusted
    if not trusted:
        assert uuid.UUID(response["X-Request-ID"])
    line = _finished(web_log)
    assert line["request_id"] == response["X-Request-ID"] and line["ip"] == "10.0.0.2"


def test_the_client_address_falls_back_to_the_peer_without_enough_forwarded_hops(db, settings, web_log) -> None:
    settings.TRUSTED_PROXY_COUNT = 2
    Client().get("/healthz", HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="10.0.0.9")
    assert _finished(web_log)["ip"] == "10.0.0.9"
    settings.TRUSTED_PROXY_COUNT = 0
    Client().get("/healthz", HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="10.0.0.9")
    assert _finished(web_log)["ip"] == "10.0.0.9"


def test_tokens_in_paths_and_query_strings_are_not_logged(db, web_log) -> None:
    secret = uuid.uuid4().hex
    Client().get(f"/invitations/{secret}/?key={secret}")
    Client().get(f"/accounts/password/reset/key/{secret}/")
    Client().get(f"/healthz?token={secret}")
    logging.getLogger("django.request").error("Internal Server Error: %s", f"/accounts/confirm-email/{secret}/")
    assert secret not in web_log.getvalue()
    assert "Internal Server Error: /accounts/confirm-email/[redacted]/" in web_log.getvalue()
    requests = {json.loads(line)["request"] for line in web_log.getvalue().splitlines() if '"request"' in line}
    assert {"GET /invitations/[redacted]/", "GET /accounts/password/reset/key/[redacted]/", "GET /healthz"} <= requests
