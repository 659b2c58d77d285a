"""Groundwork settings: the only place that reads the environment (see .env.example for every variable).

Production differences come from the environment, not from a separate settings module. With no
``DATABASE_URL`` / ``REDIS_URL``, the embedded PostgreSQL and Redis of ``config.embedded`` are started.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import env
from config.settings.paths import BASE_DIR, default_data_dir

DATA_DIR = default_data_dir().resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# --- core -----------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)


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

INSTALLED_APPS = [
    "django.contrib.admin",
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
    "accounts",
    "documents",
    "retrieval",
    "chat",
]

MIDDLEWARE = [
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
# Password guessing: allauth's "login_failed" limit, one counter per account (whatever the client's address or
# headers) shared by the login page, the admin login (which sends to the login page) and POST /api/v1/auth/token/.
# Once LOGIN_FAILED_LIMIT wrong passwords fall within LOGIN_FAILED_WINDOW_SECONDS, every try (even the right
# password) is refused until the oldest leaves the window; plus LOGIN_FAILED_PER_IP_PER_MINUTE per client address.
LOGIN_FAILED_LIMIT = env.int("LOGIN_FAILED_LIMIT", default=5)
LOGIN_FAILED_WINDOW_SECONDS = env.int("LOGIN_FAILED_WINDOW_SECONDS", default=300)
LOGIN_FAILED_PER_IP_PER_MINUTE = env.int("LOGIN_FAILED_PER_IP_PER_MINUTE", default=10)
if min(LOGIN_FAILED_LIMIT, LOGIN_FAILED_WINDOW_SECONDS, LOGIN_FAILED_PER_IP_PER_MINUTE) < 1:
    raise ImproperlyConfigured(
        "LOGIN_FAILED_LIMIT, LOGIN_FAILED_WINDOW_SECONDS, LOGIN_FAILED_PER_IP_PER_MINUTE must be >= 1"
    )
ACCOUNT_RATE_LIMITS = {
    "login_failed": f"{LOGIN_FAILED_PER_IP_PER_MINUTE}/m/ip,{LOGIN_FAILED_LIMIT}/{LOGIN_FAILED_WINDOW_SECONDS}s/key"
}
# Reverse proxies in front of the app that append the client's address to X-Forwarded-For (0: none, and the
# header is ignored). The one source of the client address for allauth's limits and DRF's throttles.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be >= 0")
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT

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
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.openapi.add_error_responses"],
    "ENUM_NAME_OVERRIDES": {"TokenScopeEnum": "accounts.models.ApiTokenScope.Scope"},
}

# --- ingestion and embeddings -------------------------------------------------------------------

# The embedding model is loaded from site-packages; never from a hub (a lookup would hang offline). These go
# into os.environ, where the libraries read them, unless the process sets them (to a non-empty value).
for _name, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    if not env.str(_name, default=""):
        os.environ[_name] = _value
EMBEDDING_DTYPE = env.str("EMBEDDING_DTYPE", default="auto")
if EMBEDDING_DTYPE not in {"auto", "fp32", "bf16"}:
    raise ImproperlyConfigured("EMBEDDING_DTYPE must be auto, fp32 or bf16")
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", default=32)
EMBEDDING_THREADS = env.int("EMBEDDING_THREADS", default=0)  # 0: automatic (config/bootstrap.py)
EMBEDDING_PRELOAD_IN_WORKER = env.bool("EMBEDDING_PRELOAD_IN_WORKER", default=True)
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=25_000_000)
# One upload request (the page's form with several files, or any multipart request) carries at most
# UPLOAD_REQUEST_MAX_BYTES bytes (its Content-Length) and UPLOAD_REQUEST_MAX_FILES files: 413 request_too_large,
# checked by documents.uploads before any file part is read. Django's own cap is one file above ours, so ours answers.
UPLOAD_REQUEST_MAX_BYTES = env.int("UPLOAD_REQUEST_MAX_BYTES", default=100_000_000)
UPLOAD_REQUEST_MAX_FILES = env.int("UPLOAD_REQUEST_MAX_FILES", default=100)
if UPLOAD_REQUEST_MAX_BYTES < MAX_UPLOAD_BYTES + 65_536:
    raise ImproperlyConfigured("UPLOAD_REQUEST_MAX_BYTES must hold one file of MAX_UPLOAD_BYTES and its form (+64 KiB)")
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_REQUEST_MAX_FILES + 1
# Per-workspace caps (stored bytes of all document versions; documents; chunks of all documents) and uploads per
# user per hour (all workspaces; counted in the Redis cache). Staff override the WORKSPACE_* and DOCUMENT_MAX_*
# caps per workspace in the admin (documents.WorkspaceLimitOverride; read through documents.limits).
WORKSPACE_STORAGE_MAX_BYTES = env.int("WORKSPACE_STORAGE_MAX_BYTES", default=5_000_000_000)
WORKSPACE_DOCUMENTS_MAX = env.int("WORKSPACE_DOCUMENTS_MAX", default=10_000)
WORKSPACE_CHUNKS_MAX = env.int("WORKSPACE_CHUNKS_MAX", default=2_000_000)
UPLOADS_PER_USER_PER_HOUR = env.int("UPLOADS_PER_USER_PER_HOUR", default=500)
CHUNK_TARGET_TOKENS = env.int("CHUNK_TARGET_TOKENS", default=200)
CHUNK_OVERLAP_TOKENS = env.int("CHUNK_OVERLAP_TOKENS", default=32)
INGEST_STALE_SECONDS = env.int("INGEST_STALE_SECONDS", default=120)
INGEST_MAX_ATTEMPTS = env.int("INGEST_MAX_ATTEMPTS", default=3)
INGEST_SWEEP_SECONDS = env.int("INGEST_SWEEP_SECONDS", default=30)
# Fairness between workspaces (documents.services.scheduling): a document that has held its worker for
# INGEST_SLICE_SECONDS gives it up (keeping its finished embeddings) to a document of another workspace that has
# waited INGEST_YIELD_WAIT_SECONDS with nothing in progress. 0 turns yielding off.
INGEST_SLICE_SECONDS = env.int("INGEST_SLICE_SECONDS", default=15)
INGEST_YIELD_WAIT_SECONDS = env.int("INGEST_YIELD_WAIT_SECONDS", default=5)
# Hostile-input bounds of extraction (documents.services.extract*): structure is read only on lines up to
# EXTRACT_MAX_LINE_CHARS, CSV dialects are sniffed on EXTRACT_CSV_SNIFF_BYTES, a PDF outline gives at most
# EXTRACT_MAX_OUTLINE_ENTRIES sections.
EXTRACT_MAX_LINE_CHARS = env.int("EXTRACT_MAX_LINE_CHARS", default=4096)
EXTRACT_CSV_SNIFF_BYTES = env.int("EXTRACT_CSV_SNIFF_BYTES", default=4096)
EXTRACT_MAX_OUTLINE_ENTRIES = env.int("EXTRACT_MAX_OUTLINE_ENTRIES", default=10_000)
EXTRACT_HTML_MAX_TAGS = env.int("EXTRACT_HTML_MAX_TAGS", default=20_000)
EXTRACT_HTML_MAX_DEPTH = env.int("EXTRACT_HTML_MAX_DEPTH", default=64)
EXTRACT_MAX_SECONDS = env.int("EXTRACT_MAX_SECONDS", default=120)
# Index amplification bounds: a heading in a heading path has at most DOCUMENT_HEADING_MAX_CHARS characters and a
# path at most DOCUMENT_HEADING_MAX_DEPTH headings; a chunk's context (title + heading path) takes at most
# CHUNK_CONTEXT_MAX_PERCENT % of the model's window; a document over DOCUMENT_MAX_CHARS extracted characters,
# DOCUMENT_MAX_PAGES pages or DOCUMENT_MAX_CHUNKS chunks fails with the reason.
DOCUMENT_HEADING_MAX_CHARS = env.int("DOCUMENT_HEADING_MAX_CHARS", default=200)
DOCUMENT_HEADING_MAX_DEPTH = env.int("DOCUMENT_HEADING_MAX_DEPTH", default=6)
CHUNK_CONTEXT_MAX_PERCENT = env.int("CHUNK_CONTEXT_MAX_PERCENT", default=25)
DOCUMENT_MAX_CHARS = env.int("DOCUMENT_MAX_CHARS", default=5_000_000)
DOCUMENT_MAX_PAGES = env.int("DOCUMENT_MAX_PAGES", default=2000)
DOCUMENT_MAX_CHUNKS = env.int("DOCUMENT_MAX_CHUNKS", default=20_000)
FILE_UPLOAD_HANDLERS = [
    "documents.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- retrieval ----------------------------------------------------------------------------------

# Okapi BM25 parameters (Robertson & Zaragoza 2009); Lucene's defaults are k1=1.2, b=0.75 (or 0.9/0.4).
BM25_K1 = env.float("BM25_K1", default=1.2)
BM25_B = env.float("BM25_B", default=0.75)
# idf: "lucene" (ln(1 + (N-df+0.5)/(df+0.5)), always positive) or "okapi" (classic, as rank_bm25.BM25Okapi).
BM25_IDF = env.str("BM25_IDF", default="lucene")
if BM25_IDF not in {"lucene", "okapi"}:
    raise ImproperlyConfigured("BM25_IDF must be lucene or okapi")
# okapi only: floor for the idf of terms in more than half the chunks, as a share of the mean idf (rank_bm25's epsilon).
BM25_IDF_EPSILON = env.float("BM25_IDF_EPSILON", default=0.25)
# Postings (sum of the candidate terms' document frequencies) BM25 reads at most per query: the rarest
# query terms pick the candidates (MaxScore-style pruning); smaller workspaces are scored exactly.
# (Measured at 100k chunks: 10,000 and 200 keep 99 % of exhaustive BM25's top 10 at a third of its cost.)
BM25_MAX_CANDIDATES = env.int("BM25_MAX_CANDIDATES", default=10_000)
# ... or this share of the workspace's chunks when that is more (1M chunks: 30,000 postings, top-10 agreement with
# exhaustive BM25 0.68 -> 0.78; 100k chunks keep 10,000).
BM25_CANDIDATE_SHARE = env.float("BM25_CANDIDATE_SHARE", default=0.03)
# When terms were pruned: how many of the best candidates get the pruned terms' scores added and are re-ranked.
BM25_RESCORE_CANDIDATES = env.int("BM25_RESCORE_CANDIDATES", default=200)
RRF_K = env.int("RRF_K", default=60)  # reciprocal rank fusion constant (Cormack et al. 2009)
RRF_WEIGHT_BM25 = env.float("RRF_WEIGHT_BM25", default=1.0)
RRF_WEIGHT_VECTOR = env.float("RRF_WEIGHT_VECTOR", default=1.0)
SEARCH_CANDIDATES = env.int("SEARCH_CANDIDATES", default=100)  # hits each retriever gives the fusion
SEARCH_MAX_QUERY_CHARS = env.int("SEARCH_MAX_QUERY_CHARS", default=2000)
SEARCH_MAX_K = env.int("SEARCH_MAX_K", default=100)
# Vector search: exact (sequential) distance below this many chunks in scope, else the HNSW index. Exact
# costs ~1 us per chunk (11 ms at 11k); HNSW ~5 ms and the same SciFact nDCG@10 (0.6639 vs 0.6635 exact).
VECTOR_EXACT_MAX_CHUNKS = env.int("VECTOR_EXACT_MAX_CHUNKS", default=5_000)
HNSW_EF_SEARCH = env.int("HNSW_EF_SEARCH", default=100)  # pgvector hnsw.ef_search floor; raised for filters
# A workspace of at least this many chunks holding at most this share of the table gets its own (partial)
# HNSW index, built in the background (Celery beat, every VECTOR_INDEX_SWEEP_SECONDS).
VECTOR_OWN_INDEX_MIN_CHUNKS = env.int("VECTOR_OWN_INDEX_MIN_CHUNKS", default=20_000)
VECTOR_OWN_INDEX_MAX_SHARE = env.float("VECTOR_OWN_INDEX_MAX_SHARE", default=0.5)
VECTOR_INDEX_SWEEP_SECONDS = env.int("VECTOR_INDEX_SWEEP_SECONDS", default=600)

_bm25_ok = 0 < BM25_K1 <= 3 and 0 <= BM25_B <= 1 and 0 <= BM25_CANDIDATE_SHARE <= 1
if not (_bm25_ok and RRF_K > 0 and SEARCH_CANDIDATES > 0):
    raise ImproperlyConfigured(
        "BM25_K1 must be in (0, 3], BM25_B and BM25_CANDIDATE_SHARE in [0, 1], RRF_K and SEARCH_CANDIDATES > 0"
    )

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
}

# --- chat and the LLM chain (config/settings/chat.py) -----------------------------------------------
from config.settings.chat import *  # noqa: E402, F403

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

# --- security (production comes from the environment; see README "Deploying") --------------------

SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Extending HSTS to every subdomain, or to browsers' preload list, is the domain owner's decision (other hosts
# under the domain may not serve HTTPS), so `check --deploy` does not warn while they are left off.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]
SILENCED_SYSTEM_CHECKS += [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp 4 dict API). Every script and style is a same-origin file under static/:
# no inline script, inline handler or inline style anywhere (the Swagger UI page too, see config/urls.py).
# The env names CSP_REPORT_URI / CSP_REPORT_ONLY are never settings names: django-csp fails its system check
# (csp.E001) on any old-style CSP_* setting.
_csp_policy = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "report-uri": env.str("CSP_REPORT_URI", default="") or None,
    }
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp_policy
else:
    CONTENT_SECURITY_POLICY = _csp_policy
# Browser features no page of Groundwork uses, switched off for every page (config.security).
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}

# --- logging --------------------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "pgserver": {"level": "WARNING"},
    },
}
