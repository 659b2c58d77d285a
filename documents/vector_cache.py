"""The per-process cache of embeddings of short texts: queries (``embeddings.embed_query``) and the extractive
answerer's sentences (``embeddings.embed_cached``), keyed by ``(variant, text)``, least recently used evicted.

A question is embedded for retrieval and again by the answerer, a regenerated answer asks it again, and answers
about the same documents draw the same sentences: each is embedded once per process. ``fresh_query_cache()``
gives a block a cache of its own, for benchmarks that time the model rather than the cache.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

QUERY_CACHE_SIZE = 16384  # vectors of queries and answer sentences (1.5 KB each: ~25 MB per process when full)
Cache = OrderedDict[tuple[str, str], np.ndarray]  # (variant, text) -> read-only (384,) float32, oldest first
_process_cache: Cache = OrderedDict()
_scoped_cache: contextvars.ContextVar[Cache | None] = contextvars.ContextVar("query_cache", default=None)
_lock = threading.Lock()


@contextlib.contextmanager
def fresh_query_cache() -> Iterator[None]:
    """Within the block, query embeddings start from an empty cache of their own, as in a process that has
    never seen them: each distinct query pays for its forward pass once, and repeats inside the block share
    it as they do in production (retrieval and the extractive answerer embed a question once). For
    benchmarks and evaluations that time the model, not the cache::

        for question in questions:
            with fresh_query_cache():
                search_chunks(workspace=workspace, query=question, k=10)

    The process's cache is neither read nor changed; other threads keep using it. Blocks nest.
    """
    token = _scoped_cache.set(OrderedDict())
    try:
        yield
    finally:
        _scoped_cache.reset(token)


def clear_cache() -> None:
    """Empty the process's cache (the model or its settings changed)."""
    with _lock:
        _process_cache.clear()


def cache_in_effect() -> Cache:
    """The cache in effect: the innermost ``fresh_query_cache()`` block's, else the process's."""
    scoped = _scoped_cache.get()
    return _process_cache if scoped is None else scoped


def cached(cache: Cache, key: tuple[str, str]) -> np.ndarray | None:
    """The remembered vector of ``key`` (marked recently used), or None."""
    with _lock:
        vector = cache.get(key)
        if vector is not None:
            cache.move_to_end(key)
        return vector


def remember(cache: Cache, vectors: dict[tuple[str, str], np.ndarray]) -> None:
    """Remember ``vectors`` (made read-only here), evicting the least recently used past ``QUERY_CACHE_SIZE``."""
    with _lock:
        for key, vector in vectors.items():
            vector.flags.writeable = False
            cache[key] = vector
        while len(cache) > QUERY_CACHE_SIZE:
            cache.popitem(last=False)
