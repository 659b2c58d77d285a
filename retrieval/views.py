"""The search page: results with highlighted matches and an "explain" panel per hit."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from accounts.http import AuthenticatedHttpRequest
from accounts.selectors import workspace_current_or_404
from retrieval.fusion import rrf_term
from retrieval.query import InvalidQuery, parse_query
from retrieval.selectors import MODES, Mode, SearchHit, chunk_headlines, rrf_weights, search_chunks


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(value or default), low), high)
    except ValueError:
        return default


def _explain(hit: SearchHit, mode: str) -> list[dict[str, object]]:
    """Per retriever: rank, own score and, in hybrid mode, its RRF contribution w / (k + rank)."""
    weights = rrf_weights()
    rows: list[dict[str, object]] = []
    for name, label, found in (("bm25", "BM25", hit.bm25), ("vector", "Vector (cosine)", hit.vector)):
        if mode not in ("hybrid", name):
            continue
        rows.append(
            {
                "label": label,
                "found": found,
                "weight": weights[name],
                "contribution": (
                    rrf_term(found.rank, k=settings.RRF_K, weight=weights[name]) if found and mode == "hybrid" else None
                ),
            }
        )
    return rows


def _mode(value: str | None) -> Mode:
    return next((mode for mode in MODES if mode == value), "hybrid")


@login_required
def search(request: AuthenticatedHttpRequest) -> HttpResponse:
    workspace = workspace_current_or_404(request=request)
    query = request.GET.get("q", "")
    mode = _mode(request.GET.get("mode"))
    k = _int(request.GET.get("k"), 10, 1, settings.SEARCH_MAX_K)
    context: dict[str, object] = {
        "workspace": workspace,
        "query": query,
        "mode": mode,
        "k": k,
        "modes": MODES,
        "max_chars": settings.SEARCH_MAX_QUERY_CHARS,
    }
    if query.strip():
        try:
            parsed = parse_query(query, config=workspace.text_search_config)
        except InvalidQuery as exc:
            context["error"] = exc.message
        else:
            hits = search_chunks(workspace=workspace, query=parsed, k=k, mode=mode)
            headlines = chunk_headlines(workspace=workspace, query=parsed, chunk_ids=[h.chunk.pk for h in hits])
            context.update(
                results=[
                    {"hit": hit, "headline": headlines.get(hit.chunk.pk, ""), "explain": _explain(hit, mode)}
                    for hit in hits
                ],
                searched_terms=list(parsed.terms),
                rrf_k=settings.RRF_K,
            )
    return render(request, "retrieval/search.html", context)
