"""BM25 in SQL equals rank_bm25 on the same tokens; the statistics stay exact as chunks come and go."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from rank_bm25 import BM25Okapi

from documents.services.lifecycle import document_delete
from retrieval.bm25 import bm25_search, candidate_terms, postings_budget
from retrieval.models import Posting, TermStats, WorkspaceStats
from retrieval.query import parse_query
from retrieval.services import workspace_stats_rebuild
from retrieval.tests.factories import ingest_text

pytestmark = pytest.mark.django_db

# Short passages; "report" is in most of them, so its raw Okapi idf is negative and the floor applies.
CORPUS = [
    ("Cats", "The cat sat on the mat. Cats sleep most of the day; the report says cats purr when content."),
    ("Dogs", "Dogs bark at the postman. A dog needs a walk every day, and dogs love to fetch sticks. Report."),
    ("Birds", "Birds migrate south in winter. The report counts migrating birds and their nesting sites."),
    ("Fish", "Goldfish live in bowls; fish breathe through gills. Fish fish fish: the report repeats itself."),
    ("Horses", "Horses gallop across open fields and need hay, water and a farrier's care."),
    ("Budget", "The quarterly budget report: revenue grew, costs fell, and the cat food line item doubled."),
    ("Weather", "Rain, snow and wind. The weather report warns of storms; birds and cats shelter indoors."),
    ("Recipes", "Bake bread with flour, water, salt and yeast. Knead, prove, bake until golden brown."),
]
QUERIES = [
    "cat",
    "cats and dogs in the report",
    "migrating birds winter",
    "fish fish gills",  # a repeated query term counts twice, as in rank_bm25
    "budget revenue costs report",
    "bread yeast flour water",
    "zebra",  # in no chunk
]


def _db_tokens(workspace_id: int) -> tuple[list[int], list[list[str]]]:
    """Each chunk's tokens as the database sees them: every lexeme repeated once per position."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, u.lexeme, coalesce(array_length(u.positions, 1), 1) FROM documents_chunk AS c,"
            " unnest(c.search_vector) AS u WHERE c.workspace_id = %s ORDER BY c.id, u.lexeme",
            [workspace_id],
        )
        tokens: dict[int, list[str]] = {}
        for chunk_id, lexeme, tf in cursor.fetchall():
            tokens.setdefault(chunk_id, []).extend([lexeme] * tf)
    ids = sorted(tokens)
    return ids, [tokens[i] for i in ids]


@pytest.fixture
def corpus_workspace(workspace):
    for title, text in CORPUS:
        ingest_text(workspace, text, title=title)
    return workspace


