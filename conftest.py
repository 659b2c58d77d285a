"""Shared fixtures: alice (owner), bob (member) and charlie (outsider) around alice's team workspace."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Membership, User, Workspace
from accounts.tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from config.worker_process import CeleryWorkerProcess


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Rate-limit counters and cached values live in the (real) Redis test database: start each test clean."""
    cache.clear()


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory.create(email="alice@example.com", name="Alice")


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory.create(email="bob@example.com", name="Bob")


@pytest.fixture
def charlie(db: None) -> User:
    return UserFactory.create(email="charlie@example.com", name="Charlie")


@pytest.fixture
def workspace(alice: User, bob: User) -> Workspace:
    """Alice's shared workspace "Acme": alice is owner, bob is member."""
    ws = WorkspaceFactory.create(name="Acme")
    MembershipFactory(user=alice, workspace=ws, role=Membership.Role.OWNER)
    MembershipFactory(user=bob, workspace=ws, role=Membership.Role.MEMBER)
    return ws


# --- every API response the tests see is checked against the published OpenAPI schema -----------------


class OpenApiSchema:
    """``/api/schema/`` (as served) turned into JSON Schema: OpenAPI 3.0's ``nullable`` becomes a null type, and
    objects accept no undeclared properties, so a response with a field the schema does not describe fails too."""

    def __init__(self) -> None:
        self.document = self._strict(
            Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        )
        self.checked: set[tuple[str, str, str]] = set()

    @classmethod
    def _strict(cls, node: Any) -> Any:
        if isinstance(node, list):
            return [cls._strict(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: cls._strict(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        if node.pop("nullable", False):
            node = {"anyOf": [node, {"type": "null"}]}
        return node

    def operation(self, path: str, method: str) -> tuple[str, dict]:
        """The schema's path template and operation for a request path (e.g. ``/api/v1/documents/{document_id}/``)."""
        from django.urls import resolve

        template = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", resolve(path).route)
        operations = self.document["paths"].get(template)
        assert operations and method.lower() in operations, f"{method} {template} is not in /api/schema/"
        return template, operations[method.lower()]

    def _check(self, instance: Any, schema: dict[str, Any], where: str) -> None:
        import jsonschema

        try:
            schema = {**schema, "components": self.document["components"]}
            jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)
        except jsonschema.ValidationError as exc:
            raise AssertionError(f"{where} does not match /api/schema/: {exc}") from exc

    def _check_events(self, response: Any, where: str) -> None:
        """A server-sent-events answer: every event's data has its documented shape (``SSE_EVENTS``)."""
        raw = b"".join(response.streaming_content)
        response.streaming_content = [raw]  # the test reads the same bytes afterwards
        for frame in raw.decode().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in frame.splitlines() if line.startswith(("event: ", "data: ")))
            if "event" not in lines:
                continue
            name, data = lines["event"], json.loads(lines["data"])
            assert name in SSE_EVENTS, f"{where}: undocumented event {name}"
            if name == "done":  # the JSON answer plus the chat page's rendered fragment
                assert isinstance(data.pop("fragment"), str), f"{where}: done without its fragment"
            self._check(data, SSE_EVENTS[name], f"{where} event {name}")

    def validate(self, response: Any) -> None:
        """Fail the test if a response of ``/api/v1/`` does not match its operation's documented status, media
        type and (JSON, server-sent events) body."""
        request = response.wsgi_request
        if not request.path.startswith("/api/v1/"):
            return
        template, operation = self.operation(request.path, request.method)
        status = str(response.status_code)
        documented = operation["responses"].get(status)
        assert documented is not None, f"{request.method} {template} answered {status}, which is not documented"
        self.checked.add((request.method, template, status))
        content = documented.get("content") or {}
        media = response.get("Content-Type", "").split(";")[0]
        media = media if media in content or "*/*" not in content else "*/*"  # a documented media range
        where = f"{request.method} {template} {status}"
        if response.streaming:
            assert media in content, f"{where}: {media} not documented"
            if media == "text/event-stream":
                self._check_events(response, where)
            return
        if media != "application/json" or not response.content:
            assert not content or media in content, f"{where}: {media} not documented"
            return
        assert media in content, f"{where}: JSON is not documented"
        self._check(response.json(), content[media]["schema"], where)


_openapi: OpenApiSchema | None = None


def _ref(component: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{component}"}


def _event(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


# The data of each server-sent event of a streamed answer (chat.api.sse, chat.services.message_answer).
SSE_EVENTS: dict[str, dict[str, Any]] = {
    "token": _event({"text": {"type": "string"}}),
    "restart": _event({"provider": {"type": "string"}, "reason": {"type": "string"}}),
    "citations": _event({"citations": {"type": "array", "items": _ref("CitationOutput")}}),
    "done": _ref("MessageOutput"),  # plus "fragment", checked apart
    "error": _ref("Error"),
}


class SchemaCheckedAPIClient(APIClient):
    """A DRF test client whose every ``/api/v1/`` response is validated against the published schema."""

    def request(self, **kwargs: Any) -> Any:
        global _openapi
        response = super().request(**kwargs)
        if _openapi is None:
            _openapi = OpenApiSchema()
        _openapi.validate(response)
        return response


def _api_client(user: User | None) -> APIClient:
    client = SchemaCheckedAPIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _unexercised() -> list[str]:
    """Documented operations that no test's response was checked against."""
    if _openapi is None:
        return ["every operation"]
    seen = {(method, template) for method, template, _ in _openapi.checked}
    return sorted(
        f"{method.upper()} {template}"
        for template, operations in _openapi.document["paths"].items()
        for method in operations
        if (method.upper(), template) not in seen
    )


def _whole_suite(config: pytest.Config) -> bool:
    return config.args_source == pytest.Config.ArgsSource.TESTPATHS and not (
        config.option.keyword or config.option.markexpr or getattr(config.option, "lf", False)
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run of the whole suite fails if some documented API operation was never exercised by a test."""
    if exitstatus == pytest.ExitCode.OK and _whole_suite(session.config) and _unexercised():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How much of the API the tests checked against the schema."""
    if _openapi is not None or _whole_suite(terminalreporter.config):
        checked = len(_openapi.checked) if _openapi else 0
        missing = ", ".join(_unexercised()) or "none"
        terminalreporter.write_line(
            f"OpenAPI: {checked} (operation, status) pairs validated against /api/schema/;"
            f" operations never exercised: {missing}"
        )


@pytest.fixture
def api_client_for():
    """``api_client_for(user)``: a DRF client authenticated as ``user`` (session-style), or anonymous."""
    return _api_client


def _page_client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def client_for():
    """``client_for(user)``: a Django test client for pages, logged in as ``user`` (or anonymous)."""
    return _page_client


# --- browser tests: Playwright driving Debian's chromium ------------------------------------------

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def _browser():
    import shutil

    from django.conf import settings

    path = settings.CHROMIUM_PATH
    if not (os.path.exists(path) or shutil.which(path)):
        if settings.REQUIRE_BROWSER:
            pytest.fail(f"chromium not found at {path} and REQUIRE_BROWSER is set")
        pytest.skip(f"chromium not found at {path}: apt-get install chromium (or set CHROMIUM_PATH)")
    # Playwright's sync API keeps an event loop on this thread; Django's ORM calls from the test body
    # are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(_browser, live_server):
    """A fresh browser context and page; ``page.base_url`` is the live server's URL."""
    context = _browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


# --- a real Celery worker for integration tests -----------------------------------------------------


class WorkerProcess:
    """A real Celery worker (``config.worker_process``, concurrency 1) on the test database and test broker;
    ``start()`` again after ``stop()``/``kill()`` starts a new one, logging to ``worker-<n>.log``."""

    def __init__(self, log_dir, env_overrides: dict[str, str], queues: list[str] | None = None):
        self.log_dir = log_dir
        self.env_overrides = env_overrides
        self.queues = queues  # None: CELERY_WORKER_QUEUES; []: no -Q (config.worker_process)
        self.worker: CeleryWorkerProcess | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        self.log = self.log_dir / f"worker-{self.starts}.log"
        env = {"DJANGO_SETTINGS_MODULE": "config.settings.test", "GROUNDWORK_TEST_WORKER": "1", **self.env_overrides}
        self.worker = CeleryWorkerProcess(
            env=env, log=self.log, loglevel="INFO", prefix=f"test{self.starts}", queues=self.queues
        )
        self.worker.start(timeout)

    @property
    def name(self) -> str:
        """The running worker's node name (for ``app.control`` destinations)."""
        assert self.worker is not None
        return self.worker.name

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        if self.worker:
            self.worker.kill()

    def stop(self) -> None:
        if self.worker:
            self.worker.stop(timeout=20)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker (prefork, concurrency 1) consuming the test broker; tests using it need
    ``transactional_db`` so the worker sees their rows. The broker queues are purged first."""
    from django.conf import settings

    from config.celery import app

    with app.connection_for_write() as conn:
        for queue in settings.CELERY_WORKER_QUEUES:  # ingest, maintenance: every queue a task is routed to
            conn.default_channel.queue_purge(queue)
    worker = WorkerProcess(tmp_path_factory.mktemp("celery"), {"INGEST_STALE_SECONDS": "3"})
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def start_own_worker(celery_worker, tmp_path):
    """Start workers of the test's own: ``start_own_worker({"SETTING": "value"})`` returns a started
    ``WorkerProcess`` with those settings in its environment (``queues=[]``: started without ``-Q``). The session
    worker is stopped meanwhile, so that it takes none of the test's tasks, and started again after the test."""
    started: list[WorkerProcess] = []

    def start(env_overrides: dict[str, str], *, queues: list[str] | None = None) -> WorkerProcess:
        if not started:
            celery_worker.stop()
        worker = WorkerProcess(tmp_path / f"own-worker-{len(started)}", env_overrides, queues)
        worker.log_dir.mkdir()
        started.append(worker)
        worker.start()
        return worker

    yield start
    for worker in started:
        worker.stop()
    if started:
        celery_worker.start()
