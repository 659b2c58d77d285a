"""Reciprocal rank fusion (Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and
individual Rank Learning Methods", SIGIR 2009):

    RRF(d) = Σ_r w_r / (k + rank_r(d))        (rank from 1; k = 60 in the paper)

Only ranks matter, so BM25 scores (unbounded) and cosine similarities ([-1, 1]) need no normalization.
A later reranker stage takes the fused list as its candidates.
"""

from __future__ import annotations


def rrf_term(rank: int, *, k: int, weight: float = 1.0) -> float:
    """One retriever's contribution to a fused score: ``weight / (k + rank)``, ``rank`` counted from 1."""
    return weight / (k + rank)


def reciprocal_rank_fusion(
    rankings: dict[str, list[int]], *, k: int, weights: dict[str, float] | None = None
) -> list[tuple[int, float]]:
    """Fuse ranked id lists (best first) into ``[(id, rrf score), ...]``, best first, ties by id.

    ``rankings`` maps a retriever name to its ranking; ``weights`` maps a name to its weight (default 1.0).
    An id missing from a ranking gets nothing from it.
    """
    weights = weights or {}
    scores: dict[int, float] = {}
    for name, ranking in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + rrf_term(rank, k=k, weight=weight)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
