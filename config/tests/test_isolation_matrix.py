"""The tenant isolation matrix (issue 17): every route of the URLconf, probed from the outside.

Nobody sees a document, chunk, citation, conversation or audit event of a workspace they are not in, through any
page, API, search, admin list, metric label or error message. The world (``config.tests.isolation``): alice owns
"Acme" with bob as a plain member, and it holds a ready document with chunks, a failed one, a conversation with a
cited answer, a pending invitation, audit events and an API token; charlie, the outsider, has his own document and
conversation in his own workspace, and his browser session still names Acme as its workspace (a stale session).

``MATRIX`` (``config.tests.isolation_matrix``) has one row per named route (``api:document_detail``,
``documents:detail``, ...): who may use it (``role``), which client speaks to it, and the probes to send. Each probe
fills the route's parameters with alice's ids (``foreign``), charlie's (``own``), charlie's workspace with alice's
row inside (``mixed``), or ids that exist nowhere (``missing``), and says what must come back:

- charlie's probes (``outsider``): the expected status (404 for alice's objects, 200 for his own lists), none of
  Acme's names, titles, text or addresses in the answer, Acme's rows unchanged after the request, and a probe of
  alice's object answered exactly as one of an object that does not exist (no existence oracle);
- bob's probes (``member``): manager-only actions refused (the API's 403, the pages' error message and redirect,
  the audit pages' 403) with Acme unchanged.

The admin (every ``admin:`` route) refuses a signed-in non-staff user, and allauth's routes hold no tenant data:
both are group rows. A route with no row, in our apps' URLconfs or the API list, fails ``test_every_route_has_a_row``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, include, path
from prometheus_client.parser import text_string_to_metric_families

from accounts.selectors import SESSION_WORKSPACE_KEY
from config.tests.isolation import (
    ALICE_TITLE,
    CHARLIE_TITLE,
    CHARLIE_WORKSPACE,
    SEARCH_WORD,
    Route,
    World,
    routes_of,
    world_build,
    world_state,
)
from config.tests.isolation_matrix import GET, MATRIX, POST, Probe, Row, is_admin, is_allauth, uncovered
from documents.models import Document
from documents.tests.factories import DocumentFactory

pytestmark = pytest.mark.django_db

ROUTES = list(routes_of(get_resolver().url_patterns))
ROUTE_BY_NAME = {route.name: route for route in ROUTES if route.name}


def test_every_route_has_a_row() -> None:
    missing = uncovered(ROUTES)
    assert not missing, f"routes without a row (add one to MATRIX in config/tests/isolation_matrix.py): {missing}"


def test_every_row_names_a_route() -> None:
    assert not set(MATRIX) - set(ROUTE_BY_NAME), "rows of the isolation matrix for routes that no longer exist"


def _new_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called: only its module matters
    raise AssertionError


def test_a_new_route_without_a_row_is_reported() -> None:
    """The completeness check fails for a route added to an app's URLconf, even under allauth's or the admin's
    prefix, as long as the view is ours."""
    new: list[URLPattern | URLResolver] = [
        path("documents/", include(([path("<int:document_id>/share/", _new_view, name="share")], "documents"))),
        path("accounts/export/", _new_view, name="account_export"),
        path("api/v1/", include(([path("citations/<int:citation_id>/", _new_view, name="citation")], "api"))),
        path("admin/stats/", _new_view),
    ]
    routes = list(routes_of([*get_resolver().url_patterns, *new]))
    assert uncovered(routes) == ["documents:share", "account_export", "api:citation", "admin/stats/"]


# --- sending the probes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    flashes: tuple[str, ...]
    text: str  # the body, with the headers that can carry names (Location, Content-Disposition)


def _answer(response: Any) -> Answer:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    headers = " ".join(response.get(name, "") for name in ("Location", "Content-Disposition"))
    flashes = tuple(str(message) for message in get_messages(response.wsgi_request))
    return Answer(response.status_code, response.get("Location", ""), flashes, f"{headers}\n{content.decode()}")


def _send(client: Any, row: Row, route: Route, probe: Probe, world: World, *, ids: str = "") -> Answer:
    values = world.ids(ids or probe.ids)
    url = route.path(values)
    data = probe.data(values) if probe.data else {}
    send = getattr(client, probe.method)
    if row.client == "api" and probe.method != GET:
        response = send(url, data, format="multipart" if probe.multipart else "json", **probe.extra)
    else:
        response = send(url, data, **probe.extra)
    answer = _answer(response)
    client.cookies.pop(CookieStorage.cookie_name, None)  # the flashed messages are read: the next answer's are its own
    return answer


def _client(row: Row, user: Any, world: World, client_for: Any, api_client_for: Any) -> Any:
    """The user's API client, or page client whose session names Acme as its workspace (stale for charlie)."""
    if row.client == "api":
        return api_client_for(user)
    client = client_for(user)
    session = client.session
    session[SESSION_WORKSPACE_KEY] = world.acme.pk
    session.save()
    return client


