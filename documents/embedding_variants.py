"""The embedding variants: the one model (all-MiniLM-L6-v2) run in different ways, and the files some need.

A variant is part of the data: every workspace records the variant its chunk vectors were made by
(``Workspace.embedding_variant``); its queries are embedded by a variant of the same *space*, and moving it to
another space re-embeds its chunks (``documents.services.reembed``). Variants of one space give the same vectors
(cosine ≥ 0.9999 to torch fp32 on every chunk of ``bench_embed``), so moving between them costs nothing.

Figures (``manage.py bench_embed``; quality by ``evaluate_retrieval``/``evaluate_answers``) are in the README.

- ``torch-fp32``: sentence-transformers on torch, float32: the reference.
- ``torch-bf16``: the same in bfloat16, fast only where the CPU has native bf16 (AMX, AVX512-BF16).
- ``onnx-fp32``: the same graph exported to ONNX (``torch.onnx.export``) and run by ONNX Runtime.
- ``onnx-int8``: that graph with dynamically quantized int8 weights (ONNX Runtime ``quantize_dynamic``,
  per channel, full range: for CPUs with AVX-512 VNNI or AVX-VNNI, where u8×s8 products do not saturate).
- ``onnx-int8-avx2``: the same with ``reduce_range`` (7-bit weights), ONNX Runtime's advice for AVX2 CPUs
  without VNNI, whose ``vpmaddubsw`` saturates on full-range products.
- ``static``: a static embedding distilled from the model (Model2Vec: Tulkens & van Dongen 2024,
  https://github.com/MinishLab/model2vec): each vocabulary word piece embedded alone, centred by PCA (all 384
  components kept, so the stored column is unchanged), weighted by SIF under a Zipf prior; a text's vector is
  the mean of its word pieces' rows. No transformer at run time: opt-in, for its measured cost in quality.

The ONNX and static files are made from the installed model, here, on first use (a few seconds; a file lock keeps
processes from making them twice) or ahead of time by ``manage.py embedding_artifacts`` (the image does), in
``EMBEDDING_ARTIFACTS_DIR``. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)

ARTIFACT_VERSION = 1  # bump when the way a file is made changes: a new name, so an old file is never reused


@dataclass(frozen=True)
class Variant:
    name: str
    runtime: Literal["torch", "onnx", "static"]
    space: str  # variants of one space make interchangeable vectors
    # Embed each text alone. Dynamic int8 quantization takes one activation scale per matrix product, over the
    # whole batch: a text's neighbours in a batch moved its vector by up to cosine 0.991 (bench_embed). Alone, a
    # text gets the same vector whatever it is embedded with (a query equals the same passage), and no padding.
    alone: bool = False


_MODEL = "all-MiniLM-L6-v2"
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("torch-fp32", "torch", _MODEL),
        Variant("torch-bf16", "torch", _MODEL),
        Variant("onnx-fp32", "onnx", _MODEL),
        Variant("onnx-int8", "onnx", f"{_MODEL}/int8", alone=True),
        Variant("onnx-int8-avx2", "onnx", f"{_MODEL}/int8-reduced", alone=True),
        Variant("static", "static", f"{_MODEL}/static"),
    )
}
REFERENCE = "torch-fp32"  # the service of EMBEDDING_BASE_URL serves this (its start-up probe checks it)


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where it cannot be read), read once per process:
    ``configured_variant`` asks for them on every embedding and query."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_description() -> str:
    """The CPU's model name, logical cores and the flags the variants depend on, e.g. ``"AMD EPYC (2 logical
    cores; avx2, avx512_bf16, avx512_vnni)"``: what every benchmark prints beside its figures."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        name = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor() or platform.machine()
    flags = sorted({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())
    return f"{name} ({os.cpu_count()} logical cores; {', '.join(flags) or 'no AVX2'})"


def cpu_supports_vnni() -> bool:
    """True if the CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX int8)."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


def auto_variant() -> str:
    """The default variant for this CPU, chosen by measurement (README, "Embedding variants"): the fastest whose
    SciFact hybrid nDCG@10 stays within 0.005 of torch fp32's and SQuAD answer recall and citation precision
    within 0.01."""
    return "onnx-int8" if cpu_supports_vnni() else "onnx-int8-avx2"


def configured_variant() -> str:
    """The variant new vectors are made by: ``EMBEDDING_VARIANT`` (``auto``: ``auto_variant()``); with
    ``EMBEDDING_BASE_URL`` set, the service's (the reference's space)."""
    if settings.EMBEDDING_BASE_URL:
        return REFERENCE
    choice = settings.EMBEDDING_VARIANT
    return auto_variant() if choice == "auto" else choice


def get_variant(name: str) -> Variant:
    """The variant called ``name``. Raises ``KeyError`` for an unknown name."""
    return VARIANTS[name]


def same_space(a: str, b: str) -> bool:
    """True if vectors of variants ``a`` and ``b`` can be searched together (no re-embedding between them)."""
    return VARIANTS[a].space == VARIANTS[b].space


# --- the files ---------------------------------------------------------------------------------------------


def artifact_path(name: str) -> Path:
    """Where variant ``name``'s file lives (``.onnx`` or ``.npz``), whether made yet or not."""
    suffix = ".npz" if VARIANTS[name].runtime == "static" else ".onnx"
    return Path(settings.EMBEDDING_ARTIFACTS_DIR) / f"{_MODEL}-{name}-v{ARTIFACT_VERSION}{suffix}"


