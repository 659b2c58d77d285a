"""The Celery worker's own metrics endpoint: ``http://BIND_HOST:WORKER_METRICS_PORT/metrics`` (0 = off).

``/metrics`` is served by the web processes and adds up the files of *their* ``PROMETHEUS_MULTIPROC_DIR``. A
worker that does not share that folder (its own container, as under compose.yaml, or its own machine) writes
the ingestion series (stages, outcomes, chunks embedded) and its model-load time where no web process reads
them; this endpoint serves them. Enable it only for such workers: where web and worker share the folder,
``/metrics`` already serves the worker's series, and scraping both would count them twice.

It runs in the worker's main process, started once the worker is ready (``config.celery``): a small threaded
WSGI server in a daemon thread, serving prometheus_client's exposition of every file in the worker's folder
(its pool processes write them), under the same access rule as ``/metrics``
(``config.monitoring.metrics_access_allowed``: the ``METRICS_TOKEN`` bearer, or a socket address in
``METRICS_ALLOWED_CIDRS``). The scrape-time readings of ``/metrics`` (documents by status, queue depths,
circuit breakers) are not repeated here: the web targets serve them.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app, multiprocess
from prometheus_client.exposition import ThreadingWSGIServer

from config.monitoring import metrics_access_allowed

logger = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No line per scrape."""


def worker_metrics_app(registry: CollectorRegistry) -> WSGIApplication:
    """The WSGI application: ``registry``'s samples in Prometheus text format, or 403 for a caller the access
    rule refuses (the socket's address decides: no proxy stands in front of a worker)."""
    exposition = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        address, authorization = environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION", "")
        if not metrics_access_allowed(address=address, authorization=authorization):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"Forbidden\n"]
        return exposition(environ, start_response)

    return app


def worker_metrics_serve(*, host: str, port: int, folder: str) -> ThreadingWSGIServer:
    """Serve the samples of every process writing to ``folder`` (``PROMETHEUS_MULTIPROC_DIR``) on
    ``host:port`` (an IPv4 or IPv6 address) from a daemon thread; returns the server (``shutdown()`` stops
    it). Raises ``OSError`` when the address cannot be bound (the port is taken)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = make_server(host, port, worker_metrics_app(registry), Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    logger.info("worker metrics served on %s port %d (/metrics)", host, port)
    return server
