"""A real OpenAI-compatible ``/v1/embeddings`` server on loopback, for tests (the edge of the world), serving the
LOCAL model's embeddings (``documents.embeddings.local_embed_texts``) as a GPU box running the same model would.

Each base URL picks a behaviour by its first path segment: ``http://127.0.0.1:PORT/<mode>/v1``

- ``ok``: the local model's vectors, as floats in JSON, in reversed ``data`` order (clients sort by ``index``);
- ``d256``: the first 256 dimensions only (another model's dimension);
- ``wrong``: 384-d unit vectors of a different model (the local vector with its dimensions rolled by one);
- ``e500``: HTTP 500 with an OpenAI-style error body;
- ``hang``: waits ``hang_s`` seconds before answering (longer than the client's timeout);
- ``malformed``: 200 with a body that is not an embeddings response.

``requests`` records ``(mode, json body)`` of every request.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


class FakeEmbeddingService:
    def __init__(self, hang_s: float = 3.0) -> None:
        self.hang_s = hang_s
        self.requests: list[tuple[str, dict[str, Any]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                mode = self.path.strip("/").split("/")[0]
                fake.requests.append((mode, body))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    status, payload = fake.answer(mode, body)
                    data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, mode: str) -> str:
        """The base URL (``EMBEDDING_BASE_URL``) of a behaviour."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/{mode}/v1"

    def answer(self, mode: str, body: dict[str, Any]) -> tuple[int, Any]:
        from documents.embeddings import local_embed_texts

        if mode == "e500":
            return 500, {"error": {"message": "model not loaded", "type": "server_error"}}
        if mode == "malformed":
            return 200, b"<html>gateway</html>"
        if mode == "hang":
            time.sleep(self.hang_s)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = local_embed_texts(texts)
        if mode == "d256":
            vectors = vectors[:, :256]
        elif mode == "wrong":
            vectors = np.roll(vectors, 1, axis=1)
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return 200, {"object": "list", "model": body.get("model"), "data": data[::-1]}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
