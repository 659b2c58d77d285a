"""A real OpenAI-compatible chat completions server on loopback, for tests (the edge of the world).

Each provider URL picks a behaviour by its first path segment: ``http://127.0.0.1:PORT/<mode>/v1``

- ``ok``: streams an answer: the first sentence of source 1 followed by ``[1]`` (condense requests get
  the last question prefixed by "Standalone:");
- ``badcite``: an answer with a supported ``[1]``, an invalid ``[7]`` and an unsupported ``[2]``;
- ``xss``: an answer carrying HTML/JS, citing ``[1]``;
- ``attrcite``: Markdown that puts ``[1]`` inside a link's title, href and text, an image's alt text and code,
  besides one ``[1]`` in plain text (each claim is the first sentence of source 1, so every marker is supported);
- ``e500`` / ``e429``: that status with an OpenAI-style error body;
- ``hang``: waits ``hang_s`` seconds before answering (longer than the client's timeout);
- ``malformed``: a stream whose data is not JSON;
- ``cut``: a few tokens, then the connection is closed mid-stream;
- ``slow``: like ``ok``, but waits ``first_token_s`` before the first token and ``token_s`` between tokens
  (a model's own pace, for benchmarks).

``requests`` records ``(mode, json body)`` of every request (``config.loopback``).
"""

from __future__ import annotations

import json
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from config.loopback import LoopbackServer

SOURCE = re.compile(r'<source id="(\d+)"[^>]*>\n(.*?)\n</source>', re.S)


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.S)
    return (match.group(1) if match else text.strip())[:400]


class FakeLLM(LoopbackServer):
    def __init__(
        self, hang_s: float = 3.0, first_token_s: float = 0.2, token_s: float = 0.05, host: str = "127.0.0.1"
    ) -> None:
        self.hang_s, self.first_token_s, self.token_s = hang_s, first_token_s, token_s
        super().__init__(host)

    def provider(self, mode: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": mode,
            "base_url": self.url(mode),
            "api_key": "test",
            "model": f"fake-{mode}",
            "timeout_s": 1.0,
            "max_retries": 1,
            **extra,
        }

    # --- behaviours ---------------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, mode: str, body: dict[str, Any]) -> None:
        if mode in ("e500", "e429"):
            status = 500 if mode == "e500" else 429
            error = {"error": {"message": f"fake {status}", "type": "server_error"}}
            self.send_json(h, status, error, {"Retry-After": "0"} if status == 429 else None)
            return
        if mode == "hang":
            time.sleep(self.hang_s)
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        if mode == "malformed":
            h.wfile.write(b"data: {this is not json\n\n")
            h.wfile.flush()
            return
        text = self.answer(mode, body)
        pieces = re.findall(r"\S+\s*", text)
        for i, piece in enumerate(pieces):
            if mode == "slow":
                time.sleep(self.first_token_s if i == 0 else self.token_s)
            if mode == "cut" and i == 3:
                h.wfile.flush()
                h.connection.shutdown(2)  # the connection drops mid-answer
                return
            self._chunk(h, {"content": piece})
        self._chunk(h, {}, finish_reason="stop")
        self._chunk(
            h, None, usage={"prompt_tokens": 100, "completion_tokens": len(pieces), "total_tokens": 100 + len(pieces)}
        )
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()

    @staticmethod
    def _chunk(
        h: BaseHTTPRequestHandler,
        delta: dict[str, str] | None,
        usage: dict[str, int] | None = None,
        finish_reason: str | None = None,
    ) -> None:
        payload = {
            "id": "fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake",
            "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            "usage": usage,
        }
        h.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
        h.wfile.flush()

    def answer(self, mode: str, body: dict[str, Any]) -> str:
        messages = body.get("messages", [])
        last = messages[-1]["content"] if messages else ""
        if "Last question:" in last:
            return "Standalone: " + last.split("Last question:", 1)[1].strip()
        sources = dict(SOURCE.findall(last))
        first = _first_sentence(sources.get("1", "Nothing."))
        if mode == "badcite":
            return f"{first} [1] Penguins are secretly running the central bank of Mars [2]. Also this [7]."
        if mode == "xss":
            return (
                f"{first} [1]\n\n<script>alert('x')</script> <img src=x onerror=alert(1)> [link](javascript:alert(1))"
            )
        if mode == "attrcite":
            return (
                f"{first} [1]\n\n"
                f'[{first}](https://example.com/a "{first} [1]")\n\n'
                f"[{first}](https://example.com/[1])\n\n"
                f"[{first} [1]](https://example.com/b)\n\n"
                f"![{first} [1]](https://example.com/c.png)\n\n"
                f"`{first} [1]`"
            )
        return f"{first} [1]"
