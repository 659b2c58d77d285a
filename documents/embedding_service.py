"""The optional remote embedding service: an OpenAI-compatible ``POST {EMBEDDING_BASE_URL}/embeddings`` server
(Hugging Face text-embeddings-inference, vLLM, Ollama) serving the same model as ``documents.embeddings``
(``MODEL_NAME``, ``DIMENSIONS``-d), so ingestion can run its forward passes on a GPU machine.

``documents.embeddings.embed_texts``/``embed_query`` call ``embed_remote`` when ``EMBEDDING_BASE_URL`` is set;
callers never see ``httpx`` errors, only ``EmbeddingServiceError``. The service is checked once as the web tier
or a worker starts (``embedding_service_check``, from ``config.bootstrap.process_setup`` in gunicorn's arbiter
and Celery's main process).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.logs import url_redact
from documents.embeddings import DIMENSIONS, MODEL_NAME, unit_rows

logger = logging.getLogger(__name__)

PROBE_SENTENCE = "Groundwork checks that the embedding service agrees with the local model."
# The local model's vector of PROBE_SENTENCE (fp32, 6 decimals), recorded by ``manage.py record_embedding_probe``;
# a test checks that it still equals what the installed model computes.
PROBE_FILE = Path(__file__).with_name("embedding_probe.json")


class EmbeddingServiceError(RuntimeError):
    """The embedding service timed out, was unreachable, answered an error, or answered something that is not
    one 384-d vector per text (the message says which, for a document's failure reason). ``transient``: it
    failed in a way that passes (a timeout, unreachable, HTTP 408, 429 or 5xx), so the same request may succeed
    later; otherwise it answered wrongly."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class EmbeddingDimensionsDiffer(EmbeddingServiceError):
    """The service's vectors have ``dimensions`` dimensions, not the stored embeddings' ``DIMENSIONS``: it serves
    another model."""

    def __init__(self, dimensions: int) -> None:
        super().__init__(
            f"The embedding service returned {dimensions}-d vectors; the stored embeddings are {DIMENSIONS}-d."
        )
        self.dimensions = dimensions


def embed_remote(texts: list[str], *, timeout_s: float | None = None) -> np.ndarray:
    """Embed ``texts`` on the service in requests of ``EMBEDDING_REMOTE_BATCH_SIZE`` texts: ``(n, 384) float32``,
    each row L2-normalized (``documents.embeddings.unit_rows``), in input order.

    ``timeout_s``: seconds each request may take to connect and between bytes (default
    ``EMBEDDING_REMOTE_TIMEOUT_S``, for ingestion; a search query passes ``EMBEDDING_REMOTE_QUERY_TIMEOUT_S``).
    Requests go through the process's one client, so its keep-alive connections are reused.

    Raises:
        EmbeddingServiceError: timeout, connection error, a non-2xx status, a body that is not
            ``{"data": [{"index": i, "embedding": [...]}, ...]}`` with one vector per text, or a zero or
            non-finite vector.
        EmbeddingDimensionsDiffer: vectors of other than ``DIMENSIONS`` dimensions.
    """
    timeout = settings.EMBEDDING_REMOTE_TIMEOUT_S if timeout_s is None else timeout_s
    batch = settings.EMBEDDING_REMOTE_BATCH_SIZE
    rows: list[np.ndarray] = []
    for start in range(0, len(texts), batch):
        rows.append(_request(texts[start : start + batch], timeout_s=timeout))
    if not rows:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = np.concatenate(rows)
    if not np.all(np.isfinite(vectors)) or not np.all(np.any(vectors, axis=1)):
        raise EmbeddingServiceError("The embedding service returned a zero or non-finite vector.")
    return unit_rows(vectors)


_client: httpx.Client | None = None
_client_pid = 0
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """The process's one HTTP client (thread-safe; its pool keeps connections alive between calls, so a query
    pays no TCP/TLS handshake). A forked child (a gunicorn worker, a Celery pool process) makes its own rather
    than share its parent's sockets. Timeout and headers are given per request (they follow the settings)."""
    global _client, _client_pid
    with _client_lock:
        if _client is None or _client_pid != os.getpid():
            _client = httpx.Client()
            _client_pid = os.getpid()
        return _client


def _headers() -> dict[str, str]:
    key = settings.EMBEDDING_API_KEY
    return {"Authorization": f"Bearer {key}"} if key else {}


def _endpoint() -> tuple[str, httpx.BasicAuth | None]:
    """The embeddings URL without credentials (httpx logs every request's URL), and the credentials of the base
    URL (``https://user:password@host/v1``), if any, to send as HTTP Basic auth as httpx would have."""
    parts = urlsplit(settings.EMBEDDING_BASE_URL)
    url = f"{url_redact(settings.EMBEDDING_BASE_URL)}/embeddings"
    if not (parts.username or parts.password):
        return url, None
    return url, httpx.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))


