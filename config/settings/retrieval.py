"""Retrieval settings (part of ``config.settings.base``): BM25 scoring and pruning, reciprocal rank fusion,
search limits and the vector indexes. See .env.example for every variable."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import env

# Okapi BM25 parameters (Robertson & Zaragoza 2009); Lucene's defaults are k1=1.2, b=0.75 (or 0.9/0.4).
BM25_K1 = env.float("BM25_K1", default=1.2)
BM25_B = env.float("BM25_B", default=0.75)
# idf: "lucene" (ln(1 + (N-df+0.5)/(df+0.5)), always positive) or "okapi" (classic, as rank_bm25.BM25Okapi).
BM25_IDF = env.str("BM25_IDF", default="lucene")
if BM25_IDF not in {"lucene", "okapi"}:
    raise ImproperlyConfigured("BM25_IDF must be lucene or okapi")
# okapi only: floor for the idf of terms in more than half the chunks, as a share of the mean idf (rank_bm25's epsilon).
BM25_IDF_EPSILON = env.float("BM25_IDF_EPSILON", default=0.25)
# Postings (sum of the candidate terms' document frequencies) BM25 reads at most per query: the rarest
# query terms pick the candidates (MaxScore-style pruning); smaller workspaces are scored exactly.
# (Measured at 100k chunks: 10,000 and 200 keep 99 % of exhaustive BM25's top 10 at a third of its cost.)
BM25_MAX_CANDIDATES = env.int("BM25_MAX_CANDIDATES", default=10_000)
# ... or this share of the workspace's chunks when that is more (1M chunks: 30,000 postings, top-10 agreement with
# exhaustive BM25 0.68 -> 0.78; 100k chunks keep 10,000).
BM25_CANDIDATE_SHARE = env.float("BM25_CANDIDATE_SHARE", default=0.03)
# When terms were pruned: how many of the best candidates get the pruned terms' scores added and are re-ranked.
BM25_RESCORE_CANDIDATES = env.int("BM25_RESCORE_CANDIDATES", default=200)
RRF_K = env.int("RRF_K", default=60)  # reciprocal rank fusion constant (Cormack et al. 2009)
RRF_WEIGHT_BM25 = env.float("RRF_WEIGHT_BM25", default=1.0)
RRF_WEIGHT_VECTOR = env.float("RRF_WEIGHT_VECTOR", default=1.0)
SEARCH_CANDIDATES = env.int("SEARCH_CANDIDATES", default=100)  # hits each retriever gives the fusion
SEARCH_MAX_QUERY_CHARS = env.int("SEARCH_MAX_QUERY_CHARS", default=2000)
SEARCH_MAX_K = env.int("SEARCH_MAX_K", default=100)
# Vector search: exact (sequential) distance below this many chunks in scope, else the HNSW index. Exact
# costs ~1 us per chunk (11 ms at 11k); HNSW ~5 ms and the same SciFact nDCG@10 (0.6639 vs 0.6635 exact).
VECTOR_EXACT_MAX_CHUNKS = env.int("VECTOR_EXACT_MAX_CHUNKS", default=5_000)
HNSW_EF_SEARCH = env.int("HNSW_EF_SEARCH", default=100)  # pgvector hnsw.ef_search floor; raised for filters
# A workspace of at least this many chunks holding at most this share of the table gets its own (partial)
# HNSW index, built in the background (Celery beat, every VECTOR_INDEX_SWEEP_SECONDS).
VECTOR_OWN_INDEX_MIN_CHUNKS = env.int("VECTOR_OWN_INDEX_MIN_CHUNKS", default=20_000)
VECTOR_OWN_INDEX_MAX_SHARE = env.float("VECTOR_OWN_INDEX_MAX_SHARE", default=0.5)
VECTOR_INDEX_SWEEP_SECONDS = env.int("VECTOR_INDEX_SWEEP_SECONDS", default=600)

_bm25_ok = 0 < BM25_K1 <= 3 and 0 <= BM25_B <= 1 and 0 <= BM25_CANDIDATE_SHARE <= 1
if not (_bm25_ok and RRF_K > 0 and SEARCH_CANDIDATES > 0):
    raise ImproperlyConfigured(
        "BM25_K1 must be in (0, 3], BM25_B and BM25_CANDIDATE_SHARE in [0, 1], RRF_K and SEARCH_CANDIDATES > 0"
    )
