"""search_chunks, POST /api/v1/search/ and the search page: modes, fusion, hostile queries, tenancy."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from accounts.selectors import workspace_get_personal
from documents.embeddings import DIMENSIONS, embed_query
from documents.models import Chunk
from documents.tests.samples import REAL_TEXT
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.selectors import search_chunks
from retrieval.services import vector_indexes_ensure
from retrieval.tests.factories import ingest_text
from retrieval.vector import has_own_index, vector_plan, vector_search

pytestmark = pytest.mark.django_db

PASSAGES = {
    "Photosynthesis": "Plants convert sunlight, water and carbon dioxide into glucose and oxygen in chloroplasts.",
    "Volcanoes": "Magma rises through the crust and erupts as lava; volcanic ash can ground aircraft for days.",
    "Tides": "The gravitational pull of the moon and the sun raises ocean tides twice a day on most coasts.",
    "Vaccines": "Vaccines train the immune system to recognise a pathogen without causing the disease itself.",
    "Bread": "Yeast ferments sugars in dough, releasing carbon dioxide that makes bread rise before baking.",
}


@pytest.fixture
def acme(workspace):
    for title, text in PASSAGES.items():
        ingest_text(workspace, text, title=title)
    return workspace


@pytest.fixture
def charlie_space(charlie):
    space = workspace_get_personal(user=charlie)
    ingest_text(space, "Charlie's secret plan: volcanoes, lava and magma chambers under the city.", title="Secret")
    return space


def _titles(hits) -> list[str]:
    return [hit.document.title for hit in hits]


@pytest.mark.parametrize("mode", ["bm25", "vector", "hybrid"])
def test_each_mode_finds_the_passage(acme, mode):
    hits = search_chunks(workspace=acme, query="how does lava erupt from a volcano", k=3, mode=mode)
    assert _titles(hits)[0] == "Volcanoes"
    assert all(hit.chunk.workspace_id == acme.pk for hit in hits)


def test_vector_mode_finds_meaning_without_shared_words(acme):
    hits = search_chunks(workspace=acme, query="protection from infectious germs", k=1, mode="vector")
    assert _titles(hits) == ["Vaccines"]
    assert search_chunks(workspace=acme, query="protection from infectious germs", k=1, mode="bm25") == []


def test_hybrid_hit_carries_both_ranks_and_the_rrf_score(acme, settings):
    hits = search_chunks(workspace=acme, query="carbon dioxide", k=5, mode="hybrid")
    top = hits[0]
    assert top.bm25 is not None and top.vector is not None
    expected = settings.RRF_WEIGHT_BM25 / (60 + top.bm25.rank) + settings.RRF_WEIGHT_VECTOR / (60 + top.vector.rank)
    assert top.score == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_rrf_weights_and_ties():
    fused = reciprocal_rank_fusion({"a": [1, 2, 3], "b": [3, 2, 1]}, k=60)
    assert [i for i, _ in fused] == [1, 3, 2]  # 1 and 3 tie (1/61 + 1/63 > 2/62): by id
    weighted = reciprocal_rank_fusion({"a": [1, 2], "b": [2, 1]}, k=60, weights={"a": 1.0, "b": 3.0})
    assert weighted[0] == (2, pytest.approx(1 / 62 + 3 / 61))


def test_document_filter(acme):
    bread = acme.documents.get(title="Bread")
    hits = search_chunks(workspace=acme, query="carbon dioxide", k=5, mode="hybrid", document_ids=[bread.pk])
    assert _titles(hits) == ["Bread"]


@pytest.mark.parametrize(
    "query",
    [
        "the and of to",
        "a & | !( ' \\ :* <-> ",
        "🌋🌋🌋",
        "火山の噴火",
        "'; DROP TABLE documents_chunk; --",
        "vol\x00cano",
    ],
)
def test_hostile_queries_never_fail(acme, query):
    for mode in ("bm25", "vector", "hybrid"):
        hits = search_chunks(workspace=acme, query=query, k=5, mode=mode)
        assert all(hit.chunk.workspace_id == acme.pk for hit in hits)
    assert Chunk.objects.filter(workspace=acme).count() == len(PASSAGES)


def test_symbol_only_query_is_empty(acme):
    assert search_chunks(workspace=acme, query="🌋 !!! ???", k=5, mode="hybrid") == []


def test_small_workspace_in_a_big_table_gets_k_results_of_its_own(acme, charlie_space, settings):
    """Force the HNSW path: the workspace is a tiny share of the table, so post-filtering alone would
    return nothing; the search must still return the workspace's own rows, and only those."""
    settings.VECTOR_EXACT_MAX_CHUNKS = 0
    with connection.cursor() as cursor:  # make the planner statistics say the table is large
        cursor.execute("UPDATE pg_class SET reltuples = 1000000 WHERE oid = 'documents_chunk'::regclass")
    query_vector = np.zeros(DIMENSIONS, dtype=np.float32)
    query_vector[0] = 1.0
    hits = vector_search(workspace_id=acme.pk, embedding=query_vector, limit=3)
    assert len(hits) == 3
    own = set(Chunk.objects.filter(workspace=acme).values_list("pk", flat=True))
    assert {chunk_id for chunk_id, _ in hits} <= own


