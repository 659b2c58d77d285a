"""The rows of the tenant isolation matrix (``test_isolation_matrix``): one per named route of the URLconf, plus the
group rows of the admin and allauth. A new route needs its row here, else ``test_every_route_has_a_row`` fails.

A row says who may use the route (``role``), which client speaks to it (``page`` or ``api``) and the probes that
charlie, the outsider, and bob, a plain member of alice's workspace, send to it. A probe fills the route's
parameters (and the ids in its body or query, through ``data``) with alice's ids (``foreign``), charlie's
(``own``), charlie's workspace with alice's row inside (``mixed``), or none (``none``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.tests.factories import PASSWORD
from config.tests.isolation import (
    ALICE_CONVERSATION,
    ALICE_TEXT,
    CHARLIE_CONVERSATION,
    CHARLIE_TITLE,
    CHARLIE_WORKSPACE,
    INVITEE,
    SEARCH_WORD,
    Route,
)

Ids = dict[str, Any]
Data = Callable[[Ids], dict[str, Any]]
EDITOR_ONLY = "Only the uploader or a workspace owner or admin can change this document."
MANAGER_ONLY = "Only workspace owners and admins can do that."


@dataclass(frozen=True)
class Probe:
    """One request: ``method``, whose ids fill the URL, the body or query (``data``), the status it must get, the
    error message the page must flash (``flash``), text of the caller's own rows the answer must show (``shows``:
    proves a list that omits alice's rows still lists something) and text it must not show (``hides``: for bob,
    alice's private conversation; charlie's answers must show none of Acme's anyway)."""

    method: str
    ids: str = "foreign"
    data: Data | None = None
    expect: int | tuple[int, ...] = 404
    flash: str = ""
    shows: str = ""
    hides: str = ""
    multipart: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    link_holder: bool = False  # an invitation link is the credential: its holder sees the workspace it invites to


@dataclass(frozen=True)
class Row:
    """A route's line: its kind (object, list, action, public, monitor), who may use it (anyone, authenticated,
    member, editor, manager, staff, metrics), its client (``page`` or ``api``) and the probes of charlie
    (``outsider``) and bob (``member``)."""

    kind: str
    role: str
    client: str
    outsider: tuple[Probe, ...]
    member: tuple[Probe, ...] = ()


def _file(_: Ids | None = None, content: bytes = b"Plain notes about nothing in particular.") -> dict[str, Any]:
    return {"file": SimpleUploadedFile("notes.txt", content, "text/plain")}


def _alice_bytes(_: Ids) -> dict[str, Any]:
    """A file of exactly the bytes of alice's document: deduplication must not reach across workspaces."""
    return _file(content=ALICE_TEXT.encode())


def _same(**values: Any) -> Data:
    return lambda ids: dict(values)


def _workspace(key: str = "workspace", **more: Any) -> Data:
    return lambda ids: {key: ids["workspace_id"], **more}


def _workspace_file(ids: Ids) -> dict[str, Any]:
    return {"workspace": ids["workspace_id"], **_file()}


def _documents(**more: Any) -> Data:
    return lambda ids: {"document_ids": [ids["document_id"]], **more}


GET, POST, DELETE, PATCH = "get", "post", "delete", "patch"
QUESTION = "Who keeps the quokka census sealed, and where is it kept?"
OWN_DOC = Probe(GET, "own", expect=200, shows=CHARLIE_TITLE)
OWN_SPACE = Probe(GET, "own", expect=200, shows=CHARLIE_WORKSPACE)

