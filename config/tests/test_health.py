import time

import pytest
from django.core.cache import cache
from django.db import connection

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_migrations_redis_worker_and_queue(client, celery_worker):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok", body
    assert body["checks"]["database"]["ok"] and body["checks"]["database"]["pending_migrations"] == 0
    assert body["checks"]["redis"]["ok"]
    assert body["checks"]["worker"]["ok"] and 0 <= body["checks"]["worker"]["age_s"] < 60
    assert body["checks"]["queue"]["ok"] and body["checks"]["queue"]["depth"].keys() == {"ingest", "maintenance"}
    assert client.get("/readyz").json()["checks"]["worker"]["ok"]  # the answer is remembered: no ping


def test_readyz_is_503_when_no_worker_answers(client, celery_worker, settings):
    settings.READYZ_WORKER_PING_TIMEOUT_SECONDS = 0.3
    from config.celery import app
    from config.monitoring import WORKER_SEEN_KEY

    celery_worker.stop()
    cache.clear()  # forget a worker answer an earlier test's probe remembered
    try:
        app.send_task("documents.tasks.document_sweep_task")  # waits in the queue: no worker consumes it
        response = client.get("/readyz")
        # an answer older than the period, still in the cache (its key outlived it): the ping decides
        cache.set(WORKER_SEEN_KEY, time.time() - settings.READYZ_WORKER_MAX_AGE_SECONDS - 5, timeout=600)
        stale = client.get("/readyz")
    finally:
        with app.connection_for_write() as conn:
            for queue in ("ingest", "maintenance"):
                conn.default_channel.queue_purge(queue)
        celery_worker.start()
    body = response.json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert body["checks"]["worker"] == {
        "ok": False,
        "error": "no worker answered",
        "ms": body["checks"]["worker"]["ms"],
    }
    assert stale.status_code == 503
    assert stale.json()["checks"]["worker"] == {
        **body["checks"]["worker"],
        "ms": stale.json()["checks"]["worker"]["ms"],
    }
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["queue"]["ok"] and body["checks"]["queue"]["depth"] == {
        "ingest": 0,
        "maintenance": 1,
    }  # the sweeper's queue


def test_readyz_is_503_when_redis_is_unreachable(client, settings, tmp_path):
    settings.REDIS_URL = f"unix://{tmp_path}/nothing-listens-here.sock"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError", "ms": body["checks"]["redis"]["ms"]}
    assert body["checks"]["database"]["ok"]


def test_database_is_postgres_with_pgvector():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert cursor.fetchone() is not None
        cursor.execute("SELECT '[1,2,3]'::vector <=> '[1,2,4]'::vector")
        assert 0 < cursor.fetchone()[0] < 0.01


def test_api_errors_never_leak_a_500_body_shape(client):
    response = client.get("/api/v1/does-not-exist/")
    assert response.status_code == 404
