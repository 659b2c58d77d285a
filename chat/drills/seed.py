"""The drill tenant: one verified user with an API token, the workspace ``fault-drills`` holding a few ready
documents (the demo corpus's speeches and a note, ingested in this process), and a fresh empty workspace per run
for the full-disk drill. Everything belongs to ``drills@{DRILL_DOMAIN}``; a second run reuses the user, workspace
and documents."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from knox.models import get_token_model

from accounts.models import Membership, User, Workspace
from accounts.services.api_tokens import api_token_create
from retrieval.evaluation import load_corpus

DRILL_DOMAIN = "drills.groundwork.invalid"
DEMO_FILES = Path(__file__).resolve().parents[2] / "documents" / "demo_corpus" / "files"
NOTE = (
    "The purpose of the drill documents is to give the fault drills something to search and to answer from. "
    "The reservoir maintenance schedule names the spillway inspection in winter and the pump audit in summer. "
    "Every sensor calibration is recorded in the crew report, with the outage budget and the contractor permit."
)


@dataclass(frozen=True)
class DrillTenant:
    user: User
    token: str
    workspace: int  # the traffic's workspace, with ready documents
    disk_workspace: int  # an empty workspace of this run, for the full-disk drill


def _workspace(user: User, name: str) -> Workspace:
    workspace = Workspace.objects.filter(name=name, memberships__user=user).first()
    if workspace is None:
        workspace = Workspace.objects.create(name=name, created_by=user)
        Membership.objects.create(user=user, workspace=workspace, role=Membership.Role.OWNER)
    return workspace


def drill_tenant() -> DrillTenant:
    """Make (or find) the drill user and workspace with its documents; a fresh token and disk workspace."""
    email = f"drills@{DRILL_DOMAIN}"
    user = User.objects.filter(email=email).first() or User.objects.create(email=email, password=make_password(None))
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    workspace = _workspace(user, "fault-drills")
    items = [
        ("drill-gettysburg", "Gettysburg Address", (DEMO_FILES / "gettysburg-address.md").read_text()),
        ("drill-inaugural", "Second Inaugural Address", (DEMO_FILES / "second-inaugural-address.txt").read_text()),
        ("drill-note", "Drill note", NOTE),
    ]
    load_corpus(workspace, items)
    get_token_model().objects.filter(user=user).delete()  # earlier runs' tokens (TOKEN_LIMIT_PER_USER)
    _, token = api_token_create(user=user)
    disk = _workspace(user, f"fault-drills-disk-{time.strftime('%Y%m%d-%H%M%S')}")
    return DrillTenant(user, token, workspace.pk, disk.pk)


def revoke_tokens(tenant: DrillTenant) -> None:
    """Revoke the drill user's tokens (after a run)."""
    get_token_model().objects.filter(user=tenant.user).delete()
