"""Metrics and health settings (part of ``config.settings.base``): who may read ``/metrics``, where the processes
keep their metric files, the worker's own metrics port, and how fresh a worker's answer must be for ``/readyz``.
See .env.example."""

from __future__ import annotations

import ipaddress
import os

from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import env
from config.settings.paths import metrics_dir

# A caller of /metrics presenting "Authorization: Bearer <METRICS_TOKEN>" is let in from anywhere; without
# the token, only from these networks (default: loopback). Empty token: the networks alone decide.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
try:
    METRICS_ALLOWED_CIDRS = [
        ipaddress.ip_network(cidr, strict=False)
        for cidr in env.list("METRICS_ALLOWED_CIDRS", default=["127.0.0.0/8", "::1/128"])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_CIDRS: {exc}") from exc

# prometheus_client's multiprocess mode: every web, worker and pool process writes its samples to files in this
# folder, and /metrics adds them up. It must be set before prometheus_client is imported (it is read at import
# time), so the settings export it to the process environment; child processes inherit it.
PROMETHEUS_MULTIPROC_DIR = str(metrics_dir())
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
os.makedirs(PROMETHEUS_MULTIPROC_DIR, exist_ok=True)

# The Celery worker's own metrics endpoint, http://BIND_HOST:WORKER_METRICS_PORT/metrics (config.worker_metrics),
# under the same rule as /metrics (METRICS_TOKEN or METRICS_ALLOWED_CIDRS). For workers that do not share
# PROMETHEUS_MULTIPROC_DIR with a web process (their own container or machine); 0: off.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_HOST = env.str("BIND_HOST", default="127.0.0.1")
if not 0 <= WORKER_METRICS_PORT <= 65535:
    raise ImproperlyConfigured("WORKER_METRICS_PORT must be a TCP port (0: off)")

# /readyz needs a Celery worker that answered a ping within this many seconds (the answer is remembered in the
# cache, so probes ping at most once per this period); it waits READYZ_WORKER_PING_TIMEOUT_SECONDS for one.
READYZ_WORKER_MAX_AGE_SECONDS = env.int("READYZ_WORKER_MAX_AGE_SECONDS", default=60)
READYZ_WORKER_PING_TIMEOUT_SECONDS = env.float("READYZ_WORKER_PING_TIMEOUT_SECONDS", default=1.0)
if READYZ_WORKER_MAX_AGE_SECONDS < 1 or READYZ_WORKER_PING_TIMEOUT_SECONDS <= 0:
    raise ImproperlyConfigured("READYZ_WORKER_MAX_AGE_SECONDS must be >= 1 and READYZ_WORKER_PING_TIMEOUT_SECONDS > 0")