def test_a_large_workspace_that_is_a_small_share_gets_its_own_index(acme, charlie_space, settings):
    """Sizes scaled down: "large" is 3 chunks, the table claims a million rows. Without its own index the
    workspace would need ef_search > 1000 and fall back to exact search; with it, HNSW over its own rows."""
    settings.VECTOR_EXACT_MAX_CHUNKS = 0
    settings.VECTOR_OWN_INDEX_MIN_CHUNKS = 3
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pg_class SET reltuples = 1000000 WHERE oid = 'documents_chunk'::regclass")
    assert vector_plan(workspace_id=acme.pk, limit=3).exact  # no own index yet
    assert vector_indexes_ensure() == {"built": [acme.pk], "dropped": []}  # charlie's 1 chunk is too small
    assert vector_indexes_ensure() == {"built": [], "dropped": []}  # idempotent
    plan = vector_plan(workspace_id=acme.pk, limit=3)
    assert plan.own_index and not plan.exact and plan.ef == settings.HNSW_EF_SEARCH
    query_vector = embed_query("volcanic eruptions and lava")
    hits = vector_search(workspace_id=acme.pk, embedding=query_vector, limit=3, plan=plan)
    settings.VECTOR_EXACT_MAX_CHUNKS = 100
    assert hits == vector_search(workspace_id=acme.pk, embedding=query_vector, limit=3)  # same as exact search
    assert not vector_plan(workspace_id=charlie_space.pk, limit=3).own_index

    acme_id = acme.pk
    acme.delete()
    assert vector_indexes_ensure()["dropped"] == [acme_id]
    assert not has_own_index(acme_id)


def test_exact_search_reads_vectors_inline_not_from_toast(workspace):
    """Embeddings are stored in the heap row (migration documents 0005), so an exact scan reads about a
    quarter of a page per chunk; TOASTed vectors (pgvector's default storage) cost ~3 buffers per chunk."""
    words = REAL_TEXT.split() * 3
    paragraphs = [f"Record {i}. " + " ".join(words[i * 7 : i * 7 + 170]) for i in range(30)]
    ingest_text(workspace, "\n\n".join(paragraphs), title="Long chunks")
    chunks = Chunk.objects.filter(workspace=workspace)
    assert chunks.count() >= 20  # ~750 characters each: with the tsvector, every row passes the 2 kB threshold
    with connection.cursor() as cursor:
        cursor.execute("SET enable_indexscan = off")  # as retrieval.vector._exact
        cursor.execute(
            """EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id, embedding <=> %s::vector AS distance
               FROM documents_chunk WHERE workspace_id = %s ORDER BY distance LIMIT 10""",
            ["[" + ",".join(["0.05"] * DIMENSIONS) + "]", workspace.pk],
        )
        plan = cursor.fetchone()[0][0]["Plan"]
        cursor.execute("RESET enable_indexscan")
    buffers = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
    assert buffers < chunks.count() / 2, (buffers, chunks.count())


# --- API -----------------------------------------------------------------------------------------


