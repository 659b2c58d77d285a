"""What a simulated Groundwork user does, for locust (``manage.py bench_load`` runs it; it never imports Django).

Each user takes the next seeded account (``--accounts``: the JSON ``chat.loadtest.seed`` wrote), opens a
conversation in its workspace, then, with think times of ``--think`` seconds, does a realistic mix: the pages
(documents, chat, search), the document list and search APIs, questions answered as JSON or streamed (server-sent
events: the time to the first ``token`` event is reported as ``chat first token``), small uploads, and now and then
a new API token (then revoked; ``API_TOKEN_CREATE_RATE`` makes designed 429s). ``--results-out`` gets the uploads'
ids (for the ready check) and every status per request name. Every request goes to ``--host`` (loopback only).
"""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, events, task

from chat.loadtest.sse import read_events

DESIGNED = {429}  # refusals the product is designed to give under load (rate limits, quotas)
STATE: dict[str, Any] = {"accounts": [], "queries": [], "uploads": [], "statuses": {}}
_next_account = itertools.count()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--accounts", default="", help="the seeded accounts (chat.loadtest.seed)")
    parser.add_argument("--results-out", default="", help="JSON: uploaded document ids, statuses per request name")
    parser.add_argument("--session-cookie", default="sessionid", help="SESSION_COOKIE_NAME")
    parser.add_argument("--think", default="10,30", help="seconds between a user's actions: MIN,MAX")


@events.test_start.add_listener
def _load(environment: Any, **_: Any) -> None:
    seeded = json.loads(Path(environment.parsed_options.accounts).read_text())
    STATE["accounts"], STATE["queries"] = seeded["accounts"], seeded["queries"]


@events.test_stop.add_listener
def _write_results(environment: Any, **_: Any) -> None:
    if environment.parsed_options.results_out:
        results = {"uploads": STATE["uploads"], "statuses": STATE["statuses"]}
        Path(environment.parsed_options.results_out).write_text(json.dumps(results))


class Member(FastHttpUser):
    """A member of one seeded workspace, using both the browser pages (session cookie) and the API (token)."""

    def wait_time(self) -> float:
        low, high = (float(s) for s in self.environment.parsed_options.think.split(","))
        return float(between(low, high)(self))

    def on_start(self) -> None:
        account = STATE["accounts"][next(_next_account) % len(STATE["accounts"])]
        self.account = account
        self.api = {"Authorization": f"Bearer {account['token']}"}
        self.page = {"Cookie": f"{self.environment.parsed_options.session_cookie}={account['session']}"}
        self.conversation = None
        with self._post("/api/v1/conversations/", {"workspace": account["workspace"]}, "conversation create") as r:
            if r.status_code == 201:
                self.conversation = r.json()["id"]

    def _post(self, path: str, body: dict[str, Any], name: str, **kwargs: Any) -> Any:
        return self.client.post(path, json=body, headers=self.api, name=name, catch_response=True, **kwargs)

    def _get(self, path: str, name: str, headers: dict[str, str]) -> None:
        with self.client.get(path, headers=headers, name=name, catch_response=True) as response:
            _judge(response)

    def _query(self) -> str:
        return random.choice(STATE["queries"])

    @task(6)
    def search_api(self) -> None:
        body = {"query": self._query(), "workspace": self.account["workspace"], "k": 10}
        with self._post("/api/v1/search/", body, "api search") as response:
            _judge(response)

    @task(3)
    def document_list_api(self) -> None:
        self._get(f"/api/v1/documents/?workspace={self.account['workspace']}", "api documents", self.api)

    @task(2)
    def documents_page(self) -> None:
        self._get("/documents/", "page documents", self.page)

    @task(2)
    def search_page(self) -> None:
        self._get(f"/search/?q={self._query()[:80]}", "page search", self.page)

    @task(1)
    def chat_page(self) -> None:
        self._get("/chat/", "page chat", self.page)

    @task(2)
    def ask_json(self) -> None:
        if self.conversation is None:
            return
        path = f"/api/v1/conversations/{self.conversation}/messages/"
        with self._post(path, {"content": self._query()}, "chat answer (JSON)") as response:
            _judge(response)

    @task(2)
    def ask_streamed(self) -> None:
        if self.conversation is None:
            return
        path = f"/api/v1/conversations/{self.conversation}/messages/"
        headers = {**self.api, "Accept": "text/event-stream"}
        started = time.perf_counter()
        with self.client.post(
            path,
            json={"content": self._query(), "stream": True},
            headers=headers,
            name="chat answer (stream)",
            catch_response=True,
            stream=True,
        ) as response:
            if response.status_code != 200:
                _judge(response)
                return
            first, ended = read_events(response)
            if first is None:
                response.failure(f"no token event (ended with {ended!r})")
                return
            _record("chat first token", (first - started) * 1000, self.environment)
            _count(response)
            response.success()

    @task(1)
    def upload(self) -> None:
        name = f"note-{uuid.uuid4().hex[:12]}.txt"
        text = f"Load note {name}. " + " ".join(random.sample(STATE["queries"], 3))
        with self.client.post(
            "/api/v1/documents/",
            data={"workspace": str(self.account["workspace"])},
            files={"file": (name, text.encode(), "text/plain")},
            headers=self.api,
            name="api upload",
            catch_response=True,
        ) as response:
            if response.status_code in (201, 200):
                STATE["uploads"].append(response.json()["id"])
            _judge(response)

    @task(1)
    def token_create(self) -> None:
        if random.random() > 0.1:  # one user action in ~100 makes a token
            return
        body = {"email": self.account["email"], "password": self.account["password"]}
        with self.client.post("/api/v1/auth/token/", json=body, name="api token", catch_response=True) as response:
            _judge(response)
            if response.status_code in (200, 201):
                token = response.json()["token"]
                self.client.delete(
                    "/api/v1/auth/token/", headers={"Authorization": f"Bearer {token}"}, name="api token revoke"
                )


def _judge(response: Any) -> None:
    """2xx and the designed refusals pass; anything else is an error of the run. Every status is counted per
    request name (``statuses`` of the results: designed 429s are not failures, but they are reported)."""
    _count(response)
    if 200 <= response.status_code < 300 or response.status_code in DESIGNED:
        response.success()
    else:
        response.failure(f"HTTP {response.status_code}")


def _count(response: Any) -> None:
    counts = STATE["statuses"].setdefault(response.request_meta["name"], {})
    counts[str(response.status_code)] = counts.get(str(response.status_code), 0) + 1


def _record(name: str, milliseconds: float, environment: Any) -> None:
    environment.events.request.fire(
        request_type="SSE", name=name, response_time=milliseconds, response_length=0, exception=None, context={}
    )