class LuceneBM25(BM25Okapi):
    """rank_bm25's Okapi scoring with Lucene's idf, ln(1 + (N - df + 0.5) / (df + 0.5))."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log1p((self.corpus_size - freq + 0.5) / (freq + 0.5))


def _assert_scores_equal(workspace, reference, ids) -> None:
    for query in QUERIES:
        terms = parse_query(query, config="english").terms
        query_tokens = [lexeme for lexeme, count in terms.items() for _ in range(count)]
        expected = dict(zip(ids, reference.get_scores(query_tokens), strict=True))
        got = dict(bm25_search(workspace_id=workspace.pk, terms=terms, limit=100))
        assert set(got) == {i for i, score in expected.items() if score > 0}, query
        for chunk_id, score in got.items():
            assert score == pytest.approx(expected[chunk_id], abs=1e-6), (query, chunk_id)


@pytest.mark.parametrize("k1,b", [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0)])
def test_lucene_idf_scores_equal_rank_bm25_with_that_idf(corpus_workspace, settings, k1, b):
    settings.BM25_K1, settings.BM25_B, settings.BM25_IDF = k1, b, "lucene"
    ids, tokens = _db_tokens(corpus_workspace.pk)
    _assert_scores_equal(corpus_workspace, LuceneBM25(tokens, k1=k1, b=b), ids)


@pytest.mark.parametrize("k1,b", [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0)])
def test_sql_scores_equal_rank_bm25(corpus_workspace, settings, k1, b):
    settings.BM25_K1, settings.BM25_B, settings.BM25_IDF = k1, b, "okapi"
    ids, tokens = _db_tokens(corpus_workspace.pk)
    assert len(ids) == len(CORPUS)
    reference = BM25Okapi(tokens, k1=k1, b=b, epsilon=settings.BM25_IDF_EPSILON)
    # "report" is in 6 of 8 chunks: its raw idf is negative and both sides floor it (checked by the scores)
    assert reference.idf["report"] == pytest.approx(settings.BM25_IDF_EPSILON * reference.average_idf)
    _assert_scores_equal(corpus_workspace, reference, ids)


def test_two_chunk_workspace_still_ranks_by_the_rarer_term(workspace):
    """With okapi idf every term of a two-chunk workspace scores <= 0; the default (lucene) still ranks."""
    ingest_text(workspace, "Magma rises through the crust and erupts as lava.", title="Volcanoes")
    bread = ingest_text(workspace, "Yeast makes the dough rise before baking.", title="Loaf")
    hits = bm25_search(
        workspace_id=workspace.pk, terms=parse_query("bread dough rise", config="english").terms, limit=5
    )
    assert hits[0][0] == bread.chunks.get().pk and all(score > 0 for _, score in hits)


def test_ranking_is_by_score_then_id(corpus_workspace):
    hits = bm25_search(workspace_id=corpus_workspace.pk, terms={"cat": 1, "report": 1}, limit=100)
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)
    assert len(bm25_search(workspace_id=corpus_workspace.pk, terms={"cat": 1, "report": 1}, limit=2)) == 2


def _stats(workspace_id: int) -> tuple[tuple[int, int], dict[str, int], set[tuple]]:
    ws = WorkspaceStats.objects.get(workspace_id=workspace_id)
    fields = ("lexeme", "chunk_id", "document_id", "tf", "length")
    postings = set(Posting.objects.filter(workspace_id=workspace_id).values_list(*fields))
    return (
        (ws.chunk_count, ws.total_length),
        dict(TermStats.objects.filter(workspace_id=workspace_id).values_list("lexeme", "df")),
        postings,
    )


def _postings_from_chunks(workspace_id: int) -> set[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT u.lexeme, c.id, c.document_id, coalesce(array_length(u.positions, 1), 1), c.search_length
               FROM documents_chunk AS c, unnest(c.search_vector) AS u WHERE c.workspace_id = %s""",
            [workspace_id],
        )
        return set(cursor.fetchall())


def test_statistics_follow_inserts_and_deletes_and_equal_a_rebuild(corpus_workspace, alice):
    ws_id = corpus_workspace.pk
    incremental = _stats(ws_id)
    assert incremental[0][0] == len(CORPUS)
    assert incremental[1]["report"] == 6
    assert incremental[2] == _postings_from_chunks(ws_id)
    assert sum(1 for p in incremental[2] if p[0] == "report") == 6
    workspace_stats_rebuild(workspace_id=ws_id)
    assert _stats(ws_id) == incremental

    document = corpus_workspace.documents.get(title="Fish")
    document_delete(document=document)
    after_delete = _stats(ws_id)
    assert after_delete[0][0] == len(CORPUS) - 1
    assert "gill" not in after_delete[1]  # only the fish passage had it: the row is gone, not df=0
    assert after_delete[1]["report"] == 5
    assert after_delete[2] == _postings_from_chunks(ws_id) and not any(p[0] == "gill" for p in after_delete[2])
    workspace_stats_rebuild(workspace_id=ws_id)
    assert _stats(ws_id) == after_delete


