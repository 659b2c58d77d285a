"""Logging settings (part of ``config.settings.base``): structured lines through structlog and django-structlog
(``config.logs``, ``config.request_log``), for the web process, the Celery worker and beat alike (``config.celery``
applies this ``LOGGING`` in workers; ``config/gunicorn.py`` sends gunicorn's own lines through it).

``LOG_FORMAT``: ``json`` (one JSON object per line, the default when ``DEBUG`` is off) or ``console`` (readable
colour lines, the default under ``make run``). ``LOG_LEVEL``: the root level.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.logs import renderer_processors, shared_processors, structlog_configure
from config.settings.environment import DEBUG, env

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
LOG_FORMAT = env.str("LOG_FORMAT", default="console" if DEBUG else "json").lower()
if LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or console")

# django-structlog: request_id per request (config.request_log accepts X-Request-ID only through a trusted proxy,
# TRUSTED_PROXY_COUNT > 0); the context travels in each Celery task's headers into the worker's lines.
DJANGO_STRUCTLOG_CELERY_ENABLED = True
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = False  # config.request_log decides, with TRUSTED_PROXY_COUNT
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False  # config.request_log binds the address the trusted proxies give

structlog_configure()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": "structlog.stdlib.ProcessorFormatter",
            "processors": renderer_processors(LOG_FORMAT),
            "foreign_pre_chain": shared_processors(),
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers (console when DEBUG, mail_admins) give way to the root's structured one.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # Its 4xx warnings come after the request's context is gone; request_finished says the same, with it.
        "django.request": {"level": "ERROR"},
        "django.db.backends": {"level": "INFO"},
        "pgserver": {"level": "WARNING"},
        # gunicorn's lines (config/gunicorn.py) go through the root handler too; its access lines (INFO) are
        # left out: each request's request_finished line says the same, without the query string.
        "gunicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
    },
}
