"""gunicorn settings for the web process (``gunicorn -c config/gunicorn.py config.wsgi``).

Streamed answers (server-sent events) hold their request open for as long as the model writes, seconds to a
minute. gunicorn's default sync worker serves one request at a time, so two streams would block every other
page. Groundwork uses the threaded worker (``gthread``): each of ``WEB_CONCURRENCY`` processes serves up to
``WEB_THREADS`` requests at once, so the default 2 × 32 = 64 requests can be in flight, e.g. 50 streams and
the pages and API calls around them. Threads suit this load: a stream waits on the network (the LLM) or
on PostgreSQL, both of which release the GIL, and the processes share nothing but the database and Redis.
Each busy thread may hold one PostgreSQL connection (``CONN_MAX_AGE``): keep
``WEB_CONCURRENCY × WEB_THREADS`` (plus Celery's) under the server's ``max_connections``, or put PgBouncer
in front for many processes. See gunicorn's docs, "Design → Choosing a worker type" and "Settings".
"""

import os

bind = f"{os.environ.get('BIND_HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "32"))
# A worker that stops answering its arbiter for this long is restarted; open streams do not count (the
# gthread worker's main loop keeps notifying while threads stream).
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 10
accesslog = "-"


def post_fork(server, worker):
    """Give each web process its share of the cores for embedding (queries, answer sentences), as Celery's
    pool processes get theirs: with 2 processes on 2 cores, 1 torch thread each. More threads than cores
    only contend; and the query embedding runs beside PostgreSQL's BM25 (retrieval.selectors)."""
    from documents.embeddings import share_cores_with

    share_cores_with(server.cfg.workers)
