"""What PgBouncer's transaction pooling needs (docs/operations.md "Scaling out"): no server-side cursors, no prepared
statements, and no session setting left behind by a search (``SET LOCAL`` only)."""

from __future__ import annotations

import pytest
from django.db import connection

from retrieval.selectors import search_chunks
from retrieval.tests.factories import ingest_text

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit, as in production


def _show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return str(cursor.fetchone()[0])


def test_the_connection_needs_no_session_state(settings, workspace):
    assert settings.DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] is None
    ingest_text(workspace, "Magma rises through the crust and erupts as lava.", title="Volcanoes")
    before = {name: _show(name) for name in ("hnsw.ef_search", "enable_indexscan", "lock_timeout")}
    for _ in range(8):  # past psycopg's default prepare_threshold (5)
        assert search_chunks(workspace=workspace, query="lava", k=3, mode="hybrid")
        assert search_chunks(workspace=workspace, query="lava", k=3, mode="vector")
    assert {name: _show(name) for name in before} == before  # SET LOCAL ended with its transaction
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 0