def _request(texts: list[str], *, timeout_s: float) -> np.ndarray:
    url, auth = _endpoint()
    body = {"model": settings.EMBEDDING_REMOTE_MODEL or MODEL_NAME, "input": texts}
    try:
        response = _http().post(
            url, json=body, headers=_headers(), auth=auth or httpx.USE_CLIENT_DEFAULT, timeout=timeout_s
        )
    except httpx.TimeoutException as exc:
        raise EmbeddingServiceError(
            f"The embedding service did not answer within {timeout_s:g} s.", transient=True
        ) from exc
    except httpx.HTTPError as exc:
        raise EmbeddingServiceError(
            f"The embedding service could not be reached ({type(exc).__name__}).", transient=True
        ) from exc
    if response.status_code >= 400:
        raise EmbeddingServiceError(
            f"The embedding service answered HTTP {response.status_code}.",
            transient=response.status_code in (408, 429) or response.status_code >= 500,
        )
    try:
        data = sorted(response.json()["data"], key=lambda item: item["index"])
        vectors = np.array([item["embedding"] for item in data], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbeddingServiceError("The embedding service's answer is not an embeddings response.") from exc
    if vectors.ndim != 2 or len(vectors) != len(texts) or vectors.shape[1] == 0:
        raise EmbeddingServiceError(
            f"The embedding service returned {vectors.shape[0] if vectors.ndim else 0} vector(s) "
            f"for {len(texts)} text(s)."
        )
    if vectors.shape[1] != DIMENSIONS:
        raise EmbeddingDimensionsDiffer(vectors.shape[1])
    return vectors


def probe_vector() -> np.ndarray:
    """The local model's recorded ``(384,) float32`` vector of ``PROBE_SENTENCE``, normalized."""
    return unit_rows(np.array(json.loads(PROBE_FILE.read_text()), dtype=np.float32))


def record_probe_vector(*, path: Path = PROBE_FILE) -> None:
    """Write this process's model's vector of ``PROBE_SENTENCE`` to ``path`` as a JSON list of 384 floats
    (6 decimals), by the reference variant (torch fp32). ``manage.py record_embedding_probe`` calls it after a
    model upgrade."""
    from documents.embedding_variants import REFERENCE
    from documents.embeddings import local_embed_texts

    vector = local_embed_texts([PROBE_SENTENCE], variant=REFERENCE)[0]
    path.write_text(json.dumps([round(float(x), 6) for x in vector]) + "\n")


def embedding_service_check() -> float | None:
    """Refuse a service whose vectors would not be comparable with the stored ones; returns the probe's cosine
    (``None`` when no service is configured).

    Chunks are stored as 384-d vectors of the local model (``documents.embeddings.DIMENSIONS``) and queries are
    compared with them by cosine, so a service with another dimension, or another model behind the same name
    (another checkpoint, a missing normalization or pooling step, a truncation), would silently corrupt every
    new chunk and every search. Two checks, one request: the service embeds ``PROBE_SENTENCE``; its vector must
    have 384 dimensions and a cosine of at least ``EMBEDDING_REMOTE_MIN_COSINE`` (0.99) with the local model's
    recorded vector of the same sentence (``PROBE_FILE``: recorded, so the check loads no model and a process
    that is about to fork stays free of torch's threads). The same model in bf16 or on a GPU scores > 0.999;
    another sentence model scores far lower.

    Raises:
        ImproperlyConfigured: the service is unreachable or errs, the dimension differs, or the cosine is too low.
    """
    if not settings.EMBEDDING_BASE_URL:
        return None
    where = f"the embedding service at {url_redact(settings.EMBEDDING_BASE_URL)}"  # no credentials in logs
    try:
        vector = embed_remote([PROBE_SENTENCE])[0]
    except EmbeddingDimensionsDiffer as exc:
        raise ImproperlyConfigured(
            f"{where} returns {exc.dimensions}-d vectors; the stored embeddings are {DIMENSIONS}-d."
        ) from exc
    except EmbeddingServiceError as exc:
        raise ImproperlyConfigured(f"{where} failed its start-up check: {exc}") from exc
    cosine = float(vector @ probe_vector())
    if cosine < settings.EMBEDDING_REMOTE_MIN_COSINE:
        raise ImproperlyConfigured(
            f"{where} disagrees with the local model (probe cosine {cosine:.4f} < "
            f"{settings.EMBEDDING_REMOTE_MIN_COSINE}): it does not serve {MODEL_NAME} as the stored embeddings."
        )
    logger.info("%s passed its start-up check (probe cosine %.5f)", where, cosine)
    return cosine
