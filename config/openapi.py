"""The OpenAPI schema's error responses: every operation documents the one error shape of ``config.api``.

drf-spectacular documents only the success responses a view declares; errors come from the exception handler for
every view alike, so a post-processing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``) adds them once.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every API error: a message, a stable code, and the invalid fields for validation errors.",
    "properties": {
        "detail": {"type": "string", "description": "A message safe to show to the user."},
        "code": {"type": "string", "description": "A stable machine-readable slug, e.g. invalid, not_found."},
        "fields": {
            "type": "object",
            "additionalProperties": True,
            "description": "Validation errors only: {field: [message, ...]} (nested for nested input).",
        },
    },
    "required": ["detail", "code"],
}
# Status → when it happens. Every operation gets the common ones; the others only where they can happen: a view
# declares them (``responses={409: None}``) and uploads (multipart bodies) get 413 and 415.
ERROR_RESPONSES = {
    "400": "Invalid input (validation errors list the fields).",
    "401": "Not authenticated.",
    "403": "Authenticated, but the role does not allow this (or the CSRF check failed).",
    "404": "No such object, or one of a workspace the caller is not in.",
    "429": "A rate limit or daily quota was reached (see Retry-After).",
    "500": "An unexpected error (logged).",
}
DECLARED_ERROR_RESPONSES = {
    "409": "The request conflicts with existing state (e.g. the same bytes are already a version).",
    "413": "The upload or a field is over its size limit.",
    "415": "The uploaded file's type is not supported (decided by its content).",
}
UPLOAD_ERRORS = ("413", "415")


def _error_codes(operation: dict[str, Any]) -> list[str]:
    declared = [code for code in DECLARED_ERROR_RESPONSES if code in operation.get("responses", {})]
    uploads = "multipart/form-data" in operation.get("requestBody", {}).get("content", {})
    return [*ERROR_RESPONSES, *declared, *(UPLOAD_ERRORS if uploads else ())]


def add_error_responses(result: dict[str, Any], generator: object, request: object, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the ``Error`` component, and its responses on every operation
    (``ERROR_RESPONSES``, plus the ``DECLARED_ERROR_RESPONSES`` that apply)."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    descriptions = ERROR_RESPONSES | DECLARED_ERROR_RESPONSES
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code in _error_codes(operation):
                responses[code] = {"description": descriptions[code], "content": content}
    return result


def paginated(name: str, results: serializers.BaseSerializer) -> serializers.Serializer:
    """The schema of one page of DRF's ``PageNumberPagination``: ``{count, next, previous, results}``, named
    ``name`` in the components (``results`` is a ``many=True`` serializer)."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(help_text="Items in all pages."),
            "next": serializers.URLField(allow_null=True, help_text="The next page, or null on the last."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null on the first."),
            "results": results,
        },
    )
