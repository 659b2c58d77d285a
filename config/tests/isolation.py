"""Helpers of the tenant isolation matrix (``test_isolation_matrix``): the URLconf's routes, the world of alice's
workspace that charlie (an outsider) and bob (a plain member) probe, and what "unchanged" means for it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver

from accounts.models import ApiTokenScope, AuditEvent, Invitation, Membership, User, Workspace
from accounts.selectors import workspace_get_personal
from accounts.services.api_tokens import api_token_create
from accounts.services.audit import audit_record
from accounts.services.invitations import invitation_create
from chat.models import Citation, Conversation, Feedback, Message
from documents.models import Chunk, Document
from retrieval.tests.factories import ingest_text

# Words only alice's workspace holds: none may reach charlie through any page, API, search, admin or metric.
ALICE_TITLE = "Zanzibar treaty memo"
ALICE_TEXT = (
    "The Zanzibar treaty memo says every quokka census is sealed. Quokka counts stay inside the archive "
    "of the Marmalade office, and the seal is renewed each spring."
)
ALICE_CONVERSATION = "Hush-hush Zanzibar planning"
ALICE_ANSWER = "The census is sealed by the Marmalade office [1]."
INVITEE = "dave.invitee@example.com"
# Charlie's own rows, so that his lists have something to show (and the test sees his lists work at all).
CHARLIE_TITLE = "Kilimanjaro field notes"
CHARLIE_TEXT = "Kilimanjaro field notes: a quokka was seen near the camp. The quokka census there is public."
CHARLIE_CONVERSATION = "Kilimanjaro questions"
CHARLIE_WORKSPACE = "Kilimanjaro camp"
SEARCH_WORD = "quokka"  # in both workspaces' text: a search by charlie finds his chunk, never alice's


@dataclass(frozen=True)
class Route:
    """One leaf of the URLconf: its full route (``api/v1/documents/<int:document_id>/``), its name with the
    namespaces (``api:document_detail``; None when unnamed) and the module of its view."""

    route: str
    name: str | None
    module: str

    @property
    def key(self) -> str:
        return self.name or self.route

    def path(self, values: dict[str, object]) -> str:
        """The request path, each parameter (path converter or regex group) filled from ``values``."""
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), self.route)
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), path)
        return "/" + path.replace("^", "").replace("$", "")


def routes_of(
    patterns: Sequence[URLPattern | URLResolver], prefix: str = "", namespaces: tuple[str, ...] = ()
) -> Iterator[Route]:
    """Every leaf route under ``patterns``, recursively through includes (``get_resolver().url_patterns``)."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespaces + ((pattern.namespace,) if pattern.namespace else ())
            yield from routes_of(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        else:
            name = ":".join((*namespaces, pattern.name)) if pattern.name else None
            yield Route(prefix + str(pattern.pattern), name, getattr(pattern.callback, "__module__", ""))


MISSING_KEYS = ["workspace_id", "document_id", "conversation_id", "message_id", "citation_id", "membership_id"]
MISSING_KEYS += ["invitation_id"]


@dataclass
class World:
    """Alice's workspace "Acme" (alice owner, bob member) with one row of every kind, and charlie's own."""

    alice: User
    bob: User
    charlie: User
    acme: Workspace
    charlie_space: Workspace
    document: Document
    failed: Document
    chunk: Chunk
    conversation: Conversation
    answer: Message
    citation: Citation
    invitation: Invitation
    invitation_token: str
    alice_membership: Membership
    token_key: str
    charlie_document: Document
    charlie_conversation: Conversation

    def ids(self, whose: str) -> dict[str, object]:
        """URL parameters: ``foreign`` (alice's rows), ``own`` (charlie's), ``mixed`` (charlie's workspace, alice's
        row inside it: a member or invitation id of another workspace) or ``missing`` (ids of no row at all)."""
        if whose == "none":
            return {}
        missing: dict[str, object] = dict.fromkeys(MISSING_KEYS, 2_000_000_000)
        missing |= {"token": "no-such-link", "token_key": "nosuchkey"}
        if whose in ("missing", "own-missing"):
            return missing | ({"workspace_id": self.charlie_space.pk} if whose == "own-missing" else {})
        alice = {
            "workspace_id": self.acme.pk,
            "document_id": self.document.pk,
            "conversation_id": self.conversation.pk,
            "message_id": self.answer.pk,
            "citation_id": self.citation.pk,
            "membership_id": self.alice_membership.pk,
            "invitation_id": self.invitation.pk,
            "token": self.invitation_token,
            "token_key": self.token_key,
        }
        if whose == "foreign":
            return alice
        charlie_membership = Membership.objects.get(user=self.charlie, workspace=self.charlie_space)
        own: dict[str, object] = {
            "workspace_id": self.charlie_space.pk,
            "document_id": self.charlie_document.pk,
            "conversation_id": self.charlie_conversation.pk,
            "membership_id": charlie_membership.pk,
        }
        if whose == "own":
            return own
        assert whose == "mixed", whose
        return alice | {"workspace_id": self.charlie_space.pk}

    @property
    def secrets(self) -> list[str]:
        """Strings of alice's workspace that no answer to charlie may hold."""
        return [
            ALICE_TITLE,
            "Zanzibar",
            "Marmalade",
            ALICE_CONVERSATION,
            self.acme.name,
            INVITEE,
            self.token_key,
            self.alice.email,
            self.bob.email,
            f"/workspaces/{self.acme.pk}/",
            f"/documents/{self.document.pk}/",
            f"/chat/{self.conversation.pk}/",
            f"/chat/citations/{self.citation.pk}/",
        ]


def world_build(*, alice: User, bob: User, charlie: User, acme: Workspace) -> World:
    """Alice's rows in ``acme``: a ready document with chunks (through the real upload and ingestion), a failed one,
    a conversation with an answer citing a chunk, a pending invitation, audit events and an API token; charlie's own
    ready document and conversation in his personal workspace."""
    document = ingest_text(acme, ALICE_TEXT, title=ALICE_TITLE)
    Document.objects.filter(pk=document.pk).update(uploaded_by=alice)
    document.refresh_from_db()
    failed = Document.objects.create(workspace=acme, title=f"{ALICE_TITLE} (scan)", uploaded_by=alice)
    Document.objects.filter(pk=failed.pk).update(status=Document.Status.FAILED, error="unreadable")
    chunk = Chunk.objects.filter(document=document).order_by("ordinal").first()
    assert chunk is not None
    conversation = Conversation.objects.create(workspace=acme, user=alice, title=ALICE_CONVERSATION)
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="Who seals the census?")
    answer = Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, content=ALICE_ANSWER)
    citation = Citation.objects.create(
        message=answer,
        marker=1,
        chunk=chunk,
        document=document,
        version=document.current_version,
        document_title=document.title,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        quote=chunk.text,
        support=1.0,
    )
    alice_membership = Membership.objects.get(user=alice, workspace=acme)
    invitation, invitation_token = invitation_create(actor=alice_membership, email=INVITEE)
    audit_record(event=AuditEvent.Event.DOCUMENT_UPLOADED, actor=alice, workspace_id=acme.pk, target=document)
    token, _ = api_token_create(user=alice)
    charlie_space = workspace_get_personal(user=charlie)
    charlie_space.name = CHARLIE_WORKSPACE
    charlie_space.save(update_fields=["name"])
    charlie_document = ingest_text(charlie_space, CHARLIE_TEXT, title=CHARLIE_TITLE)
    charlie_conversation = Conversation.objects.create(
        workspace=charlie_space, user=charlie, title=CHARLIE_CONVERSATION
    )
    return World(
        alice=alice,
        bob=bob,
        charlie=charlie,
        acme=acme,
        charlie_space=charlie_space,
        document=document,
        failed=failed,
        chunk=chunk,
        conversation=conversation,
        answer=answer,
        citation=citation,
        invitation=invitation,
        invitation_token=invitation_token,
        alice_membership=alice_membership,
        token_key=token.token_key,
        charlie_document=charlie_document,
        charlie_conversation=charlie_conversation,
    )


