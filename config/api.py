"""API plumbing: the one error shape of every API response.

Every error body is ``{"detail": str, "code": str}``, plus ``"fields": {name: [str, ...]}`` for validation
errors. ``detail`` keeps DRF's key so DRF-aware clients read it as usual.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ApplicationError

logger = logging.getLogger(__name__)


def _first_message(data: Any) -> str:
    if isinstance(data, dict):
        for value in data.values():
            return _first_message(value)
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: map Django and domain errors to DRF ones, then reshape the body.

    Returns None for unexpected exceptions, so Django answers 500 and logs them.
    """
    headers: dict[str, str] = {}
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
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
