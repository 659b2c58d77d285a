"""The embedding variants' forward passes (``documents.embedding_variants``): torch, ONNX Runtime and the static
table. ``documents.embeddings.get_encoder`` loads them, once per process and variant; call that, not these."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from documents.embedding_variants import ensure_artifact, get_variant
from documents.embeddings import DIMENSIONS, MAX_TEXT_TOKENS, MAX_TOKENS, embedding_threads, get_tokenizer, model_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@functools.cache
def load_torch_model(variant: str) -> SentenceTransformer:
    """The SentenceTransformer on CPU for ``torch-fp32`` or ``torch-bf16`` (cosine 0.9999 to fp32), in eval mode.
    Also used to make the other variants' files (``documents.embedding_variants``)."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(embedding_threads())
    model = SentenceTransformer(model_path(), device="cpu", local_files_only=True)
    model.max_seq_length = MAX_TOKENS
    if variant == "torch-bf16":
        model = model.to(torch.bfloat16)
    return model.eval()


class Encoder:
    """One variant's forward pass. ``encode``: texts -> ``(n, 384) float32`` rows (not yet normalized);
    ``encode_one``: one text, cut to the window -> ``(384,) float32``."""

    variant: str

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text], 1)[0]


class TorchEncoder(Encoder):
    def __init__(self, variant: str) -> None:
        self.variant, self.model = variant, load_torch_model(variant)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        with torch.inference_mode():
            vectors = self.model.encode(texts, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)
        return vectors.float().numpy()

    def encode_one(self, text: str) -> np.ndarray:
        """The model's own module pipeline (transformer, mean pooling) on one tokenized text, without
        ``encode``'s batching machinery: a few ms less per query, the same vector."""
        import torch

        with torch.inference_mode():
            features = self.model.preprocess([text])  # truncates to max_seq_length, like cutting to the window
            return self.model(features)["sentence_embedding"][0].float().numpy()


class OnnxEncoder(Encoder):
    """The exported graph (transformer and mean pooling) on ONNX Runtime, batches sorted by length, run by
    ``embedding_threads()`` threads at once, each batch on one core (``intra_op_num_threads=1``).

    Data-parallel beats splitting each product over the cores: for texts embedded alone (int8), 2 threads of one
    core each embedded 75 texts/s where one session of 2 intra-op threads embedded 44 (and 1 thread 54): a single
    short sequence's products are too small to share. ``InferenceSession.run`` is thread-safe and frees the GIL.
    """

    def __init__(self, variant: str) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = str(ensure_artifact(variant))
        self.variant, self.alone = variant, get_variant(variant).alone
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.threads = embedding_threads()
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=f"onnx-{variant}")
        self.pid = os.getpid()

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        size = 1 if self.alone else batch_size
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        pieces = _window_ids(texts)
        order = np.argsort([len(ids) for ids in pieces], kind="stable")
        batches = [order[start : start + size] for start in range(0, len(texts), size)]

        def run(rows: np.ndarray) -> None:
            width = max(len(pieces[i]) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)  # [PAD] is 0, masked out of the mean
            mask = np.zeros_like(ids)
            for row, i in enumerate(rows):
                ids[row, : len(pieces[i])], mask[row, : len(pieces[i])] = pieces[i], 1
            out[rows] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

        if self.threads == 1 or len(batches) == 1 or os.getpid() != self.pid:  # a forked child has no pool threads
            for rows in batches:
                run(rows)
        else:
            list(self.pool.map(run, batches))  # re-raises the first error
        return out


def _window_ids(texts: list[str]) -> list[list[int]]:
    """Each text's model input: ``[CLS]``, its first ``MAX_TEXT_TOKENS`` word pieces, ``[SEP]``.

    Cut here, never by the tokenizer's ``truncation=``: a fast tokenizer stores its truncation setting on the
    shared Rust object at each call, so a call with it would change how another thread's call (chunking, token
    counts) runs. Every call on ``get_tokenizer()`` uses the same settings (no truncation, no padding)."""
    tokenizer = get_tokenizer()
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    pieces = tokenizer(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
    return [[cls, *ids[:MAX_TEXT_TOKENS], sep] for ids in pieces]


class StaticEncoder(Encoder):
    """Mean of the text's word pieces' distilled rows (``embedding_variants._distill_static``)."""

    def __init__(self, variant: str) -> None:
        with np.load(ensure_artifact(variant)) as stored:
            self.rows = stored["rows"]
        self.variant = variant

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        pieces = get_tokenizer()(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for i, ids in enumerate(pieces):
            if ids:
                out[i] = self.rows[ids[:MAX_TEXT_TOKENS]].mean(axis=0)
        return out
