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


def test_a_query_embeds_like_the_same_text_as_a_passage():
    text = "Which enzyme converts angiotensin I to angiotensin II?"
    query, passage = embed_query(text), embed_texts([text])[0]
    assert query.shape == (DIMENSIONS,) and query.dtype == np.float32
    assert float(np.linalg.norm(query)) == pytest.approx(1.0, abs=1e-5)
    assert float(query @ passage) == pytest.approx(1.0, abs=1e-4)
    assert float(query @ embed_query("A recipe for lemon cake with almonds.")) < 0.5


def test_a_query_longer_than_the_window_is_cut_but_a_passage_is_refused():
    words = " ".join(["retrieval"] * (MAX_TEXT_TOKENS + 50))
    cut = " ".join(["retrieval"] * MAX_TEXT_TOKENS)
    assert float(embed_query(words) @ embed_query(cut)) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(TextTooLong):
        embed_texts([words])


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
