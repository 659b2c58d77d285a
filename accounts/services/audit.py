"""The audit trail: recording security-relevant events and purging expired ones.

Recording happens in the caller's transaction (the service that makes the change calls ``audit_record`` inside
its ``transaction.atomic``): the change and its record commit together or not at all, so the trail never claims
an action that was rolled back nor misses one that was committed. A failure to record is therefore not
swallowed: it fails the action too (fail closed, the usual choice for a security log).

The request (client address, as on the log lines: ``config.request_log.client_ip``; user agent) is read from
allauth's per-request context (``allauth.core.context.request``, set by ``AccountMiddleware`` for every request), so
services record it without taking the request as an argument; outside a request (Celery tasks, management commands)
those fields stay empty. The request id is the one bound to the log context by ``config.request_log`` (the request's
``X-Request-ID`` response header and log lines; in a Celery task, the id of the request that sent it), so an audit
row can be found in the logs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from django.conf import settings
from django.utils import timezone

from accounts.audit_models import AuditEvent
from config.request_log import client_ip

if TYPE_CHECKING:
    from django.db.models import Model
    from django.http import HttpRequest

    from accounts.models import User

logger = logging.getLogger(__name__)

Event = AuditEvent.Event


def _request_fields(request: HttpRequest | None) -> dict[str, object]:
    from allauth.core import context

    request_id = str(structlog.contextvars.get_contextvars().get("request_id") or "")
    request = request if request is not None else context.request
    if request is None:
        return {"request_id": request_id}
    return {
        "ip": client_ip(request),
        "user_agent": request.headers.get("User-Agent", "")[:300],
        "request_id": request_id,
    }


def _actor_of(request: HttpRequest | None) -> User | None:
    from allauth.core import context

    request = request if request is not None else context.request
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def audit_record(
    *,
    event: str,
    actor: User | None = None,
    actor_email: str = "",
    workspace_id: int | None = None,
    target: Model | None = None,
    target_label: str = "",
    target_ref: tuple[str, str] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event to the audit trail and return it.

    ``event`` is an ``AuditEvent.Event`` value. ``actor``: who did it (default: the signed-in user of the current
    request, else anonymous); ``actor_email`` names an actor without an account (a failed log-in's address).
    ``target``: the object acted on (its model name and pk are kept, with ``target_label`` or ``str(target)``,
    cut to 200 characters, as the label); ``target_ref`` = ``(type, id)`` names a target without loading it
    (an admin log entry's ``app_label.Model`` and object id). ``request``: the request, when the caller has it
    (signal receivers); by default the current one. Runs in the caller's transaction; database errors propagate.
    """
    actor = actor if actor is not None else _actor_of(request)
    label = target_label or (str(target) if target is not None else "")
    if target_ref is None and target is not None:
        target_ref = (target._meta.label, str(target.pk) if target.pk is not None else "")
    target_type, target_id = target_ref or ("", "")
    row = AuditEvent(
        event=event,
        actor_id=actor.pk if actor is not None else None,
        actor_email=(actor.email if actor is not None else actor_email)[:254],
        workspace_id=workspace_id,
        target_type=target_type[:40],
        target_id=str(target_id)[:64],
        target_label=label[:200],
        **_request_fields(request),
    )
    row.save(force_insert=True)
    return row


def audit_purge_expired() -> int:
    """Delete the audit events older than ``AUDIT_RETENTION_DAYS``; returns how many.

    The only deletion the append-only trigger lets through (``pgtrigger.ignore`` on this model's trigger only).
    """
    import pgtrigger

    cutoff = timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    with pgtrigger.ignore("accounts.AuditEvent:audit_append_only"):
        deleted, _ = AuditEvent.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("purged %d audit events older than %s", deleted, cutoff.isoformat())
    return deleted
