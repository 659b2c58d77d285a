"""The embedding model module: query and passage embeddings agree, long inputs behave as documented, and every
variant (documents.embedding_variants) makes the vectors its space promises."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from documents.embedding_variants import REFERENCE, VARIANTS, artifact_path, auto_variant, same_space
from documents.embeddings import (
    DIMENSIONS,
    MAX_TEXT_TOKENS,
    TextTooLong,
    effective_variant,
    embed_cached,
    embed_query,
    embed_query_async,
    embed_texts,
    get_encoder,
    local_embed_texts,
)
from documents.encoders import load_torch_model
from documents.vector_cache import cache_in_effect, fresh_query_cache

# Tolerances. Rows are normalized in float32 after the forward pass, so norms are 1 to float32 precision
# (1e-6), whatever the model's dtype. The same tokens through the same forward pass give the same vector; in bf16
# (8 bits of mantissa) a different batch (padding) or code path moves a vector by cosine ~2e-5 (measured on
# an AVX512-BF16 EPYC), and bf16 against fp32 by ~2e-5 (0.99998): 1e-4 leaves room without hiding a bug.
UNIT = 1e-6
SAME_INPUT = 1e-6
BF16 = 1e-4
# int8 weights against fp32: cosine 0.9941 mean, 0.9876 minimum over 1,000 SciFact chunks (bench_embed).
INT8_MIN_COSINE = 0.98
QUESTION = "Which enzyme converts angiotensin I to angiotensin II?"
PASSAGES = [
    "Angiotensin-converting enzyme (ACE) converts angiotensin I into the vasoconstrictor angiotensin II.",
    "A recipe for lemon cake with almonds.",
]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_query_embeds_like_the_same_text_as_a_passage(settings, variant):
    settings.EMBEDDING_VARIANT = variant
    query, passages = embed_query(QUESTION), embed_texts([QUESTION, "A recipe for lemon cake with almonds."])
    assert query.shape == (DIMENSIONS,) and query.dtype == np.float32
    assert passages.shape == (2, DIMENSIONS) and passages.dtype == np.float32
    assert float(np.linalg.norm(query)) == pytest.approx(1.0, abs=UNIT)
    assert np.linalg.norm(passages, axis=1) == pytest.approx([1.0, 1.0], abs=UNIT)
    # batched with padding: bf16 noise; the int8 variants embed each text alone, so exactly the same
    assert float(query @ passages[0]) == pytest.approx(1.0, abs=SAME_INPUT if VARIANTS[variant].alone else BF16)
    assert float(query @ passages[1]) < 0.6


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_ranks_the_answer_above_an_unrelated_text(variant):
    query = local_embed_texts([QUESTION], variant=variant)[0]
    relevant, unrelated = local_embed_texts(PASSAGES, variant=variant) @ query
    assert relevant > unrelated + 0.2


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_query_longer_than_the_window_is_cut_but_a_passage_is_refused(settings, variant):
    settings.EMBEDDING_VARIANT = variant
    words = " ".join(["retrieval"] * (MAX_TEXT_TOKENS + 50))
    cut = " ".join(["retrieval"] * MAX_TEXT_TOKENS)  # "retrieval" is one word piece: exactly the window
    # Like with like: the long query, cut to the window, is the same model input as the cut text.
    model = load_torch_model(REFERENCE)
    assert model.preprocess([words])["input_ids"].tolist() == model.preprocess([cut])["input_ids"].tolist()
    long_query, cut_query = embed_query(words), embed_query(cut)
    assert float(np.linalg.norm(long_query)) == pytest.approx(1.0, abs=UNIT)
    assert float(long_query @ cut_query) == pytest.approx(1.0, abs=SAME_INPUT)
    assert float(long_query @ embed_texts([cut])[0]) == pytest.approx(1.0, abs=BF16)
    with pytest.raises(TextTooLong):
        embed_texts([words])


def test_variants_of_the_reference_space_agree_with_fp32_and_int8_comes_close():
    texts = [QUESTION, " ".join(["retrieval"] * MAX_TEXT_TOKENS), *PASSAGES]
    reference = local_embed_texts(texts, variant=REFERENCE)
    for name, variant in VARIANTS.items():
        cosines = np.einsum("ij,ij->i", reference, local_embed_texts(texts, variant=name))
        if same_space(name, REFERENCE):
            assert cosines == pytest.approx([1.0] * len(texts), abs=BF16), name
        elif variant.runtime == "onnx":
            assert cosines.min() > INT8_MIN_COSINE, name
            assert cosines.min() < 1 - BF16, name  # a space of its own: its vectors are not the reference's


def test_an_int8_vector_does_not_depend_on_the_texts_embedded_with_it():
    """Dynamic quantization scales each matrix product by its whole input: batched, a text's neighbours moved
    its vector by up to cosine 0.991. Embedded alone, it is the same vector in any company."""
    alone = local_embed_texts([QUESTION], variant="onnx-int8")[0]
    crowd = local_embed_texts([PASSAGES[1], QUESTION, " ".join(["retrieval"] * 200)], variant="onnx-int8")[1]
    assert float(alone @ crowd) == pytest.approx(1.0, abs=SAME_INPUT)


def test_queries_use_the_variant_of_the_vectors_they_search(settings):
    settings.EMBEDDING_BASE_URL, settings.EMBEDDING_VARIANT = "", "onnx-int8"
    assert effective_variant("") == effective_variant(None) == "onnx-int8"  # no vectors yet: the configured one
    assert effective_variant("torch-bf16") == "torch-bf16"  # another space: the stored variant itself
    assert effective_variant("onnx-int8") == "onnx-int8"
    settings.EMBEDDING_VARIANT = "torch-bf16"
    assert effective_variant("torch-fp32") == "torch-bf16"  # one space: the loaded, configured variant
    assert effective_variant("static") == "static"
    bf16 = embed_query(QUESTION, variant="torch-fp32")
    static = embed_query(QUESTION, variant="static")
    assert float(bf16 @ static) < 0.9  # two spaces, two vectors: the cache keeps them apart
    with pytest.raises(KeyError):
        effective_variant("word2vec")


def test_auto_chooses_by_the_cpu(monkeypatch, settings):
    from documents import embedding_variants

    settings.EMBEDDING_VARIANT = "auto"
    monkeypatch.setattr(embedding_variants, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_vnni"})
    assert auto_variant() == "onnx-int8"
    monkeypatch.setattr(embedding_variants, "cpu_flags", lambda: {"avx2", "fma"})
    assert auto_variant() == "onnx-int8-avx2"


def test_the_variant_files_are_made_once_and_named_by_version():
    for name, variant in VARIANTS.items():
        if variant.runtime != "torch":
            get_encoder(name)
            assert artifact_path(name).is_file() and "-v" in artifact_path(name).name
            assert not list(artifact_path(name).parent.glob(f".{artifact_path(name).name}.*"))  # no partial file


def test_loading_the_model_freezes_the_long_lived_objects_for_the_garbage_collector():
    """Django, torch and the model (~500k objects) leave the collected generations: a full collection
    would otherwise walk them all (~320 ms on this machine) in the middle of some request."""
    get_encoder.cache_clear()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    get_encoder()
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


def test_cached_embedding_embeds_each_text_once_and_agrees_with_embed_texts():
    """The extractive answerer's sentences: a second answer drawing the same sentences reuses their vectors."""
    sentences = ["Yeast ferments the sugars in dough.", "The gas makes bread rise.", "Sourdough uses wild yeast."]
    with fresh_query_cache():
        first = embed_cached(sentences[:2])
        assert np.allclose(first, embed_texts(sentences[:2]), atol=1e-6)
        known = embed_query(sentences[0])  # the same cache as queries: a hit, the remembered vector itself
        assert np.array_equal(known, first[0]) and not known.flags.writeable
        again = embed_cached(sentences)
        assert np.array_equal(again[:2], first) and np.allclose(again[2], embed_texts(sentences[2:])[0], atol=1e-6)
        assert embed_query(sentences[2]) is embed_query(sentences[2])
        scoped = embed_cached(sentences[:1], scope="7")  # a workspace's sentences: apart from the others'
        assert np.array_equal(scoped[0], first[0])
        assert (f"{effective_variant()}@7", sentences[0]) in cache_in_effect()
    assert embed_cached([]).shape == (0, 384)


def test_embedding_leaves_the_shared_tokenizer_without_truncation():
    """A fast tokenizer keeps its truncation setting on the shared Rust object between calls: a variant cutting
    through it would make a concurrent chunking or token count (another thread) silently cut at 256 pieces."""
    from documents.embeddings import get_tokenizer

    long_text = " ".join(["retrieval"] * (MAX_TEXT_TOKENS + 50))
    for name in VARIANTS:
        local_embed_texts([long_text[:200]], variant=name)
        embed_query(long_text, variant=name)
        assert get_tokenizer().backend_tokenizer.truncation is None, name


def test_the_artifacts_command_makes_every_variants_file(capsys):
    from django.core.management import call_command

    call_command("embedding_artifacts", "--all")
    out = capsys.readouterr().out
    for name, variant in VARIANTS.items():
        if variant.runtime == "torch":
            assert f"{name}: needs no file" in out
        else:
            assert f"{name}: {artifact_path(name)}" in out and artifact_path(name).is_file()
