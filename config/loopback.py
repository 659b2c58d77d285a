"""A real HTTP server on loopback for tests and benchmarks: the edge of the world (an LLM provider, an embedding
service) played by a thread of this process.

Each base URL picks a behaviour by its first path segment, ``http://127.0.0.1:PORT/<mode>/v1``; a subclass says
what each mode answers in ``handle``. ``requests`` records ``(mode, json body)`` of every request, ``connections``
counts the TCP connections clients opened (keep-alive: one connection serves many requests).
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackServer:
    """Serves POST requests with a JSON body, each in its own daemon thread, until ``close()``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.connections = 0
        self.headers: list[dict[str, str]] = []  # of every request, in order
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def setup(self) -> None:  # once per connection (handle_one_request runs once per request)
                owner.connections += 1
                super().setup()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                mode = self.path.strip("/").split("/")[0]
                owner.requests.append((mode, body))
                owner.headers.append(dict(self.headers))
                # the client stopped reading: its choice
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    owner.handle(self, mode, body)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, mode: str) -> str:
        """The base URL of a behaviour (an ``OPENAI_BASE_URL``-style value ending in ``/v1``)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/{mode}/v1"

    def count(self, mode: str) -> int:
        """How many requests ``mode`` received."""
        return sum(1 for m, _ in self.requests if m == mode)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, h: BaseHTTPRequestHandler, mode: str, body: dict[str, Any]) -> None:
        """Answer one request (``h``: the request's handler, to write the response with)."""
        raise NotImplementedError

    @staticmethod
    def send_json(h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """Write a whole response: ``payload`` as JSON (``bytes`` as they are) with ``status`` and ``headers``."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)
