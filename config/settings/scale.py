"""Scale-out settings (part of ``config.settings.base``): the optional remote embedding service and the Celery
queues. See .env.example and docs/operations.md "Scaling out"."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from config.settings.environment import env

# An OpenAI-compatible /v1/embeddings server serving all-MiniLM-L6-v2 (text-embeddings-inference, vLLM, Ollama),
# e.g. http://gpu-box:8080/v1. Empty: the model runs in each process. Checked at process start-up against the
# stored embeddings (documents.embedding_service.embedding_service_check).
EMBEDDING_BASE_URL = env.str("EMBEDDING_BASE_URL", default="").rstrip("/")
EMBEDDING_API_KEY = env.str("EMBEDDING_API_KEY", default="")
# The model name sent in each request; empty: the local model's, documents.embeddings.MODEL_NAME (applied by
# documents.embedding_service: settings import no app module).
EMBEDDING_REMOTE_MODEL = env.str("EMBEDDING_REMOTE_MODEL", default="")
EMBEDDING_REMOTE_TIMEOUT_S = env.float("EMBEDDING_REMOTE_TIMEOUT_S", default=30.0)
# A search query waits this long for the service, then is embedded in the process (documents.embeddings).
EMBEDDING_REMOTE_QUERY_TIMEOUT_S = env.float("EMBEDDING_REMOTE_QUERY_TIMEOUT_S", default=2.0)
EMBEDDING_REMOTE_BATCH_SIZE = env.int("EMBEDDING_REMOTE_BATCH_SIZE", default=64)
EMBEDDING_REMOTE_MIN_COSINE = env.float("EMBEDDING_REMOTE_MIN_COSINE", default=0.99)
if EMBEDDING_REMOTE_TIMEOUT_S <= 0 or EMBEDDING_REMOTE_QUERY_TIMEOUT_S <= 0:
    raise ImproperlyConfigured("EMBEDDING_REMOTE_TIMEOUT_S and EMBEDDING_REMOTE_QUERY_TIMEOUT_S must be > 0")
if EMBEDDING_REMOTE_BATCH_SIZE < 1:
    raise ImproperlyConfigured("EMBEDDING_REMOTE_BATCH_SIZE must be >= 1")
if not 0 < EMBEDDING_REMOTE_MIN_COSINE <= 1:
    raise ImproperlyConfigured("EMBEDDING_REMOTE_MIN_COSINE must be in (0, 1]")

# Celery queues: ingestion on "ingest", periodic upkeep (the ingestion sweeper, the vector index task, purges) on
# "maintenance", so a backlog of documents never delays upkeep and each can get its own workers
# (`celery -A config worker -Q ingest`, `-Q maintenance`). A task without a route goes to "maintenance".
# Both are declared: a worker started without -Q consumes every declared queue (Celery's task_queues), not only
# the default one.
INGEST_QUEUE = "ingest"
MAINTENANCE_QUEUE = "maintenance"
CELERY_TASK_QUEUES = (Queue(INGEST_QUEUE), Queue(MAINTENANCE_QUEUE))
CELERY_TASK_DEFAULT_QUEUE = MAINTENANCE_QUEUE
CELERY_TASK_ROUTES = {
    "documents.tasks.document_ingest_task": {"queue": INGEST_QUEUE},
    "documents.tasks.document_sweep_task": {"queue": MAINTENANCE_QUEUE},
    "documents.tasks.reembed_slice_task": {"queue": INGEST_QUEUE},  # embedding, like ingestion: slices interleave
    "documents.tasks.reembed_sweep_task": {"queue": MAINTENANCE_QUEUE},
    "retrieval.tasks.*": {"queue": MAINTENANCE_QUEUE},
}
# The queues a worker started by config/worker_process.py (tests, bench commands) consumes, comma-separated;
# Procfile's and the image's worker (deploy/entrypoint.sh) consume the same by default.
CELERY_WORKER_QUEUES = [q.strip() for q in env.str("CELERY_WORKER_QUEUES", default="ingest,maintenance").split(",")]
if not all(CELERY_WORKER_QUEUES) or not set(CELERY_WORKER_QUEUES) <= {q.name for q in CELERY_TASK_QUEUES}:
    raise ImproperlyConfigured(
        "CELERY_WORKER_QUEUES must be a comma-separated list of the queues ingest and maintenance"
    )
# Pool processes of a worker started by Procfile or the image (read there from the environment); the load
# benchmark's stack (chat.loadtest.stack) starts its worker with the same number.
CELERY_CONCURRENCY = env.int("CELERY_CONCURRENCY", default=2)
