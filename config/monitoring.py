"""``/metrics`` (Prometheus text format, multiprocess) and the probes' worker and queue checks.

``/metrics`` adds up the samples every process wrote to ``PROMETHEUS_MULTIPROC_DIR`` (``config.metrics``) and,
at scrape time, three cheap readings: documents by status (one GROUP BY), the broker queue's length (Redis
LLEN) and each LLM provider's circuit-breaker state (a cache read). It is refused (403) unless the caller
presents ``Authorization: Bearer <METRICS_TOKEN>`` or its address is in ``METRICS_ALLOWED_CIDRS``; it never
redirects to the login page.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

WORKER_SEEN_KEY = "monitoring:worker-answered-at"


def _client_address(request: HttpRequest) -> str | None:
    from allauth.account.adapter import get_adapter
    from django.core.exceptions import ImproperlyConfigured

    try:
        return get_adapter().get_client_ip(request)  # REMOTE_ADDR, or the trusted proxy's X-Forwarded-For entry
    except ImproperlyConfigured:  # X-Forwarded-For shorter than TRUSTED_PROXY_COUNT: not from our proxy
        return None


def metrics_access_allowed(*, address: str | None, authorization: str) -> bool:
    """The access rule of every metrics endpoint (``/metrics`` here, the worker's ``WORKER_METRICS_PORT``): a
    caller presenting ``Authorization: Bearer <METRICS_TOKEN>`` (``authorization``: the header's value, "" when
    absent) is let in, a wrong bearer token never is; without one, only a client ``address`` (an IP address
    string; None when unknown) in ``METRICS_ALLOWED_CIDRS``."""
    from django.conf import settings

    scheme, _, token = authorization.partition(" ")
    if settings.METRICS_TOKEN and scheme.lower() == "bearer":
        return hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in settings.METRICS_ALLOWED_CIDRS)


def metrics_allowed(request: HttpRequest) -> bool:
    """``metrics_access_allowed`` for a request to ``/metrics`` (the client address as the trusted proxies give
    it)."""
    return metrics_access_allowed(
        address=_client_address(request), authorization=request.headers.get("Authorization", "")
    )


def broker_queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue the app routes to (``{queue: count}``); raises on a broker error."""
    from django.conf import settings

    from config.celery import app

    names = {app.conf.task_default_queue, *settings.CELERY_WORKER_QUEUES}
    names |= {q.name for q in (app.conf.task_queues or [])}
    with app.connection_for_read() as conn:
        client = conn.default_channel.client  # kombu's Redis transport keeps a queue as a Redis list of its name
        return {name: int(client.llen(name)) for name in sorted(names)}


class _ScrapeTimeCollector(Collector):
    """Readings taken when Prometheus scrapes, not counted by the processes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from chat.llm import circuit_open, configured_providers
        from documents.models import Document

        documents = GaugeMetricFamily("groundwork_documents", "Documents by ingestion status.", labels=["status"])
        try:
            counts = dict(Document.objects.order_by().values_list("status").annotate(n=Count("id")))
        except Exception as exc:  # the database is down: the other series still come, /readyz says why
            logger.warning("documents by status unavailable: %s", type(exc).__name__)
        else:
            for status in Document.Status.values:
                documents.add_metric([status], counts.get(status, 0))
        yield documents
        queue = GaugeMetricFamily("groundwork_queue_depth", "Tasks waiting in the broker queue.", labels=["queue"])
        try:
            for name, depth in broker_queue_depths().items():
                queue.add_metric([name], depth)
        except Exception as exc:  # the broker is down: no sample, and the readiness probe says so
            logger.warning("queue depth unavailable: %s", type(exc).__name__)
        yield queue
        circuit = GaugeMetricFamily(
            "groundwork_llm_circuit_open", "1 while the provider's circuit breaker is open.", labels=["provider"]
        )
        for provider in configured_providers():
            circuit.add_metric([provider.name], float(circuit_open(provider)))
        yield circuit


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Every process's samples plus the scrape-time readings, in Prometheus text format; 403 for others."""
    if not metrics_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(_ScrapeTimeCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def worker_check() -> dict[str, object]:
    """A Celery worker answered a ping within ``READYZ_WORKER_MAX_AGE_SECONDS`` (remembered in the cache, so
    probes ping at most once per period); ``age_s`` is how long ago. Pings when the last answer is too old (or
    none is remembered); an old answer is not ok when this ping gets none."""
    from django.conf import settings
    from django.core.cache import cache

    from config.celery import app

    now = time.time()
    seen = cache.get(WORKER_SEEN_KEY)
    if seen is None or now - seen > settings.READYZ_WORKER_MAX_AGE_SECONDS:
        if not app.control.ping(timeout=settings.READYZ_WORKER_PING_TIMEOUT_SECONDS, limit=1):
            return {"ok": False, "error": "no worker answered"}
        seen = time.time()
        cache.set(WORKER_SEEN_KEY, seen, timeout=settings.READYZ_WORKER_MAX_AGE_SECONDS)
    return {"ok": True, "age_s": round(now - seen, 1) if now > seen else 0.0}


def queue_check() -> dict[str, object]:
    """The broker queues' lengths (``depth``: ``{queue: messages}``); informative, ok while the broker answers."""
    return {"ok": True, "depth": broker_queue_depths()}
