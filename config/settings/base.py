"""Groundwork settings: with the topic modules it includes, the only place that reads the environment (see
.env.example for every variable). This module holds the core, database, Redis and Celery, accounts, email, API and
static files settings; it includes ``security`` (login limits, trusted proxies, cookies, HSTS, CSP),
``ingestion`` (embeddings, uploads, workspace and document limits, extraction, fairness), ``retrieval`` (BM25,
RRF, vector search), ``chat`` (the LLM chain, quotas) and ``logs`` (structured logging) with ``from ... import *``,
so every setting is still a name of ``config.settings.base`` (``config.settings.test`` imports them all from
here). ``DEBUG``, which several topic modules' defaults follow, is read in ``config.settings.environment``.

Production differences come from the environment, not from a separate settings module. With no
``DATABASE_URL`` / ``REDIS_URL``, the embedded PostgreSQL and Redis of ``config.embedded`` are started.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import DEBUG, env
from config.settings.paths import BASE_DIR, default_data_dir

DATA_DIR = default_data_dir().resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# --- core (DEBUG: config.settings.environment) ----------------------------------------------------


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Set SECRET_KEY (e.g. `python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'`), or DEBUG=true for local development."
        )
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
GIT_COMMIT = env.str("GIT_COMMIT", default="")  # the image's build argument; empty: `git rev-parse` (config.backup)

INSTALLED_APPS = [
    "config.apps.AdminConfig",  # django.contrib.admin with the audited admin site (accounts.admin_site)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "allauth",
    "allauth.account",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "anymail",
    "csp",
    "pgtrigger",
    "django_structlog",
    "django_prometheus",
    "accounts",
    "documents",
    "retrieval",
    "chat",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first and last: HTTP latency by view and status
    "config.request_log.RequestLogMiddleware",  # request_id, X-Request-ID, request_started/finished lines
    "config.metrics.RejectionCountMiddleware",  # every 429, by its code (groundwork_rejections_total)
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.security.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.workspaces",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- database -------------------------------------------------------------------------------------


def _database() -> dict[str, object]:
    if env.str("DATABASE_URL", default=""):
        config = env.db("DATABASE_URL")
    else:
        from config.embedded import DATABASE_NAME, postgres_url

        url = urlsplit(postgres_url(DATA_DIR, shared_buffers=env.str("EMBEDDED_PG_SHARED_BUFFERS", default="auto")))
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DATABASE_NAME,
            "USER": "postgres",
            "HOST": dict(parse_qsl(url.query))["host"],
        }
    config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    config["CONN_HEALTH_CHECKS"] = True
    # PgBouncer in transaction pooling (docs/operations.md "Scaling out"): no server-side cursors, prepared statements.
    config["DISABLE_SERVER_SIDE_CURSORS"] = True
    config.setdefault("OPTIONS", {})["prepare_threshold"] = None
    return config


DATABASES = {"default": _database()}

# --- Redis: cache, Celery broker ------------------------------------------------------------------


def _redis_url() -> str:
    url = env.str("REDIS_URL", default="")
    if url:
        return url
    from config.embedded import redis_url

    return redis_url(DATA_DIR)


def redis_url_with_db(url: str, db: int) -> str:
    """``url`` pointing at Redis database ``db`` (``redis://h:p/N`` or ``unix:///sock?db=N`` forms)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def celery_broker_url(url: str) -> str:
    """Kombu spells a Unix-socket Redis ``redis+socket:///path?virtual_host=N``."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    db = dict(parse_qsl(parts.query)).get("db", "0")
    return f"redis+socket://{parts.path}?virtual_host={db}"


REDIS_URL = _redis_url()

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "gw",
        "TIMEOUT": 300,
        "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 2},
    }
}

CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=1800)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=1500)
# A pool process whose resident memory passed this (KiB) after a task is replaced by a fresh one, so a document
# that made it balloon does not keep that memory from the next tenant's work (Celery's worker_max_memory_per_child).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=2_000_000)
# A pool process that replaces one gets this long (s) to start, model loaded, before Celery kills it (its default,
# 4 s, is shorter than loading torch and the model: every replacement would be killed in turn).
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=120.0)
# A hard ceiling (MB) on a pool process's resident memory while a task runs, the model's included (config.memory):
# a document whose ingestion goes over it is stopped and fails with the reason, and the process is replaced. 0 = off.
INGEST_TASK_MAX_MEMORY_MB = env.int("INGEST_TASK_MAX_MEMORY_MB", default=3000)
if INGEST_TASK_MAX_MEMORY_MB < 0 or (INGEST_TASK_MAX_MEMORY_MB and CELERY_WORKER_MAX_MEMORY_PER_CHILD <= 0):
    raise ImproperlyConfigured(
        "INGEST_TASK_MAX_MEMORY_MB must be 0 (off) or positive, and needs CELERY_WORKER_MAX_MEMORY_PER_CHILD > 0"
        " (the check that replaces a pool process that went over it)"
    )
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# CELERY_BEAT_SCHEDULE follows the ingestion and retrieval settings it reads (INGEST_SWEEP_SECONDS, ...).

# --- accounts and allauth -------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_ALLOW_SIGNUP = env.bool("ACCOUNT_ALLOW_SIGNUP", default=True)
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
_verification = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional" if DEBUG else "mandatory")
if _verification not in {"mandatory", "optional", "none"}:
    raise ImproperlyConfigured("ACCOUNT_EMAIL_VERIFICATION must be mandatory, optional or none")
ACCOUNT_EMAIL_VERIFICATION = _verification
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Groundwork] "
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# Password reset links are Django tokens: they stop working once used (the password hash changes)
# and after this many seconds.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 3600)
WORKSPACE_INVITATION_TTL = timedelta(days=env.int("WORKSPACE_INVITATION_TTL_DAYS", default=7))
# Quotas: workspaces a user may create (the personal one counts; User.workspaces_max overrides it per user, in
# the admin), and invitations a workspace may send per UTC day (replaced and withdrawn ones count).
WORKSPACES_PER_USER_MAX = env.int("WORKSPACES_PER_USER_MAX", default=10)
INVITATIONS_PER_WORKSPACE_PER_DAY = env.int("INVITATIONS_PER_WORKSPACE_PER_DAY", default=50)

# --- security: login limits, trusted proxies, cookies, HSTS, CSP (config/settings/security.py) -------
from config.settings.security import *  # noqa: E402, F403
from config.settings.security import TRUSTED_PROXY_COUNT  # noqa: E402

# --- email ----------------------------------------------------------------------------------------

DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Groundwork <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if env.str("RESEND_API_KEY", default=""):
    EMAIL_BACKEND = "anymail.backends.resend.EmailBackend"
    ANYMAIL = {"RESEND_API_KEY": env.str("RESEND_API_KEY")}
else:
    globals().update(env.email_url("EMAIL_URL", default="consolemail://"))

# --- API ------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.ScopedTokenAuthentication",  # knox Bearer tokens; read-only ones may not write
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies only; the upload operations declare multipart themselves (415 for anything else).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "URL_FORMAT_OVERRIDE": None,  # the Accept header alone picks JSON or server-sent events (no ?format=)
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"token_create": env.str("API_TOKEN_CREATE_RATE", default="10/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,  # throttles key on REMOTE_ADDR, or the address the trusted proxy added
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=30)),
    "AUTH_HEADER_PREFIX": "Bearer",
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": env.int("API_TOKEN_LIMIT_PER_USER", default=20),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Groundwork API",
    "DESCRIPTION": "Ask your documents: workspaces, documents, search and grounded chat.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Request bodies get their own components: a FileField is "binary" there (a part to send), not a URI.
    "COMPONENT_SPLIT_REQUEST": True,
    "COMPONENT_SPLIT_PATCH": False,  # PATCH bodies keep their required fields (renaming needs the title)
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.openapi.add_error_responses"],
    "ENUM_NAME_OVERRIDES": {"TokenScopeEnum": "accounts.models.ApiTokenScope.Scope"},
}

# --- audit trail and telemetry retention (config/settings/audit.py) ---------------------------------
from config.settings.audit import *  # noqa: E402, F403
from config.settings.audit import RETENTION_PURGE_SECONDS  # noqa: E402

# --- ingestion, extraction, embeddings, upload and workspace limits (config/settings/ingestion.py) ---
from config.settings.ingestion import *  # noqa: E402, F403
from config.settings.ingestion import INGEST_SWEEP_SECONDS, REEMBED_SWEEP_SECONDS  # noqa: E402

# --- retrieval: BM25, RRF, vector search (config/settings/retrieval.py) ----------------------------
from config.settings.retrieval import *  # noqa: E402, F403
from config.settings.retrieval import VECTOR_INDEX_SWEEP_SECONDS  # noqa: E402
from config.settings.scale import *  # noqa: E402, F403

# Celery beat: periodic tasks, every ..._SWEEP_SECONDS.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "documents-sweep": {
        "task": "documents.tasks.document_sweep_task",
        "schedule": float(INGEST_SWEEP_SECONDS),
    },
    "retrieval-vector-indexes": {
        "task": "retrieval.tasks.vector_indexes_task",
        "schedule": float(VECTOR_INDEX_SWEEP_SECONDS),
    },
    "reembed-sweep": {"task": "documents.tasks.reembed_sweep_task", "schedule": float(REEMBED_SWEEP_SECONDS)},
    "audit-purge": {"task": "accounts.tasks.audit_purge_task", "schedule": float(RETENTION_PURGE_SECONDS)},
    "chat-telemetry-purge": {
        "task": "chat.tasks.chat_telemetry_purge_task",
        "schedule": float(RETENTION_PURGE_SECONDS),
    },
}

# --- chat and the LLM chain (config/settings/chat.py) -----------------------------------------------
from config.settings.chat import *  # noqa: E402, F403

# --- metrics and health probes (config/settings/metrics.py) ------------------------------------------
from config.settings.metrics import *  # noqa: E402, F403

# --- static files, uploads ------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- logging: structlog, django-structlog, LOG_LEVEL, LOG_FORMAT (config/settings/logs.py) -------------
from config.settings.logs import *  # noqa: E402, F403
