"""The published OpenAPI schema: valid, warning-free, and documenting the one error shape on every operation."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from config.openapi import ERROR_RESPONSES

pytestmark = pytest.mark.django_db


def test_the_schema_is_valid_openapi_without_warnings():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    assert '"openapi": "3.0.3"' in out.getvalue()


def test_every_operation_documents_the_error_shape(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "code"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert set(ERROR_RESPONSES) <= set(operation["responses"]), (method, path)
    upload = schema["paths"]["/api/v1/documents/"]["post"]["responses"]
    assert upload["413"]["content"] and upload["415"]["content"]
    assert "409" not in schema["paths"]["/api/v1/search/"]["post"]["responses"]


def test_a_real_error_response_matches_it(alice, api_client_for):
    """``api_client_for`` validates every response against the schema: a 404 and a 400 pass through it."""
    client = api_client_for(alice)
    missing = client.get("/api/v1/documents/999999/")
    assert missing.status_code == 404 and set(missing.json()) == {"detail", "code"}
    invalid = client.post("/api/v1/search/", {"query": ""}, format="json")
    assert invalid.status_code == 400 and "fields" in invalid.json()