def ensure_artifact(name: str) -> Path:
    """Variant ``name``'s file, made first if missing (ONNX export ~2 s, int8 quantization ~3 s, static
    distillation ~16 s on 2 cores). Safe across processes: one makes it under a file lock, the others wait.

    Raises:
        ValueError: a torch variant (it needs no file).
    """
    variant = VARIANTS[name]
    if variant.runtime == "torch":
        raise ValueError(f"{name} needs no file")
    path = artifact_path(name)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        if not path.exists():
            started = time.perf_counter()
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            try:
                _MAKERS[name](partial)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
                _forget_torch_model()
            logger.info("embedding variant %s: made %s in %.1f s", name, path.name, time.perf_counter() - started)
    return path


def _forget_torch_model() -> None:
    """Drop the torch model that making a file loaded (~450 MB), unless an encoder of the process uses it (it
    keeps its own reference): a process running int8 should not carry it for the rest of its life."""
    import gc

    from documents.encoders import load_torch_model

    load_torch_model.cache_clear()
    gc.collect()


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _export_onnx(target: Path) -> None:
    """The model's transformer and mean pooling as one ONNX graph: (input_ids, attention_mask) ``(b, s) int64``
    -> embedding ``(b, 384) float32`` (not normalized)."""
    import torch

    from documents.encoders import load_torch_model

    transformer: Any = load_torch_model("torch-fp32")[0].auto_model  # a transformers BertModel

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    example = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "sequence"}
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on ops it rewrites: none applies to this graph
        torch.onnx.export(
            MeanPooled().eval(),
            (example, example),
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, and a static graph is all this is
        )


def _quantize(reduce_range: bool) -> Callable[[Path], None]:
    def make(target: Path) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        level, root.level = root.level, logging.WARNING  # the quantizer logs a line per tensor at INFO
        try:
            quantize_dynamic(
                ensure_artifact("onnx-fp32"),
                target,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=reduce_range,
            )
        finally:
            root.level = level

    return make


STATIC_SIF = 1e-4  # Model2Vec's default SIF coefficient


def _distill_static(target: Path) -> None:
    """Model2Vec distillation (no dimension reduction): rows ``(vocabulary, 384) float32``."""
    import torch

    from documents.embeddings import get_tokenizer
    from documents.encoders import load_torch_model

    tokenizer = get_tokenizer()
    transformer: Any = load_torch_model("torch-fp32")[0].auto_model
    ids = np.arange(len(tokenizer.get_vocab()), dtype=np.int64)
    rows = np.zeros((len(ids), 384), dtype=np.float32)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    with torch.inference_mode():
        for start in range(0, len(ids), 1024):
            part = torch.from_numpy(ids[start : start + 1024])
            batch = torch.stack([torch.full_like(part, cls), part, torch.full_like(part, sep)], dim=1)
            hidden = transformer(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
            rows[start : start + len(part)] = hidden.mean(dim=1).numpy()
    rows -= rows.mean(axis=0)  # PCA keeping every component: centre, then rotate onto the principal axes
    _, _, axes = np.linalg.svd(rows, full_matrices=False)
    rows = rows @ axes.T
    rank = ids.astype(np.float64) + 1  # word pieces are numbered roughly by frequency: Zipf's law by rank
    probability = (1 / rank) / (1 / rank).sum()
    rows *= (STATIC_SIF / (STATIC_SIF + probability)).astype(np.float32)[:, None]
    with open(target, "wb") as handle:
        np.savez(handle, rows=rows.astype(np.float32))


_MAKERS = {
    "onnx-fp32": _export_onnx,
    "onnx-int8": _quantize(reduce_range=False),
    "onnx-int8-avx2": _quantize(reduce_range=True),
    "static": _distill_static,
}