def _check(answer: Answer, probe: Probe, where: str) -> None:
    expected = probe.expect if isinstance(probe.expect, tuple) else (probe.expect,)
    assert answer.status in expected, f"{where}: {answer.status}, expected {expected}; {answer.text[:300]}"
    assert not probe.flash or any(probe.flash in f for f in answer.flashes), f"{where}: flashed {answer.flashes}"
    assert probe.shows in answer.text, f"{where}: charlie's own {probe.shows!r} is not shown"
    assert not probe.hides or probe.hides not in answer.text, f"{where} shows {probe.hides!r}"


def _without(answer: Answer, ids: list[Any]) -> Answer:
    """The answer with the ids it was asked about taken out (an error message may repeat the request's own ids)."""
    if not ids:
        return answer
    pattern = re.compile("|".join(rf"\b{re.escape(str(value))}\b" for value in ids))
    flashes = tuple(pattern.sub("<id>", flash) for flash in answer.flashes)
    return Answer(answer.status, pattern.sub("<id>", answer.location), flashes, pattern.sub("<id>", answer.text))


TWIN = {"foreign": "missing", "mixed": "own-missing"}  # the same request for a row that does not exist


@pytest.fixture
def world(alice: Any, bob: Any, charlie: Any, workspace: Any, settings: Any) -> World:
    settings.READYZ_WORKER_PING_TIMEOUT_SECONDS = 0.05  # no worker runs here: readyz answers 503 at once
    settings.LLM_PROVIDERS = []  # questions are answered by the extractive answerer, in this process
    return world_build(alice=alice, bob=bob, charlie=charlie, acme=workspace)


@pytest.mark.parametrize("key", [key for key, row in MATRIX.items() if row.outsider])
def test_an_outsider_sees_nothing_of_another_workspace(
    key: str, world: World, client_for: Any, api_client_for: Any
) -> None:
    row, route = MATRIX[key], ROUTE_BY_NAME[key]
    client = _client(row, world.charlie, world, client_for, api_client_for)
    for probe in row.outsider:
        where = f"charlie {probe.method.upper()} {key} ({probe.ids})"
        before = world_state(world)
        answer = _send(client, row, route, probe, world)
        _check(answer, probe, where)
        leaked = [secret for secret in world.secrets if secret in answer.text or secret in str(answer.flashes)]
        assert probe.link_holder or not leaked, f"{where} shows {leaked}"
        assert world_state(world) == before, f"{where} changed alice's workspace"
        if probe.ids in TWIN and not probe.link_holder:
            twin = _send(client, row, route, probe, world, ids=TWIN[probe.ids])
            ids = [*world.ids(probe.ids).values(), *world.ids(TWIN[probe.ids]).values()]
            same = _without(answer, ids) == _without(twin, ids)
            assert same, f"{where} is answered unlike the same request for a row that does not exist"


@pytest.mark.parametrize("key", [key for key, row in MATRIX.items() if row.member])
def test_a_member_is_refused_what_their_role_does_not_allow(
    key: str, world: World, client_for: Any, api_client_for: Any
) -> None:
    row, route = MATRIX[key], ROUTE_BY_NAME[key]
    client = _client(row, world.bob, world, client_for, api_client_for)
    for probe in row.member:
        where = f"bob {probe.method.upper()} {key}"
        before = world_state(world)
        _check(_send(client, row, route, probe, world), probe, where)
        assert world_state(world) == before, f"{where} changed alice's workspace"


OPEN_TO_ANONYMOUS = {"anyone", "holder of the link", "metrics"}


