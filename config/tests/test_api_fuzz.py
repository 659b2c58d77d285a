"""API fuzzing: schemathesis generates requests for every operation of ``/api/schema/`` (issue 17, part 3).

Each operation is called in this process through the WSGI application, authenticated with a real bearer token of
a user who owns a workspace holding a ready document, a conversation with an answer and an API token, so that
generated ids sometimes name real rows (``flatmap_path_parameters``). Every response must: not be a server error,
have a documented status and media type, match its documented schema, and, for every 4xx, have the one error shape
of ``config.api`` (``{"detail", "code"[, "fields"]}``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts.permissions import workspace_get_for_request
from accounts.services.api_tokens import api_token_create
from accounts.tests.factories import UserFactory
from chat.tests.factories import ask
from retrieval.tests.factories import ingest_text

# Requests per operation: bounded so that the suite stays fast (``make test`` in CI), still > 1,000 in all.
MAX_EXAMPLES = 60
AUTH: dict[str, str] = {}  # the fuzzing user's bearer token header
REAL_IDS: dict[str, int] = {}  # path parameter name → an id of the fuzzing user's rows (set by the fixture)
# Negative data need not be refused: DRF reads an empty query value as an absent parameter and a number as the
# string it spells, by design; those cases still run for the other checks (no 500, documented status and shape).
CHECKS = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {"enabled": False},
            "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "429"]},
        }
    }
)


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy:
    """Half of the generated path ids are replaced by real ones, so the operations reach their objects."""
    if not path_parameters:
        return st.just(path_parameters)
    real = {name: REAL_IDS.get(name, value) for name, value in path_parameters.items()}
    return st.sampled_from([path_parameters, real])


def served_schema() -> Any:
    """``/api/schema/`` as the view serves it (the same generator and hooks), called through the WSGI app."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    from config.wsgi import application

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document, config=CHECKS)
    loaded.app = application
    return loaded


schema = served_schema()


@pytest.fixture
def fuzzing_user(db: None, api_client_for: Any) -> Iterator[None]:
    """A workspace owner with a ready document, an answered conversation and a bearer token (``AUTH``); the rows'
    ids feed ``REAL_IDS``. As in Django's test client, requests do not close the test's database connection (it
    holds the test's transaction)."""
    user = UserFactory.create(email="fuzzer@example.com")
    workspace = workspace_get_for_request(user=user, workspace_id=None)  # the one calls without "workspace" use
    document = ingest_text(workspace, "Yeast makes bread rise. " * 20, title="Bread")
    client = api_client_for(user)
    conversation = client.post("/api/v1/conversations/", {"workspace": workspace.pk}, format="json").json()
    answered = ask(client, conversation["id"], "What makes bread rise?").json()
    REAL_IDS.update(
        workspace_id=workspace.pk,
        document_id=document.pk,
        conversation_id=conversation["id"],
        message_id=answered["id"],
    )
    _, secret = api_token_create(user=user)
    AUTH["Authorization"] = f"Bearer {secret}"
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx answer is the project's one error shape, with a message and a code."""
    if 400 <= response.status_code < 500:
        media = response.headers.get("content-type", [""])[0]
        assert media.startswith("application/json"), f"{response.status_code} as {media!r}: {response.text[:200]}"
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"], body
        assert isinstance(body.get("code"), str) and body["code"], body
        assert set(body) <= {"detail", "code", "fields"}, body
    return None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented(case: Any, fuzzing_user: None) -> None:
    """No 500; documented status, media type and body; the error shape. An upload's bytes decide whether it is
    taken (empty: 400, type: 415, size: 413), so schema-valid uploads may be refused."""
    if case.meta.generation.mode.is_positive and isinstance(case.body, dict) and case.body.get("document_ids"):
        case.body["document_ids"] = [REAL_IDS["document_id"]]  # ids the workspace does not hold: 400, by design
    upload = case.media_type == "multipart/form-data"
    excluded = [positive_data_acceptance] if upload else []
    case.call_and_validate(headers=AUTH, additional_checks=[error_shape], excluded_checks=excluded)