def world_state(world: World) -> dict[str, Any]:
    """What no refused request may change in alice's workspace, read afresh from the database."""
    acme = Workspace.objects.get(pk=world.acme.pk)
    documents = Document.objects.filter(workspace=acme).order_by("pk")
    conversations = Conversation.objects.filter(workspace=acme)
    return {
        "workspace": acme.name,
        "members": sorted(Membership.objects.filter(workspace=acme).values_list("user_id", "role")),
        "invitations": sorted(
            Invitation.objects.filter(workspace=acme, accepted_at__isnull=True).values_list("pk", flat=True)
        ),
        "documents": list(documents.values_list("pk", "title", "status", "current_version_id", "pending_version_id")),
        "chunks": Chunk.objects.filter(document__workspace=acme).count(),
        "conversations": list(conversations.order_by("pk").values_list("pk", "user_id", "title")),
        "scoped_to_alice": Conversation.objects.filter(documents__workspace=acme).exclude(workspace=acme).count(),
        "messages": Message.objects.filter(conversation__workspace=acme).count(),
        "citations": Citation.objects.filter(message__conversation__workspace=acme).count(),
        "feedback": Feedback.objects.filter(message__conversation__workspace=acme).count(),
        "tokens": ApiTokenScope.objects.filter(workspace=acme).count(),
        "alice_tokens": _token_keys(world.alice),
        "audit": AuditEvent.objects.filter(workspace_id=acme.pk).count(),
    }


def _token_keys(user: User) -> list[str]:
    from knox.models import get_token_model

    return sorted(get_token_model().objects.filter(user=user).values_list("token_key", flat=True))
