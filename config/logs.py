"""Structured logging: the structlog processors ``config.settings.logs`` builds ``LOGGING`` from, and the one
helper app code binds context with.

Every line, whether it comes from ``structlog.get_logger`` or from a plain ``logging.getLogger(__name__)``
call (a "foreign" record, rendered by structlog's ``ProcessorFormatter``), carries ``timestamp``, ``level``,
``logger``, ``event`` and the context keys ``request_id``, ``user_id`` and ``workspace_id`` (``null`` where
unknown). The context lives in structlog's context variables: django-structlog's request middleware
(``config.request_log``) binds the request's, its Celery support carries them in each task's headers into
the worker, and ``log_context_bind`` adds the workspace where a request or task resolves it.

This module imports no Django model or setting: the settings module imports it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, MutableMapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog

EventDict = MutableMapping[str, Any]

CONTEXT_KEYS = ("request_id", "user_id", "workspace_id")

# Keys whose values are never written, whoever passes them (``logger.info("x", password=...)``, a task header,
# a bound context): secrets, and the text users give or get (documents, prompts, answers).
REDACTED_KEYS = frozenset(
    {
        "password",
        "password1",
        "password2",
        "token",
        "api_key",
        "apikey",
        "authorization",
        "secret",
        "cookie",
        "text",
        "content",
        "prompt",
        "question",
        "answer",
        "messages",
    }
)
REDACTED = "[redacted]"
# Paths that carry a secret: invitation tokens, allauth's email-confirmation and password-reset keys.
SECRET_PATH = re.compile(r"(/(?:invitations|confirm-email|reset/key)/)[^/\s?\"']+")


def path_redact(text: str) -> str:
    """``text`` with the token or key in each secret-bearing path (``SECRET_PATH``) replaced by ``[redacted]``."""
    return SECRET_PATH.sub(rf"\1{REDACTED}", text)


def url_redact(url: str) -> str:
    """``url`` as ``scheme://host[:port]/path``, for logs and error messages: without the credentials
    (``user:password@``), query or fragment it may carry."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: left out
        port = None
    return urlunsplit((parts.scheme, f"{host}:{port}" if port else host, parts.path, "", ""))


@contextlib.contextmanager
def logger_level(name: str, level: int) -> Iterator[None]:
    """Set the logger ``name`` to ``level`` (e.g. ``logging.WARNING``) inside the block and give it its level
    back after, so a command run inside another process (a test, a shell) leaves that process's logging as it was."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def log_context_bind(**values: object) -> None:
    """Bind ``values`` (e.g. ``workspace_id=3, document_id=7``) to every later log line of this request, task or
    thread, until the request or task ends. Never bind text, secrets or anything a user typed."""
    structlog.contextvars.bind_contextvars(**values)


def add_context_keys(logger: object, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: ``request_id``, ``user_id`` and ``workspace_id`` on every line (``None`` if unknown)."""
    for key in CONTEXT_KEYS:
        event_dict.setdefault(key, None)
    return event_dict


def redact_secrets(logger: object, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the value of every key in ``REDACTED_KEYS`` (any case) becomes ``"[redacted]"``, and
    secret-bearing paths in the event (e.g. Django's "Not Found: /invitations/<token>/") lose their token."""
    for key in event_dict:
        if key.lower() in REDACTED_KEYS:
            event_dict[key] = REDACTED
    event = event_dict.get("event")
    if isinstance(event, str):
        event_dict["event"] = path_redact(event)
    return event_dict


def shared_processors() -> list[Any]:
    """The processors both structlog's own loggers and foreign (stdlib) records go through first."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def renderer_processors(log_format: str) -> list[Any]:
    """What ``ProcessorFormatter`` runs on every event dict: the context keys, redaction, then one JSON object
    per line (``log_format="json"``) or a readable colour line (``"console"``). Tracebacks are plain text,
    never with local variables (they may hold passwords or document text)."""
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        tail: list[Any] = [structlog.processors.format_exc_info, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=True, exception_formatter=structlog.dev.plain_traceback)
        tail = [renderer]
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        add_context_keys,
        redact_secrets,
        *tail,
    ]


def structlog_configure() -> None:
    """Route ``structlog.get_logger`` through the stdlib ``logging`` tree, so the ``LOGGING`` handlers and
    formatter render its events as they do foreign records (one configuration for web, worker and beat)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
