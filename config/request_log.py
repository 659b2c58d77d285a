"""The request-logging middleware: django-structlog's ``RequestMiddleware`` with Groundwork's trust rules.

Each request gets a ``request_id`` (a new UUID, or the client's ``X-Request-ID`` when it came through a trusted
proxy: ``TRUSTED_PROXY_COUNT > 0``), returned as the ``X-Request-ID`` response header and bound to every log line
of the request and of the Celery tasks it sends (``config.logs``). The client address is the one the trusted
proxies give, as for the login limits and throttles, and the logged path has no query string (it may carry
tokens).
"""

from __future__ import annotations

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
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id_for(request: HttpRequest) -> str:
    """The request's id: its ``X-Request-ID`` if a trusted proxy passed it on (``TRUSTED_PROXY_COUNT > 0``) and it
    is 1–128 safe characters (letters, digits, ``._:@/+=-``), else a new UUID4 string."""
    upstream = request.headers.get(REQUEST_ID_HEADER, "")
    if settings.TRUSTED_PROXY_COUNT > 0 and _REQUEST_ID.fullmatch(upstream):
        return upstream
    return str(uuid.uuid4())


def client_address(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR``, or with ``TRUSTED_PROXY_COUNT = n > 0`` the n-th address from the
    right of ``X-Forwarded-For`` (the one the outermost trusted proxy saw), ``REMOTE_ADDR`` if there are fewer."""
    count = settings.TRUSTED_PROXY_COUNT
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if part.strip()]
    return forwarded[-count] if len(forwarded) >= count else remote


@receiver(signals.bind_extra_request_metadata)
def _bind_request(sender: object, request: HttpRequest, log_kwargs: dict[str, Any], **kwargs: object) -> None:
    """Before ``request_started`` is logged: the trusted request id and client address."""
    structlog.contextvars.bind_contextvars(request_id=request_id_for(request), ip=client_address(request))


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
