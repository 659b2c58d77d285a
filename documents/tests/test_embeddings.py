"""The embedding model module: query and passage embeddings agree, and long inputs behave as documented."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from documents.embeddings import (
    DIMENSIONS,
    MAX_TEXT_TOKENS,
    TextTooLong,
    embed_query,
    embed_query_async,
    embed_texts,
    fresh_query_cache,
    get_embedder,
)

# Tolerances. Rows are normalized in float32 after the forward pass, so norms are 1 to float32 precision
# (1e-6), whatever the model's dtype. The same tokens through the same forward pass give the same vector; in bf16
# (8 bits of mantissa) a different batch (padding) or code path moves a vector by cosine ~2e-5 (measured on
# an AVX512-BF16 EPYC), and bf16 against fp32 by ~2e-5 (0.99998): 1e-4 leaves room without hiding a bug.
UNIT = 1e-6
SAME_INPUT = 1e-6
BF16 = 1e-4


def test_a_query_embeds_like_the_same_text_as_a_passage():
    text = "Which enzyme converts angiotensin I to angiotensin II?"
    query, passages = embed_query(text), embed_texts([text, "A recipe for lemon cake with almonds."])
    assert query.shape == (DIMENSIONS,) and query.dtype == np.float32
    assert passages.shape == (2, DIMENSIONS) and passages.dtype == np.float32
    assert float(np.linalg.norm(query)) == pytest.approx(1.0, abs=UNIT)
    assert np.linalg.norm(passages, axis=1) == pytest.approx([1.0, 1.0], abs=UNIT)
    assert float(query @ passages[0]) == pytest.approx(1.0, abs=BF16)  # batched with padding: bf16 noise
    assert float(query @ passages[1]) < 0.5


def test_a_query_longer_than_the_window_is_cut_but_a_passage_is_refused():
    words = " ".join(["retrieval"] * (MAX_TEXT_TOKENS + 50))
    cut = " ".join(["retrieval"] * MAX_TEXT_TOKENS)  # "retrieval" is one word piece: exactly the window
    # Like with like: the long query, cut to the window, is the same model input as the cut text.
    model = get_embedder()
    assert model.preprocess([words])["input_ids"].tolist() == model.preprocess([cut])["input_ids"].tolist()
    long_query, cut_query = embed_query(words), embed_query(cut)
    assert float(np.linalg.norm(long_query)) == pytest.approx(1.0, abs=UNIT)
    assert float(long_query @ cut_query) == pytest.approx(1.0, abs=SAME_INPUT)
    assert float(long_query @ embed_texts([cut])[0]) == pytest.approx(1.0, abs=BF16)
    with pytest.raises(TextTooLong):
        embed_texts([words])


def test_bf16_vectors_agree_with_fp32(settings):
    texts = ["Which enzyme converts angiotensin I to angiotensin II?", " ".join(["retrieval"] * MAX_TEXT_TOKENS)]
    settings.EMBEDDING_DTYPE = "fp32"
    reference = embed_texts(texts), embed_query(texts[0])
    settings.EMBEDDING_DTYPE = "bf16"  # the model reloads (documents.embeddings clears it on setting_changed)
    bf16 = embed_texts(texts), embed_query(texts[0])
    assert np.einsum("ij,ij->i", reference[0], bf16[0]) == pytest.approx([1.0, 1.0], abs=BF16)
    assert float(reference[1] @ bf16[1]) == pytest.approx(1.0, abs=BF16)
    assert np.linalg.norm(bf16[0], axis=1) == pytest.approx([1.0, 1.0], abs=UNIT)


def test_loading_the_model_freezes_the_long_lived_objects_for_the_garbage_collector():
    """Django, torch and the model (~500k objects) leave the collected generations: a full collection
    would otherwise walk them all (~320 ms on this machine) in the middle of some request."""
    get_embedder.cache_clear()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    get_embedder()
    assert gc.get_freeze_count() > 100_000


def test_a_fresh_query_cache_embeds_anew_and_leaves_the_process_cache_alone():
    """Vectors come back as the cached (read-only) array itself, so identity shows a cache hit."""
    text = "How do bacteria resist antibiotics?"
    remembered = embed_query(text)
    assert embed_query(text) is remembered
    with fresh_query_cache():
        fresh = embed_query(text)
        assert fresh is not remembered and np.array_equal(fresh, remembered)
        assert embed_query(text) is fresh  # repeats inside the block share one forward pass
        other = embed_query_async("Which genes control flowering time?").result()
        assert embed_query("Which genes control flowering time?") is other  # the inference thread shares it
        with fresh_query_cache():
            assert embed_query(text) is not fresh
    assert embed_query(text) is remembered