def test_statistics_are_per_workspace(corpus_workspace, charlie):
    from accounts.selectors import workspace_get_personal

    other = workspace_get_personal(user=charlie)
    ingest_text(other, "Cats everywhere, cats and more cats.", title="Cat facts")
    assert _stats(other.pk)[0][0] == 1
    assert _stats(other.pk)[1]["cat"] == 1
    assert _stats(corpus_workspace.pk)[0][0] == len(CORPUS)
    hits = bm25_search(workspace_id=other.pk, terms={"cat": 1}, limit=100)
    own = set(other.documents.values_list("chunks__id", flat=True))
    assert hits and {chunk_id for chunk_id, _ in hits} <= own


def test_candidate_terms_take_the_rarest_within_the_budget():
    dfs = {"report": 6, "cat": 3, "bird": 2, "zebra": 1}
    assert candidate_terms(dfs, max_postings=100) == ["zebra", "bird", "cat", "report"]
    assert candidate_terms(dfs, max_postings=3) == ["zebra", "bird"]
    assert candidate_terms(dfs, max_postings=0) == ["zebra"]  # always the rarest


def test_pruning_drops_only_chunks_that_hold_nothing_but_common_terms(corpus_workspace, settings):
    terms = parse_query("cats and dogs in the report", config="english").terms
    full = dict(bm25_search(workspace_id=corpus_workspace.pk, terms=terms, limit=100))
    settings.BM25_MAX_CANDIDATES = 4  # "dog" (1 chunk) and "cat" (3) are candidates; "report" (6) is not
    pruned = dict(bm25_search(workspace_id=corpus_workspace.pk, terms=terms, limit=100))
    assert pruned and set(pruned) < set(full)
    assert all(pruned[chunk] == pytest.approx(full[chunk], abs=1e-9) for chunk in pruned)  # exact scores
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM documents_chunk WHERE id = ANY(%s) AND (search_vector @@ 'cat | dog'::tsquery)",
            [list(full)],
        )
        holding_rare = {row[0] for row in cursor.fetchall()}
    assert set(pruned) == holding_rare


def test_pruned_terms_are_added_to_the_best_candidates_only(corpus_workspace, settings):
    terms = parse_query("cats and dogs in the report", config="english").terms
    full = dict(bm25_search(workspace_id=corpus_workspace.pk, terms=terms, limit=100))
    settings.BM25_MAX_CANDIDATES = 4  # candidates from "dog" and "cat"; "report" is added afterwards
    settings.BM25_RESCORE_CANDIDATES = 2
    partial = dict(
        bm25_search(
            workspace_id=corpus_workspace.pk, terms={t: n for t, n in terms.items() if t != "report"}, limit=100
        )
    )
    best_two = sorted(partial, key=lambda c: (-partial[c], c))[:2]
    rescored = bm25_search(workspace_id=corpus_workspace.pk, terms=terms, limit=2)
    assert {chunk for chunk, _ in rescored} == set(best_two)
    assert all(score == pytest.approx(full[chunk], abs=1e-9) for chunk, score in rescored)  # full scores
    assert [s for _, s in rescored] == sorted((s for _, s in rescored), reverse=True)


def test_the_postings_budget_grows_with_the_workspace(corpus_workspace, settings):
    assert postings_budget(n=100_000) == settings.BM25_MAX_CANDIDATES == 10_000
    assert postings_budget(n=1_000_000) == 30_000
    terms = parse_query("cats and dogs in the report", config="english").terms
    settings.BM25_MAX_CANDIDATES = 4  # "dog" (1 chunk) and "cat" (3)
    pruned = bm25_search(workspace_id=corpus_workspace.pk, terms=terms, limit=100)
    settings.BM25_MAX_CANDIDATES = 1  # "dog" alone ...
    settings.BM25_CANDIDATE_SHARE = 0.5  # ... but half of the 8 chunks' worth: "dog" and "cat" again
    assert bm25_search(workspace_id=corpus_workspace.pk, terms=terms, limit=100) == pruned
    settings.BM25_CANDIDATE_SHARE = 0.0
    assert bm25_search(workspace_id=corpus_workspace.pk, terms=terms, limit=100) != pruned