def test_api_search(acme, alice, api_client_for):
    response = api_client_for(alice).post(
        "/api/v1/search/", {"query": "ocean tides and the moon", "workspace": acme.pk, "k": 2}, format="json"
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 2
    top = results[0]
    assert top["document_title"] == "Tides"
    assert set(top) == {
        "chunk_id",
        "document_id",
        "document_title",
        "page_start",
        "page_end",
        "page_label",
        "heading_path",
        "text",
        "score",
        "bm25",
        "vector",
    }
    assert set(top["bm25"]) == {"rank", "score"} and set(top["vector"]) == {"rank", "score"}


def test_api_defaults_to_the_personal_workspace(alice, api_client_for):
    ingest_text(workspace_get_personal(user=alice), "Alice keeps notes about sourdough starters.", title="Notes")
    results = api_client_for(alice).post("/api/v1/search/", {"query": "sourdough"}, format="json").json()["results"]
    assert [r["document_title"] for r in results] == ["Notes"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 10_000}, "query"),
        ({"query": "ok", "k": 0}, "k"),
        ({"query": "ok", "k": 1000}, "k"),
        ({"query": "ok", "mode": "magic"}, "mode"),
        ({"query": "ok", "document_ids": ["a"]}, "document_ids"),
        ({"query": "nul\x00byte"}, "query"),
    ],
)
def test_api_rejects_bad_input_with_the_error_shape(alice, api_client_for, body, field):
    response = api_client_for(alice).post("/api/v1/search/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]


@pytest.mark.parametrize("query", ["the of and", "a & | !(", "🙂", "Привет мир", "((((((("])
def test_api_hostile_queries_answer_200(acme, alice, api_client_for, query):
    response = api_client_for(alice).post("/api/v1/search/", {"query": query, "workspace": acme.pk}, format="json")
    assert response.status_code == 200
    assert isinstance(response.json()["results"], list)


def test_it_checks_access(acme, charlie_space, alice, charlie, api_client_for):
    charlie_client = api_client_for(charlie)
    response = charlie_client.post("/api/v1/search/", {"query": "volcano", "workspace": acme.pk}, format="json")
    assert response.status_code == 404
    assert "Volcanoes" not in response.content.decode()
    # charlie's own search never returns alice's chunks, even for words only alice's documents have
    for query in ("volcano lava magma", "photosynthesis chloroplasts", "vaccines immune"):
        results = charlie_client.post("/api/v1/search/", {"query": query}, format="json").json()["results"]
        assert {r["document_title"] for r in results} <= {"Secret"}
    # a document id of alice's in charlie's filter is "unknown", exactly like one that does not exist
    volcano = acme.documents.get(title="Volcanoes")
    leaked = charlie_client.post("/api/v1/search/", {"query": "lava", "document_ids": [volcano.pk]}, format="json")
    missing = charlie_client.post("/api/v1/search/", {"query": "lava", "document_ids": [10**9]}, format="json")
    assert leaked.status_code == missing.status_code == 400
    assert leaked.json()["detail"].replace(str(volcano.pk), "N") == missing.json()["detail"].replace(str(10**9), "N")
    # and alice never sees charlie's
    alice_results = (
        api_client_for(alice)
        .post("/api/v1/search/", {"query": "secret plan city", "workspace": acme.pk}, format="json")
        .json()["results"]
    )
    assert "Secret" not in {r["document_title"] for r in alice_results}
    assert api_client_for(None).post("/api/v1/search/", {"query": "lava"}, format="json").status_code in (401, 403)


# --- page ----------------------------------------------------------------------------------------


def test_search_page_highlights_and_explains(acme, alice, client):
    client.force_login(alice)
    session = client.session
    session["workspace_id"] = acme.pk
    session.save()
    page = client.get("/search/", {"q": "volcanic ash aircraft", "mode": "hybrid"}).content.decode()
    assert "<mark>" in page and "Volcanoes" in page
    assert "Explain" in page and "reciprocal rank fusion" in page


def test_search_page_escapes_document_text(workspace, alice, client):
    ingest_text(workspace, "Beware <script>alert('x')</script> of the volcano: x<y & a>b.", title="Hostile")
    client.force_login(alice)
    session = client.session
    session["workspace_id"] = workspace.pk
    session.save()
    page = client.get("/search/", {"q": "volcano"}).content.decode()
    assert "<script>alert" not in page and "x<y" not in page
    assert "x&lt;y &amp; a&gt;b" in page


def test_search_page_shows_a_clear_error_for_a_huge_query(alice, client):
    client.force_login(alice)
    page = client.get("/search/", {"q": "word " * 1000})
    assert page.status_code == 200 and "too long" in page.content.decode()


def test_search_page_tenancy(acme, charlie_space, charlie, client):
    client.force_login(charlie)
    page = client.get("/search/", {"q": "volcano lava photosynthesis"}).content.decode()
    assert "Volcanoes" not in page and "Photosynthesis" not in page


def test_headlines_keep_every_character_and_mark_matches(workspace):
    import html
    import re

    from retrieval.query import parse_query
    from retrieval.selectors import chunk_headlines

    text = "Beware <b>x<y & a>b</b> e-mail co-operation at http://a.b/c?d=1, 3.14 Ünïcödé 火山 🌋 volcanoes!"
    document = ingest_text(workspace, text, title="Tricky")
    chunk = document.chunks.get()
    parsed = parse_query("volcano mail", config="english")
    excerpt = chunk_headlines(workspace=workspace, query=parsed, chunk_ids=[chunk.pk], words=1000)[chunk.pk]
    assert html.unescape(re.sub(r"</?mark>", "", excerpt)) == chunk.text
    assert "<mark>volcanoes</mark>" in excerpt and "<mark>e-mail</mark>" in excerpt
    assert "<b>" not in excerpt
