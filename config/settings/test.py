"""Test settings: base plus overrides only. Same real PostgreSQL (a test_ database) and Redis (database 15)."""

from config.settings.base import *  # noqa: F403
from config.settings.base import REDIS_URL, celery_broker_url, env, redis_url_with_db

TEST_REDIS_URL = env.str("TEST_REDIS_URL", default=redis_url_with_db(REDIS_URL, 15))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": TEST_REDIS_URL,
        "KEY_PREFIX": "gw-test",
    }
}
CELERY_BROKER_URL = celery_broker_url(TEST_REDIS_URL)
REDIS_URL = TEST_REDIS_URL

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
