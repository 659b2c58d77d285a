"""The request-logging middleware: django-structlog's ``RequestMiddleware`` with Groundwork's trust rules.

Each request gets a ``request_id`` (a new UUID, or the client's ``X-Request-ID`` when it came through a trusted
proxy: ``TRUSTED_PROXY_COUNT > 0``), returned as the ``X-Request-ID`` response header and bound to every log line
of the request and of the Celery tasks it sends (``config.logs``); the audit trail records the same id. The client
address (:func:`client_ip`, also the audit trail's) is the one the trusted proxies give, as for the login limits
and throttles, and the logged path has no query string (it may carry tokens).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any

import structlog
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django_structlog import signals
from django_structlog.middlewares import RequestMiddleware

from config.logs import path_redact

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 64  # a UUID, nginx's $request_id or a load balancer's trace id fit; the audit trail keeps it
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:@/+=-]{{1,{REQUEST_ID_MAX_LENGTH}}}")


def request_id_for(request: HttpRequest) -> str:
    """The request's id: its ``X-Request-ID`` if a trusted proxy passed it on (``TRUSTED_PROXY_COUNT > 0``) and it
    is 1–64 (``REQUEST_ID_MAX_LENGTH``) safe characters (letters, digits, ``._:@/+=-``), else a new UUID4 string."""
    upstream = request.headers.get(REQUEST_ID_HEADER, "")
    if settings.TRUSTED_PROXY_COUNT > 0 and _REQUEST_ID.fullmatch(upstream):
        return upstream
    return str(uuid.uuid4())


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address: ``REMOTE_ADDR``, or with ``TRUSTED_PROXY_COUNT = n > 0`` the n-th address from the
    right of ``X-Forwarded-For`` (the one the outermost trusted proxy saw), ``REMOTE_ADDR`` if there are fewer (the
    request did not come through the proxies); None if that is not a valid IPv4 or IPv6 address.

    The one resolution of the client address: the log lines' ``ip``, the audit trail's, and allauth's (login limits,
    through ``accounts.adapters.AccountAdapter.get_client_ip``)."""
    count = settings.TRUSTED_PROXY_COUNT
    address = str(request.META.get("REMOTE_ADDR", ""))
    if count > 0:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        address = forwarded[-count] if len(forwarded) >= count else address
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


@receiver(signals.bind_extra_request_metadata)
def _bind_request(sender: object, request: HttpRequest, log_kwargs: dict[str, Any], **kwargs: object) -> None:
    """Before ``request_started`` is logged: the trusted request id and client address."""
    structlog.contextvars.bind_contextvars(request_id=request_id_for(request), ip=client_ip(request))


class RequestLogMiddleware(RequestMiddleware):
    """django-structlog's middleware (``request_started`` / ``request_finished`` / ``request_failed`` lines with
    the request's context), plus the ``X-Request-ID`` response header; first in ``MIDDLEWARE``."""

    @staticmethod
    def format_request(request: HttpRequest) -> str:
        """``METHOD /path``, without the query string, a token or key in the path replaced by ``[redacted]``."""
        return f"{request.method} {path_redact(request.path)}"

    def handle_response(self, request: HttpRequest, response: HttpResponse) -> None:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id:
            response[REQUEST_ID_HEADER] = request_id
        super().handle_response(request, response)
