"""What one simulated user does over HTTP (bearer token, loopback): upload a small text file, search, ask a
question as JSON or as a server-sent-events stream. Each call returns an ``Outcome``: what the user saw."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

TIMEOUT_S = 30.0  # per request: a drill's fault must show as an error or a slow answer, never as a hung client


@dataclass
class Outcome:
    """One request as its user saw it: ``kind`` (upload, search, ask, stream), ``status`` (HTTP status, or 0 when
    no response came), ``seen`` (a short label: "201", "503 unavailable", "200 done", "200 cut", "no response"),
    ``detail`` (the error message shown, if any), ``clear`` (an error came in the API's ``{detail, code}`` shape,
    or a stream ended with an ``error`` event), ``at`` (``time.monotonic()`` when it ended, s) and ``document``
    (an acknowledged upload's id)."""

    kind: str
    status: int
    seen: str
    detail: str = ""
    clear: bool = True
    at: float = field(default_factory=time.monotonic)
    document: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.seen.endswith(("cut", "error"))


def _error(kind: str, response: httpx.Response) -> Outcome:
    try:
        body = response.json()
    except ValueError:
        body = None
    shaped = isinstance(body, dict) and isinstance(body.get("detail"), str) and isinstance(body.get("code"), str)
    detail = body["detail"] if shaped and body else response.text[:120]
    code = body["code"] if shaped and body else "not-json"
    return Outcome(kind, response.status_code, f"{response.status_code} {code}", detail, clear=shaped)


def _failed(kind: str, exc: Exception) -> Outcome:
    return Outcome(kind, 0, "no response", f"{type(exc).__name__}: {exc}"[:160], clear=False)


class UserClient:
    """A user's HTTP client for the stack at ``base_url`` with an API ``token`` and a ``workspace`` id."""

    def __init__(self, base_url: str, token: str, workspace: int) -> None:
        self.workspace = workspace
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S, trust_env=False
        )

    def close(self) -> None:
        self.http.close()

    def upload(self, name: str, content: bytes, content_type: str = "text/plain") -> Outcome:
        """POST a file to ``/api/v1/documents/``; a 201 carries the new document's id."""
        try:
            response = self.http.post(
                "/api/v1/documents/",
                data={"workspace": str(self.workspace)},
                files={"file": (name, content, content_type)},
            )
        except httpx.HTTPError as exc:
            return _failed("upload", exc)
        if response.status_code in (200, 201):
            return Outcome("upload", response.status_code, str(response.status_code), document=response.json()["id"])
        return _error("upload", response)

    def search(self, query: str) -> Outcome:
        try:
            response = self.http.post("/api/v1/search/", json={"query": query, "workspace": self.workspace, "k": 5})
        except httpx.HTTPError as exc:
            return _failed("search", exc)
        return Outcome("search", 200, "200") if response.status_code == 200 else _error("search", response)

    def conversation(self, kind: str = "ask") -> tuple[int | None, Outcome]:
        """A new conversation's id (None when it could not be made) and what the user saw, as an outcome of
        ``kind`` (the question it was made for)."""
        try:
            response = self.http.post("/api/v1/conversations/", json={"workspace": self.workspace})
        except httpx.HTTPError as exc:
            return None, _failed(kind, exc)
        if response.status_code == 201:
            return int(response.json()["id"]), Outcome(kind, 201, "201")
        return None, _error(kind, response)

    def ask(self, conversation: int, question: str) -> tuple[Outcome, dict[str, Any]]:
        """A question answered as JSON: the outcome and the answer (the message; empty on an error)."""
        try:
            response = self.http.post(f"/api/v1/conversations/{conversation}/messages/", json={"content": question})
        except httpx.HTTPError as exc:
            return _failed("ask", exc), {}
        if response.status_code == 201:
            answer = response.json()
            return Outcome("ask", 201, "201 " + _answered_by(answer)), answer
        return _error("ask", response), {}

    def stream(self, conversation: int, question: str, on_token: Any = None) -> Outcome:
        """A question answered as server-sent events, read to the end: "200 done", "200 error" (an ``error`` event,
        its detail kept), or "200 cut" (the stream ended without ``done`` or ``error``). ``on_token(response)`` is
        called once, at the first ``token`` event (the web-process drill kills the process serving it then)."""
        path = f"/api/v1/conversations/{conversation}/messages/"
        headers = {"Accept": "text/event-stream"}
        try:
            with self.http.stream(
                "POST", path, json={"content": question, "stream": True}, headers=headers
            ) as response:
                if response.status_code != 200:
                    response.read()
                    return _error("stream", response)
                return _read_events(response, on_token)
        except httpx.HTTPError as exc:
            return Outcome("stream", 200, "200 cut", f"{type(exc).__name__}", clear=False)


def _answered_by(answer: dict[str, Any]) -> str:
    """ "llm" (the provider answered), "fallback" (the offline answerer, after the providers failed) or
    "offline" (no provider configured)."""
    if answer.get("provider") != "extractive":
        return "llm"
    return "fallback" if answer.get("fallback_used") else "offline"


def _read_events(response: httpx.Response, on_token: Any) -> Outcome:
    last, data, buffer, told = "", "", "", False
    for text in response.iter_text():
        buffer += text
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            for line in frame.split("\n"):
                if line.startswith("event: "):
                    last = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
            if last == "token" and not told and on_token is not None:
                told = True
                on_token(response)
    if last == "done":
        return Outcome("stream", 200, "200 done " + _answered_by(json.loads(data)))
    if last == "error":
        detail = json.loads(data).get("detail", "") if data else ""
        return Outcome("stream", 200, "200 error", detail)
    return Outcome("stream", 200, "200 cut", f"the stream ended after a {last or 'nothing'} event", clear=False)
