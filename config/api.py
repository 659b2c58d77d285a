"""API plumbing: the one error shape of every API response.

Every error body is ``{"detail": str, "code": str}``, plus ``"fields": {name: [str, ...]}`` for validation
errors. ``detail`` keeps DRF's key so DRF-aware clients read it as usual.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ApplicationError

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "The service is briefly unavailable (its database is not answering). Please try again shortly."
DATABASE_RETRY_AFTER_S = 5


class ServiceUnavailable(exceptions.APIException):
    """503: a service the API needs (the database) is not answering; the same request may work in a moment."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"


# SQLSTATEs of a database that is not there: connection exceptions (class 08), an administrator or crash shutdown
# (57P01-57P03) and too many connections (53300). Other OperationalErrors (a statement or lock timeout, a
# deadlock, a full disk, a program limit) are bugs or load to see as 500s, not outages to retry.
UNREACHABLE_SQLSTATES = ("57P01", "57P02", "57P03", "53300")


def database_unreachable(exc: Exception) -> bool:
    """Whether ``exc`` says the database cannot be reached now (``InterfaceError``, or an ``OperationalError``
    whose psycopg cause has no SQLSTATE, a client-side connection failure, or one of a missing server)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in UNREACHABLE_SQLSTATES


def _first_message(data: Any) -> str:
    if isinstance(data, dict):
        for value in data.values():
            return _first_message(value)
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: map Django and domain errors to DRF ones, then reshape the body. The database
    not answering (``OperationalError``, ``InterfaceError``: a restart, a lost connection) is 503 with
    ``Retry-After``, not a bare 500.

    Returns None for unexpected exceptions, so Django answers 500 and logs them.
    """
    headers: dict[str, str] = {}
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif database_unreachable(exc):  # the database is restarting or unreachable
        logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
        exc = ServiceUnavailable(DATABASE_UNAVAILABLE)
    elif isinstance(exc, ApplicationError):
        headers = exc.headers
        api_exc = exceptions.APIException(exc.message, code=exc.code)
        api_exc.status_code = exc.status_code
        exc = api_exc

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    for name, value in headers.items():
        response[name] = value

    if isinstance(exc, exceptions.ValidationError):
        fields = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {"detail": _first_message(fields), "code": "invalid", "fields": fields}
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        response.data = {
            "detail": str(response.data.get("detail", "")) if isinstance(response.data, dict) else str(exc),
            "code": codes if isinstance(codes, str) else "error",
        }
    if response.status_code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
        logger.error("API error %s: %s", response.status_code, response.data["detail"])
    return response


# --- errors raised before a view runs (no URL matched, a suspicious request, a crash outside DRF) -------------
# Django answers those with its HTML error pages; under /api/ they get the same error shape as DRF's.
API_PATH_PREFIX = "/api/"


def _api_error(request: HttpRequest, status_code: int, code: str, detail: str) -> HttpResponse | None:
    if not request.path.startswith(API_PATH_PREFIX):
        return None
    return JsonResponse({"detail": detail, "code": code}, status=status_code)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler400``: e.g. too many form fields or a malformed multipart body (``SuspiciousOperation``)."""
    api = _api_error(request, 400, "bad_request", "The request could not be read.")
    return api or defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler403``."""
    api = _api_error(request, 403, "permission_denied", "You do not have permission to perform this action.")
    return api or defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: under /api/, also a URL no route matches (e.g. ``/api/v1/documents/-1/``)."""
    api = _api_error(request, 404, "not_found", "Not found.")
    return api or defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500`` (the exception is logged by Django before this runs)."""
    api = _api_error(request, 500, "error", "An unexpected error occurred.")
    return api or defaults.server_error(request)
