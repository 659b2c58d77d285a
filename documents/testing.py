"""A real OpenAI-compatible ``/v1/embeddings`` server on loopback, for tests (the edge of the world), serving the
LOCAL model's embeddings (``documents.embeddings.local_embed_texts``) as a GPU box running the same model would.

Each base URL picks a behaviour by its first path segment: ``http://127.0.0.1:PORT/<mode>/v1``

- ``ok``: the local model's vectors, as floats in JSON, in reversed ``data`` order (clients sort by ``index``);
- ``d256``: the first 256 dimensions only (another model's dimension);
- ``wrong``: 384-d unit vectors of a different model (the local vector with its dimensions rolled by one);
- ``e500``: HTTP 500 with an OpenAI-style error body;
- ``hang``: waits ``hang_s`` seconds (or until ``release`` is set) before answering as ``ok``;
- ``malformed``: 200 with a body that is not an embeddings response.

``requests`` records ``(mode, json body)`` of every request (``config.loopback``).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np

from config.loopback import LoopbackServer


class FakeEmbeddingService(LoopbackServer):
    def __init__(self, hang_s: float = 3.0) -> None:
        self.hang_s = hang_s
        self.release = threading.Event()
        super().__init__()

    def close(self) -> None:
        self.release.set()  # hanging requests end
        super().close()

    def handle(self, h: BaseHTTPRequestHandler, mode: str, body: dict[str, Any]) -> None:
        self.send_json(h, *self.answer(mode, body))

    def answer(self, mode: str, body: dict[str, Any]) -> tuple[int, Any]:
        from documents.embedding_variants import REFERENCE
        from documents.embeddings import local_embed_texts

        if mode == "e500":
            return 500, {"error": {"message": "model not loaded", "type": "server_error"}}
        if mode == "malformed":
            return 200, b"<html>gateway</html>"
        if mode == "hang":
            self.release.wait(self.hang_s)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = local_embed_texts(texts, variant=REFERENCE)  # the model a GPU box would serve
        if mode == "d256":
            vectors = vectors[:, :256]
        elif mode == "wrong":
            vectors = np.roll(vectors, 1, axis=1)
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return 200, {"object": "list", "model": body.get("model"), "data": data[::-1]}
