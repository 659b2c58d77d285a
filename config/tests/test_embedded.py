"""The embedded servers as a new machine sees them: started from nothing, reused, stopped."""

import subprocess
import sys

import psycopg
import pytest
import redis

from config import embedded
from config.settings.base import celery_broker_url, redis_url_with_db


@pytest.fixture
def data_dir(tmp_path):
    yield tmp_path
    embedded.redis_stop(tmp_path)
    embedded.postgres_stop(tmp_path)


def test_start_is_idempotent_and_stop_stops(data_dir):
    url = embedded.postgres_url(data_dir, shared_buffers="160MB")
    pid = embedded.status(data_dir)["postgres"]["pid"]
    assert embedded.postgres_url(data_dir, shared_buffers="160MB") == url  # second call reuses the running server
    assert embedded.status(data_dir)["postgres"]["pid"] == pid  # settings unchanged: no restart
    host = url.split("host=")[1]
    with psycopg.connect(dbname="groundwork", user="postgres", host=host) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SHOW shared_buffers").fetchone() == ("160MB",)  # applied by the restart on first start

    r_url = embedded.redis_url(data_dir)
    assert embedded.redis_url(data_dir) == r_url
    assert redis.Redis.from_url(r_url).ping()

    # A second process (as gunicorn workers are) sees the same servers.
    out = subprocess.run(
        [sys.executable, "-m", "config.embedded", "status", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.count('"running": true') == 2

    assert embedded.redis_stop(data_dir) and embedded.postgres_stop(data_dir)
    state = embedded.status(data_dir)
    assert not state["postgres"]["running"] and not state["redis"]["running"]
    assert not embedded.redis_stop(data_dir)


def test_postgres_starts_again_after_a_stop_in_the_same_process(data_dir):
    """Found by the PostgreSQL fault drill: pgserver keeps its handle of a server this process started, so
    ``postgres_url`` after ``postgres_stop`` ran psql against the stopped server and failed."""
    url = embedded.postgres_url(data_dir, shared_buffers="160MB")
    assert embedded.postgres_stop(data_dir)
    assert embedded.postgres_url(data_dir, shared_buffers="160MB") == url
    with psycopg.connect(dbname="groundwork", user="postgres", host=url.split("host=")[1]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_memory_settings_follow_the_machine():
    gib = 2**30
    assert embedded.memory_settings(total_bytes=24 * gib) == {
        "shared_buffers": "6144MB",
        "effective_cache_size": "18432MB",
    }
    assert embedded.memory_settings(total_bytes=256 * gib)["shared_buffers"] == "8192MB"  # capped
    assert embedded.memory_settings(total_bytes=gib // 4)["shared_buffers"] == "128MB"  # floor
    assert embedded.memory_settings(shared_buffers="2GB", total_bytes=24 * gib)["shared_buffers"] == "2GB"


def test_redis_url_helpers():
    assert redis_url_with_db("unix:///x/redis.sock?db=0", 15) == "unix:///x/redis.sock?db=15"
    assert redis_url_with_db("redis://h:6379/0", 15) == "redis://h:6379/15"
    assert celery_broker_url("unix:///x/redis.sock?db=3") == "redis+socket:///x/redis.sock?virtual_host=3"
    assert celery_broker_url("redis://h:6379/0") == "redis://h:6379/0"
