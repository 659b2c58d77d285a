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
# declares them (``responses={409: None}``), operations with a body get 415 and uploads (multipart bodies) 413 and
# 507 (the server's disk is full).
ERROR_RESPONSES = {
    "400": "Invalid input (validation errors list the fields).",
    "401": "Not authenticated.",
    "403": "Authenticated, but the role does not allow this (or the CSRF check failed).",
    "404": "No such object, or one of a workspace the caller is not in.",
    "406": "The Accept header names no media type the operation can answer with.",
    "429": "A rate limit or daily quota was reached (see Retry-After).",
    "500": "An unexpected error (logged).",
    "503": "The database is briefly unavailable (e.g. restarting): retry after Retry-After.",
}
DECLARED_ERROR_RESPONSES = {
    "409": "The request conflicts with existing state (e.g. the same bytes are already a version).",
    "413": "The upload or a field is over its size limit.",
    "415": "The body is not JSON (uploads: multipart), or an uploaded file's type is not supported (decided by its"
    " content).",
    "507": "The server's storage is full: nothing of the upload was kept; try again later.",
}


def _error_codes(operation: dict[str, Any]) -> list[str]:
    declared = [code for code in DECLARED_ERROR_RESPONSES if code in operation.get("responses", {})]
    body = operation.get("requestBody", {}).get("content", {})
    return [
        *ERROR_RESPONSES,
        *declared,
        *(["415"] if body else []),
        *(["413", "507"] if "multipart/form-data" in body else []),
    ]


# DRF's CharField refuses NUL characters and trims (``str.strip``), so a string that may not be blank needs a
# character that is not a space to Python, which also counts \x1c-\x1f and \x85 (ECMA-262's \s does not).
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"


def _request_string_patterns(components: dict[str, Any]) -> None:
    for name, component in components.items():
        if not name.endswith("Request"):  # request components (COMPONENT_SPLIT_REQUEST)
            continue
        for field in component.get("properties", {}).values():
            if field.get("type") == "string" and not {"format", "enum", "pattern"} & set(field):
                field["pattern"] = NOT_BLANK if field.get("minLength", 0) >= 1 else NO_NUL


def add_error_responses(result: dict[str, Any], generator: object, request: object, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the ``Error`` component, and its responses on every operation
    (``ERROR_RESPONSES``, plus the ``DECLARED_ERROR_RESPONSES`` that apply); request strings get
    patterns that say what DRF refuses (``NO_NUL``, ``NOT_BLANK``)."""
    _request_string_patterns(result.get("components", {}).get("schemas", {}))
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
