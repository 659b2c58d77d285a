"""The published OpenAPI schema: valid, warning-free, and documenting the one error shape on every operation."""

from __future__ import annotations

import io
import re

import pytest
from django.conf import settings
from django.core.management import call_command

from config.openapi import ERROR_RESPONSES, NOT_BLANK

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


# --- what the API fuzzing (test_api_fuzz.py) found, one regression test each --------------------------------


@pytest.mark.parametrize("path", ["/api/v1/documents/-1/", "/api/v1/nothing-here/", "/api/v2/"])
def test_an_api_url_no_route_matches_answers_the_error_shape(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_page_url_no_route_matches_is_still_an_html_page(client):
    response = client.get("/documents/-1/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_a_request_django_refuses_before_the_view_answers_the_error_shape(alice, client):
    """Too many query fields (``DATA_UPLOAD_MAX_NUMBER_FIELDS``) is a SuspiciousOperation: 400 from handler400."""
    client.force_login(alice)
    response = client.get("/api/v1/me/?" + "&".join(f"f{i}=1" for i in range(1200)))
    assert response.status_code == 400 and response.json()["code"] == "bad_request"


def test_operations_read_json_bodies_only(alice, api_client_for):
    """A form-encoded body was read as a form: a list body became an empty form and was accepted (200)."""
    response = api_client_for(alice).post("/api/v1/documents/retry-failed/", {"document_ids": "1"}, format="multipart")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
    listed = api_client_for(alice).post("/api/v1/documents/retry-failed/", [1, 2], format="json")
    assert listed.status_code == 400


def test_an_error_of_a_streamed_answer_request_is_json(alice, api_client_for):
    response = api_client_for(alice).post(
        "/api/v1/conversations/999999/messages/",
        {"content": "Why?", "stream": True},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    )
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_request_bodies_are_documented_as_sent(client):
    """Uploads send a file part (binary, not a URI); limits the server checks are in the schema."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    assert components["DocumentUploadInputRequest"]["properties"]["file"]["format"] == "binary"
    name = components["WorkspaceCreateInputRequest"]["properties"]["name"]
    assert name["minLength"] == 1 and name["pattern"] == NOT_BLANK
    assert components["SearchInputRequest"]["properties"]["k"]["maximum"] == settings.SEARCH_MAX_K
    status = {p["name"]: p for p in schema["paths"]["/api/v1/documents/"]["get"]["parameters"]}["status"]
    assert status["schema"].get("enum") or "$ref" in status["schema"]
    assert "409" in schema["paths"]["/api/v1/documents/{document_id}/reprocess/"]["post"]["responses"]
    assert "format" not in {
        p["name"] for p in schema["paths"]["/api/v1/conversations/{conversation_id}/messages/"]["post"]["parameters"]
    }


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("a", True), ("  a ", True), ("", False), (" \n\t", False), ("\x1f", False), ("a\x00", False)],
)
def test_the_not_blank_pattern_matches_what_drf_accepts(value, allowed):
    from rest_framework import serializers

    assert bool(re.fullmatch(NOT_BLANK, value)) == allowed
    field = serializers.CharField()
    try:
        field.run_validation(value)
        accepted = True
    except serializers.ValidationError:
        accepted = False
    assert accepted == allowed