MATRIX: dict[str, Row] = {
    # --- anyone: probes and the API's description, no tenant data
    "healthz": Row("public", "anyone", "page", (Probe(GET, "none", expect=200),)),
    "readyz": Row("public", "anyone", "page", (Probe(GET, "none", expect=(200, 503)),)),
    "schema": Row("public", "anyone", "page", (Probe(GET, "none", expect=200),)),
    "api_docs": Row("public", "anyone", "page", (Probe(GET, "none", expect=200),)),
    "metrics": Row(
        "monitor", "metrics", "page", (Probe(GET, "none", expect=403, extra={"REMOTE_ADDR": "203.0.113.9"}),)
    ),
    "home": Row("list", "authenticated", "page", (Probe(GET, "none", expect=302),)),
    # --- the API
    "api:me": Row("list", "authenticated", "api", (Probe(GET, "none", expect=200, shows=CHARLIE_WORKSPACE),)),
    "api:auth_token": Row(
        "action",
        "anyone",
        "api",
        (Probe(POST, data=_workspace(email="charlie@example.com", password=PASSWORD), expect=400),),
    ),
    "api:workspace_list": Row(
        "list", "authenticated", "api", (Probe(GET, "none", expect=200, shows=CHARLIE_WORKSPACE),)
    ),
    "api:workspace_detail": Row("object", "member", "api", (Probe(GET), OWN_SPACE)),
    "api:document_list": Row(
        "list",
        "member",
        "api",
        (
            Probe(GET, "none", expect=200, shows=CHARLIE_TITLE),
            Probe(GET, data=_workspace()),
            Probe(POST, data=_workspace_file, multipart=True),
            Probe(POST, "none", _alice_bytes, expect=201, multipart=True),
        ),
    ),
    "api:document_batch_upload": Row(
        "action",
        "member",
        "api",
        (
            Probe(POST, data=_workspace_file, multipart=True),
            Probe(POST, "none", _alice_bytes, expect=200, multipart=True),
        ),
    ),
    "api:document_retry_failed": Row(
        "action", "editor", "api", (Probe(POST, data=_workspace()),), (Probe(POST, data=_workspace(), expect=200),)
    ),
    "api:document_detail": Row(
        "object", "member", "api", (Probe(GET), Probe(DELETE), OWN_DOC), (Probe(DELETE, expect=403),)
    ),
    "api:document_reprocess": Row("object", "editor", "api", (Probe(POST),), (Probe(POST, expect=403),)),
    "api:document_version_create": Row(
        "object",
        "editor",
        "api",
        (Probe(POST, data=_file, multipart=True),),
        (Probe(POST, data=_file, multipart=True, expect=403),),
    ),
    "api:document_chunks": Row(
        "object", "member", "api", (Probe(GET), Probe(GET, "own", expect=200, shows="Kilimanjaro"))
    ),
    "api:document_file": Row(
        "object", "member", "api", (Probe(GET), Probe(GET, "own", expect=200, shows="Kilimanjaro"))
    ),
    "api:search": Row(
        "list",
        "member",
        "api",
        (
            Probe(POST, "none", _same(query=SEARCH_WORD), expect=200, shows=CHARLIE_TITLE),
            Probe(POST, "none", _same(query=SEARCH_WORD, mode="vector"), expect=200, shows=CHARLIE_TITLE),
            Probe(POST, "none", _same(query=SEARCH_WORD, mode="bm25"), expect=200, shows=CHARLIE_TITLE),
            Probe(POST, data=_workspace(query=SEARCH_WORD)),
            Probe(POST, data=_documents(query=SEARCH_WORD), expect=400),
        ),
    ),
    "api:conversation_list": Row(
        "list",
        "member",
        "api",
        (
            Probe(GET, "none", expect=200, shows=CHARLIE_CONVERSATION),
            Probe(GET, data=_workspace()),
            Probe(POST, data=_workspace()),
            Probe(POST, data=_documents(), expect=400),
        ),
        (Probe(GET, data=_workspace(), expect=200, hides=ALICE_CONVERSATION),),  # private to alice
    ),
    "api:conversation_detail": Row(
        "object",
        "owner of the conversation",
        "api",
        (
            Probe(GET),
            Probe(PATCH, data=_same(title="mine")),
            Probe(DELETE),
            Probe(GET, "own", expect=200, shows=CHARLIE_CONVERSATION),
        ),
        (Probe(GET), Probe(DELETE)),
    ),
    "api:message_create": Row(
        "object",
        "owner of the conversation",
        "api",
        (
            Probe(POST, data=_same(content=QUESTION)),
            Probe(
                POST, "own", _same(content=QUESTION), expect=201, shows=CHARLIE_TITLE
            ),  # answered from charlie's workspace only
            Probe(POST, "own", _same(content=QUESTION, stream=True), expect=200, shows=CHARLIE_TITLE),
        ),
        (Probe(POST, data=_same(content=QUESTION)),),
    ),
    "api:message_feedback": Row(
        "object",
        "owner of the conversation",
        "api",
        (Probe(POST, data=_same(rating=1)),),
        (Probe(POST, data=_same(rating=1)),),
    ),
    # --- documents pages: the list acts on the session's workspace (charlie's stale session names Acme)
    "documents:index": Row("list", "member", "page", (Probe(GET, "none", expect=200, shows=CHARLIE_TITLE),)),
    "documents:rows": Row("list", "member", "page", (Probe(GET, "none", expect=200, shows=CHARLIE_TITLE),)),
    "documents:upload": Row(
        "action", "member", "page", (Probe(POST, "none", _alice_bytes, expect=302, flash="uploaded"),)
    ),
    "documents:retry_failed": Row(
        "action",
        "editor",
        "page",
        (Probe(POST, "none", expect=302),),
        (Probe(POST, "none", expect=302, flash="0 failed"),),
    ),
    "documents:detail": Row("object", "member", "page", (Probe(GET), OWN_DOC)),
    "documents:status": Row("object", "member", "page", (Probe(GET), Probe(GET, "own", expect=200))),
    "documents:version_upload": Row(
        "object",
        "editor",
        "page",
        (Probe(POST, data=_file),),
        (Probe(POST, data=_file, expect=302, flash=EDITOR_ONLY),),
    ),
    "documents:reprocess": Row(
        "object", "editor", "page", (Probe(POST),), (Probe(POST, expect=302, flash=EDITOR_ONLY),)
    ),
    "documents:delete": Row("object", "editor", "page", (Probe(POST),), (Probe(POST, expect=302, flash=EDITOR_ONLY),)),
    # --- search and chat pages
    "retrieval:search": Row(
        "list",
        "member",
        "page",
        tuple(
            Probe(GET, "none", _same(q=SEARCH_WORD, mode=mode), expect=200, shows=CHARLIE_TITLE)
            for mode in ("hybrid", "vector", "bm25")
        ),
    ),
    "chat:index": Row(
        "list",
        "member",
        "page",
        (Probe(GET, "none", expect=200, shows=CHARLIE_CONVERSATION),),
        (Probe(GET, "none", expect=200, hides=ALICE_CONVERSATION),),
    ),
    "chat:create": Row("action", "member", "page", (Probe(POST, data=_documents(), expect=302),)),
    "chat:usage": Row(
        "list",
        "manager",
        "page",
        (Probe(GET, "none", expect=200, shows=CHARLIE_WORKSPACE),),
        (Probe(GET, "none", expect=302, flash=MANAGER_ONLY),),
    ),
    "chat:citation": Row("object", "owner of the conversation", "page", (Probe(GET),), (Probe(GET),)),
    "chat:detail": Row(
        "object",
        "owner of the conversation",
        "page",
        (Probe(GET), Probe(GET, "own", expect=200, shows=CHARLIE_CONVERSATION)),
        (Probe(GET),),
    ),
    "chat:rename": Row(
        "object",
        "owner of the conversation",
        "page",
        (Probe(POST, data=_same(title="mine")),),
        (Probe(POST, data=_same(title="mine")),),
    ),
    "chat:delete": Row("object", "owner of the conversation", "page", (Probe(POST),), (Probe(POST),)),
    # --- workspaces, members, invitations, audit, the account
    "accounts:workspace_list": Row(
        "list", "authenticated", "page", (Probe(GET, "none", expect=200, shows=CHARLIE_WORKSPACE),)
    ),
    "accounts:workspace_switch": Row("action", "member", "page", (Probe(POST, data=_workspace("workspace_id")),)),
    "accounts:workspace_detail": Row("object", "member", "page", (Probe(GET), OWN_SPACE)),
    "accounts:members": Row(
        "object",
        "member (inviting: manager)",
        "page",
        (Probe(GET), Probe(POST, data=_same(email="eve@example.com", role="member")), OWN_SPACE),
        (
            Probe(GET, expect=200, hides=INVITEE),  # pending invitations are for owners and admins
            Probe(POST, data=_same(email="eve@example.com", role="member"), expect=200, flash=MANAGER_ONLY),
        ),
    ),
    "accounts:audit": Row(
        "object", "manager", "page", (Probe(GET), Probe(GET, "own", expect=200)), (Probe(GET, expect=403),)
    ),
    "accounts:audit_export": Row(
        "object", "manager", "page", (Probe(GET), Probe(GET, "own", expect=200)), (Probe(GET, expect=403),)
    ),
    "accounts:workspace_rename": Row(
        "object",
        "manager",
        "page",
        (Probe(POST, data=_same(name="Taken")),),
        (Probe(POST, data=_same(name="Taken"), expect=302, flash=MANAGER_ONLY),),
    ),
    "accounts:workspace_leave": Row("object", "member", "page", (Probe(POST),)),
    "accounts:member_role": Row(
        "object",
        "manager",
        "page",
        (Probe(POST, data=_same(role="member")), Probe(POST, "mixed", _same(role="member"))),
        (Probe(POST, data=_same(role="member"), expect=302, flash=MANAGER_ONLY),),
    ),
    "accounts:member_remove": Row(
        "object", "manager", "page", (Probe(POST), Probe(POST, "mixed")), (Probe(POST, expect=302, flash=MANAGER_ONLY),)
    ),
    "accounts:invitation_revoke": Row(
        "object",
        "manager",
        "page",
        (Probe(POST), Probe(POST, "mixed", expect=302, flash="No such invitation.")),
        (Probe(POST, expect=302, flash=MANAGER_ONLY),),
    ),
    "accounts:invitation_accept": Row(
        "public",
        "holder of the link",
        "page",
        (Probe(GET, "missing"), Probe(POST, expect=200, flash="sent to", link_holder=True)),
    ),
    "accounts:account": Row(
        "list", "authenticated", "page", (Probe(GET, "none", expect=200, shows="charlie@example.com"),)
    ),
    "accounts:token_create": Row(
        "action",
        "authenticated",
        "page",
        (Probe(POST, data=_workspace(scope="full"), expect=302),),
    ),
    "accounts:token_revoke": Row("object", "authenticated", "page", (Probe(POST, expect=302, flash="No such token."),)),
}


# --- the URLconf against the matrix ------------------------------------------------------------------------------

ADMIN = Row("admin", "staff", "page", ())  # every admin route: a signed-in non-staff user is refused
ALLAUTH = Row("allauth", "anyone", "page", ())  # allauth's account pages: the signed-in user's own account only


def is_admin(route: Route) -> bool:
    """A route of the admin site: named in its namespace (``admin:...``), or Django's unnamed redirects in it."""
    in_namespace = route.name.startswith("admin:") if route.name else route.module.startswith("django.")
    return route.route.startswith("admin/") and in_namespace


def is_allauth(route: Route) -> bool:
    """One of allauth's own views under ``accounts/`` (a view of ours there is not)."""
    return route.route.startswith("accounts/") and route.module.startswith("allauth.")


def row_for(route: Route) -> Row | None:
    if route.name in MATRIX:
        return MATRIX[route.name]
    if is_admin(route):
        return ADMIN
    return ALLAUTH if is_allauth(route) else None


def uncovered(routes: list[Route]) -> list[str]:
    """The routes that have no row: neither in ``MATRIX`` nor in a group row."""
    return [route.key for route in routes if row_for(route) is None]
