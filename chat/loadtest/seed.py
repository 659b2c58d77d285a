"""Seed the load benchmark's tenants: users, workspaces, documents of real text, API tokens and browser sessions.

Idempotent and resumable: users, workspaces and memberships are found or made, documents already present are
skipped (``retrieval.evaluation.load_corpus`` keeps each item's id in its stored file name), so a second run
only refreshes the tokens and sessions. Everything belongs to users ``load-NNNN@{LOAD_DOMAIN}``; nothing else
in the database is touched.

Workspace 0 ("load-00") is the big one: every SciFact abstract (5,183 documents, ~11,400 chunks), the 48 SQuAD
dev articles, and a second copy of SciFact ("mirror") until it holds ``big_chunks`` chunks. The others hold
``small_documents`` SQuAD articles each.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.module_loading import import_string

from accounts.models import Membership, User, Workspace
from accounts.selectors import SESSION_WORKSPACE_KEY
from accounts.services.api_tokens import api_token_create
from documents.models import Chunk, WorkspaceLimitOverride
from retrieval.evaluation import iter_beir_corpus, load_corpus

LOAD_DOMAIN = "load.groundwork.invalid"
BIG_SHARE = 0.2  # of the users are members of the big workspace; the rest are spread over the others
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Account:
    """What a simulated user needs: credentials for the token endpoint, a bearer token, a session cookie."""

    email: str
    password: str
    token: str
    session: str
    workspace: int
    big: bool


def load_email(index: int) -> str:
    return f"load-{index:04d}@{LOAD_DOMAIN}"


def _users(count: int, password: str) -> list[User]:
    """The load users, all with ``password`` for this run (one hash for all: hashing takes ~0.5 s, PBKDF2)."""
    existing = {u.email: u for u in User.objects.filter(email__endswith=f"@{LOAD_DOMAIN}")}
    hashed = make_password(password)
    User.objects.filter(pk__in=[u.pk for u in existing.values()]).update(password=hashed)
    users = []
    for index in range(count):
        user = existing.get(load_email(index))
        if user is None:  # created one by one: the signals give each its personal workspace
            user = User.objects.create(email=load_email(index), password=hashed)
        users.append(user)
    verified = set(EmailAddress.objects.filter(user__in=users, verified=True).values_list("user_id", flat=True))
    EmailAddress.objects.bulk_create(  # signed up and confirmed, as the token endpoint requires
        EmailAddress(user=u, email=u.email, verified=True, primary=True) for u in users if u.pk not in verified
    )
    return users


def _workspace_of(index: int, users: int, workspaces: int) -> int:
    """Users 0 .. BIG_SHARE·users-1 are in workspace 0; the rest go round the others."""
    big = max(1, int(users * BIG_SHARE))
    return 0 if index < big or workspaces == 1 else 1 + (index - big) % (workspaces - 1)


def _workspaces(users: list[User], count: int) -> list[Workspace]:
    """``load-NN`` workspaces, each owned by its first member (one workspace each: WORKSPACES_PER_USER_MAX)."""
    groups: dict[int, list[User]] = {}
    for index, user in enumerate(users):
        groups.setdefault(_workspace_of(index, len(users), count), []).append(user)
    workspaces = []
    for number in range(count):
        members = groups.get(number, [])
        if not members:
            continue
        name = f"load-{number:02d}"  # one per name among the load users' (another --users keeps it, and its documents)
        workspace = Workspace.objects.filter(name=name, created_by__email__endswith=f"@{LOAD_DOMAIN}").first()
        if workspace is None:
            workspace = Workspace.objects.create(name=name, created_by=members[0])
        with transaction.atomic():
            present = set(Membership.objects.filter(workspace=workspace).values_list("user_id", flat=True))
            Membership.objects.bulk_create(
                Membership(user=u, workspace=workspace, role="owner" if i == 0 and not present else "member")
                for i, u in enumerate(members)
                if u.pk not in present
            )
        workspaces.append(workspace)
    return workspaces


def squad_articles(eval_dir: Path) -> list[tuple[str, str, str]]:
    """``(id, title, text)`` of each SQuAD dev article: its paragraphs (contexts) in order."""
    data = json.loads((eval_dir / "squad-v1.1-dev" / "dev-v1.1.json").read_text())["data"]
    return [
        (f"squad-{i}", article["title"].replace("_", " "), "\n\n".join(p["context"] for p in article["paragraphs"]))
        for i, article in enumerate(data)
    ]


def _scifact(eval_dir: Path, prefix: str, limit: int | None) -> list[tuple[str, str, str]]:
    """SciFact's abstracts; with a ``prefix`` (the mirror copy) each text starts with a line naming the copy, or
    the upload would take it for the same bytes as the first copy (deduplication) and skip it."""
    items = itertools.islice(iter_beir_corpus(eval_dir / "scifact"), limit)
    return [(f"{prefix}{i}", title, f"{prefix}copy.\n\n{text}" if prefix else text) for i, title, text in items]


def _fill_big(
    workspace: Workspace, eval_dir: Path, big_chunks: int, limit: int | None, progress: Progress | None
) -> None:
    # A big tenant's own limits, as staff would set them in the admin (10,414 documents: over the default 10,000).
    WorkspaceLimitOverride.objects.update_or_create(
        workspace=workspace, defaults={"documents_max": 20_000, "chunks_max": max(big_chunks * 2, 50_000)}
    )
    articles = squad_articles(eval_dir)[:limit]
    load_corpus(workspace, [*_scifact(eval_dir, "", limit), *articles], progress=progress)
    if Chunk.objects.filter(document__workspace=workspace).count() < big_chunks:
        load_corpus(workspace, _scifact(eval_dir, "mirror-", limit), progress=progress)


def _fill_small(workspaces: list[Workspace], eval_dir: Path, per: int, progress: Progress | None) -> None:
    articles = squad_articles(eval_dir)
    for number, workspace in enumerate(workspaces):
        chosen = [articles[(number * per + i) % len(articles)] for i in range(per)]
        load_corpus(workspace, chosen)
        if progress:
            progress(number + 1, len(workspaces))


def _session(user: User, workspace: Workspace) -> str:
    """A signed-in browser session of ``user`` working in ``workspace`` (as after logging in and switching)."""
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[SESSION_WORKSPACE_KEY] = workspace.pk
    store.create()
    return str(store.session_key)


def _accounts(users: list[User], workspaces: list[Workspace], password: str) -> list[Account]:
    """Fresh tokens (the load users' earlier ones revoked: ``API_TOKEN_LIMIT_PER_USER``) and sessions."""
    from knox.models import get_token_model

    get_token_model().objects.filter(user__in=users).delete()
    accounts = []
    for index, user in enumerate(users):
        workspace = workspaces[_workspace_of(index, len(users), len(workspaces))]
        _, token = api_token_create(user=user)
        session = _session(user, workspace)
        big = workspace == workspaces[0]
        accounts.append(Account(user.email, password, token, session, workspace.pk, big))
    return accounts


def retire(accounts_file: Path) -> int:
    """After a run: the load users' tokens revoked, the run's sessions deleted, their password unusable, so no
    credential of ``accounts_file`` (then emptied of them) opens anything. Returns the users retired."""
    from knox.models import get_token_model

    if not accounts_file.exists():
        return 0
    accounts = json.loads(accounts_file.read_text())["accounts"]
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    for account in accounts:
        store().delete(account["session"])
    users = User.objects.filter(email__endswith=f"@{LOAD_DOMAIN}")
    get_token_model().objects.filter(user__in=users).delete()
    retired = users.update(password=make_password(None))  # an unusable password
    accounts_file.write_text(json.dumps({"accounts": [], "retired": retired}))
    return retired


def seed(
    *,
    users: int,
    workspaces: int,
    big_chunks: int,
    small_documents: int,
    eval_dir: Path,
    big_documents: int | None = None,
    out: Path,
    progress: Callable[[str], Progress] | None = None,
) -> dict[str, Any]:
    """Make (or complete) the load tenants and write ``out`` (JSON: ``{"accounts": [...], "queries": [...]}``,
    the simulated users' credentials and SciFact's claims as search queries). Returns counts for the report.
    ``big_documents`` limits the items of each collection put in the big workspace (None: all; for tests).

    The credentials hold until ``retire(out)``. Raises FileNotFoundError when ``eval_dir`` lacks ``scifact/`` or
    ``squad-v1.1-dev/``.
    """
    password = secrets.token_urlsafe(18)  # this run's, for the token endpoint; retire() makes it unusable after
    people = _users(users, password)
    spaces = _workspaces(people, workspaces)
    _fill_big(spaces[0], eval_dir, big_chunks, big_documents, progress("big workspace") if progress else None)
    _fill_small(spaces[1:], eval_dir, small_documents, progress("other workspaces") if progress else None)
    accounts = _accounts(people, spaces, password)
    with (eval_dir / "scifact" / "queries.jsonl").open() as f:
        queries = [json.loads(line)["text"] for line in f]
    out.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:  # credentials: owner only
        f.write(json.dumps({"accounts": [asdict(a) for a in accounts], "queries": queries}))
    chunks = {
        w.name: Chunk.objects.filter(document__workspace=w).count() for w in (spaces[0], *spaces[1:2])
    }  # the big one and a typical small one
    return {"users": len(people), "workspaces": len(spaces), "chunks": chunks}