@pytest.mark.parametrize("key", [key for key, row in MATRIX.items() if row.role not in OPEN_TO_ANONYMOUS])
def test_an_anonymous_visitor_is_asked_to_log_in(key: str, world: World, client_for: Any, api_client_for: Any) -> None:
    """Before any lookup: the API answers 401, pages send to the log-in page (and back to the same path)."""
    row, route = MATRIX[key], ROUTE_BY_NAME[key]
    client = api_client_for(None) if row.client == "api" else client_for(None)
    for probe in row.outsider:
        where = f"anonymous {probe.method.upper()} {key}"
        before = world_state(world)
        answer = _send(client, row, route, probe, world)
        if row.client == "api":
            assert answer.status == 401, f"{where}: {answer.status}"
        else:
            assert answer.status == 302 and answer.location.startswith("/accounts/login/"), f"{where}: {answer}"
        assert world_state(world) == before, f"{where} changed alice's workspace"
        ids = list(world.ids(probe.ids).values())  # the log-in page's ``next`` repeats the request's own path
        assert not [secret for secret in world.secrets if secret in _without(answer, ids).text], where


# --- group rows: the admin and allauth; and the metrics' labels -------------------------------------------------


@pytest.fixture
def acme_document(workspace: Any) -> Any:
    """A row of alice's workspace for the admin's object URLs (made without ingestion: these probes read nothing)."""
    return DocumentFactory.create(workspace=workspace, title=ALICE_TITLE)


@pytest.mark.parametrize("route", [pytest.param(route, id=route.key) for route in ROUTES if is_admin(route)])
def test_the_admin_refuses_a_signed_in_user_who_is_not_staff(
    route: Route, charlie: Any, acme_document: Any, client_for: Any
) -> None:
    values = {
        "object_id": acme_document.pk,
        "content_type_id": ContentType.objects.get_for_model(Document).pk,
        "id": acme_document.workspace.memberships.first().user_id,
        "app_label": "documents",
        "url": "documents/document/",
    }
    client = client_for(charlie)
    for method in (GET, POST):
        response = getattr(client, method)(route.path(values), follow=True)
        text = response.content.decode()
        assert response.status_code == 403, f"{method.upper()} {route.key}: {response.status_code}"
        assert ALICE_TITLE not in text and "Acme" not in text


@pytest.mark.parametrize("route", [pytest.param(route, id=route.key) for route in ROUTES if is_allauth(route)])
def test_allauth_pages_hold_no_tenant_data(route: Route, charlie: Any, acme_document: Any, client_for: Any) -> None:
    response = client_for(charlie).get(route.path({"key": "no-such-key", "uidb36": "zz"}), follow=True)
    text = response.content.decode()
    assert response.status_code in (200, 404), f"{route.key}: {response.status_code}"
    leaked = [s for s in (ALICE_TITLE, "Acme", "alice@example.com", "bob@example.com") if s in text]
    assert not leaked, f"{route.key} shows {leaked}"


# Every label the metrics may carry: none names a workspace, a user, a document or a conversation. Ours
# (config.metrics, config.monitoring), then django-prometheus's: the view's URL name, the method, the response's
# template, charset, content type and transport, and the database and cache aliases.
METRIC_LABELS = {"status", "queue", "provider", "stage", "outcome", "mode", "fallback", "kind", "reason", "le"}
METRIC_LABELS |= {"view", "method", "templatename", "charset", "type", "transport", "alias", "vendor", "backend"}


def test_metrics_carry_no_workspace_in_their_labels(
    world: World, client_for: Any, api_client_for: Any, settings: Any
) -> None:
    """A scrape after the world's ingestion and a search by charlie: no label outside ``METRIC_LABELS``, and no
    workspace's id, name or title among the label values."""
    settings.METRICS_TOKEN = "scrape-secret"
    assert (
        api_client_for(world.charlie).post("/api/v1/search/", {"query": SEARCH_WORD}, format="json").status_code == 200
    )
    response = client_for(None).get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    text = response.content.decode()
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    assert {"groundwork_documents", "groundwork_search_seconds_count"} <= {sample.name for sample in samples}
    assert {name for sample in samples for name in sample.labels} <= METRIC_LABELS
    values = {value for sample in samples for name, value in sample.labels.items() if name != "le"}
    ids = {str(pk) for pk in (world.acme.pk, world.charlie_space.pk, world.document.pk, world.charlie_document.pk)}
    assert not values & ids
    assert not [secret for secret in (*world.secrets, CHARLIE_WORKSPACE, CHARLIE_TITLE) if secret in text]


def test_stored_files_are_served_only_by_the_download_api(world: World, client_for: Any) -> None:
    """The uploaded file of alice's document is not reachable under the media or static URLs, whoever asks."""
    version = world.document.current_version
    assert version is not None and version.file.name
    for prefix in (django_settings.MEDIA_URL, django_settings.STATIC_URL):
        for user in (world.charlie, world.alice, None):
            assert client_for(user).get(f"{prefix}{version.file.name}").status_code == 404
