"""Test settings: base plus overrides only. The same real PostgreSQL (a test_ database) and Redis (databases of
their own, per TEST_SLOT)."""

import os
import shutil

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import (
    DATA_DIR,
    DATABASES,
    REDIS_URL,
    REST_FRAMEWORK,
    celery_broker_url,
    env,
    redis_url_with_db,
)

# TEST_SLOT (0-3) lets several test runs share one machine's PostgreSQL and Redis without touching each other's
# test database, cache and broker: slot n uses test_<db>_n and Redis databases 15-2n (cache) and 14-2n (broker).
TEST_SLOT = env.int("TEST_SLOT", default=0)
if not 0 <= TEST_SLOT <= 3:
    raise ImproperlyConfigured("TEST_SLOT must be 0, 1, 2 or 3")
TEST_REDIS_URL = env.str("TEST_REDIS_URL", default=redis_url_with_db(REDIS_URL, 15 - 2 * TEST_SLOT))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": TEST_REDIS_URL,
        "KEY_PREFIX": "gw-test",
    }
}
# The broker gets its own database: cache.clear() between tests must not drop queue bindings.
CELERY_BROKER_URL = celery_broker_url(redis_url_with_db(TEST_REDIS_URL, 14 - 2 * TEST_SLOT))
REDIS_URL = TEST_REDIS_URL

# The API reads JSON bodies only (uploads: multipart, said per request): DRF's test client sends JSON by default.
REST_FRAMEWORK = {**REST_FRAMEWORK, "TEST_REQUEST_DEFAULT_FORMAT": "json"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
REQUIRE_BROWSER = env.bool("REQUIRE_BROWSER", default=False)
CHROMIUM_PATH = env.str("CHROMIUM_PATH", default="/usr/bin/chromium")
REQUIRE_OCR = env.bool("REQUIRE_OCR", default=False)  # OCR tests fail instead of skipping without tesseract

# The Celery worker the tests start (the root conftest.py's ``celery_worker`` fixture) runs these settings with
# GROUNDWORK_TEST_WORKER=1 and must use pytest-django's test database.
_TEST_DB_NAME = "test_" + str(DATABASES["default"]["NAME"]) + (f"_{TEST_SLOT}" if TEST_SLOT else "")
DATABASES["default"]["TEST"] = {"NAME": _TEST_DB_NAME}
if env.bool("GROUNDWORK_TEST_WORKER", default=False):
    DATABASES["default"]["NAME"] = _TEST_DB_NAME
MEDIA_ROOT = DATA_DIR / ("test-media" + (f"-{TEST_SLOT}" if TEST_SLOT else ""))

# Fairness between workspaces (documents.services.scheduling) acts within a test's time frame.
INGEST_SLICE_SECONDS = 0.2
INGEST_YIELD_WAIT_SECONDS = 0.2

# The metric files of this run, per TEST_SLOT: emptied when the test run starts. Processes it starts (the worker,
# subprocesses loading these settings) inherit the variable and must not empty it under the running processes.
_METRICS_DIR = str(DATA_DIR / ("test-prometheus" + (f"-{TEST_SLOT}" if TEST_SLOT else "")))
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != _METRICS_DIR:
    shutil.rmtree(_METRICS_DIR, ignore_errors=True)
    os.makedirs(_METRICS_DIR)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _METRICS_DIR
PROMETHEUS_MULTIPROC_DIR = _METRICS_DIR
