"""Security settings (part of ``config.settings.base``): password-guessing limits and the trusted proxies the
client address comes from, cookies, HTTPS and HSTS, the Content-Security-Policy and the Permissions-Policy.
Production values come from the environment (docs/operations.md "Deploying"); see .env.example for every variable."""

from __future__ import annotations

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import DEBUG, env

# --- password guessing, trusted proxies -----------------------------------------------------------

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

# --- cookies, HTTPS, HSTS -------------------------------------------------------------------------

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
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
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
