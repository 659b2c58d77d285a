"""Content-Security-Policy and Permissions-Policy on responses, and templates that need no inline script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from config.security import permissions_policy_header
from config.settings.paths import BASE_DIR

pytestmark = pytest.mark.django_db

INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    "inline event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "inline style": re.compile(r"<style|\sstyle\s*=", re.I),
}


def _directives(header: str) -> dict[str, list[str]]:
    parts = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in parts}


def test_a_page_carries_the_policy_and_the_permissions_policy(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    policy = _directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert "report-uri" not in policy
    features = dict(item.split("=") for item in response["Permissions-Policy"].split(", "))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert features[feature] == "()"


def test_the_api_docs_page_needs_no_inline_script_or_style(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert "script-src 'self';" in response["Content-Security-Policy"] + ";"
    html = response.content.decode()
    for kind, pattern in INLINE.items():
        assert not pattern.search(html), kind
    init = re.search(r'<script src="([^"]*\?script=?)"', html)
    assert init is not None, html
    script = client.get(init.group(1).replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_no_template_has_inline_script_handlers_or_styles():
    found = [
        f"{path.relative_to(BASE_DIR)}: {kind}"
        for path in sorted((BASE_DIR / "templates").rglob("*.html"))
        for kind, pattern in INLINE.items()
        if pattern.search(path.read_text())
    ]
    assert found == []


def test_permissions_policy_header_syntax(settings, client):
    assert permissions_policy_header({"camera": [], "fullscreen": ["self", "https://a.example"]}) == (
        'camera=(), fullscreen=(self "https://a.example")'
    )
    settings.PERMISSIONS_POLICY = {}
    assert "Permissions-Policy" not in client.get("/accounts/login/")


def test_operators_can_add_a_report_uri_and_switch_to_report_only():
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps([hasattr(settings, 'CONTENT_SECURITY_POLICY'), "
        "settings.CONTENT_SECURITY_POLICY_REPORT_ONLY['DIRECTIVES']['report-uri']]))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CSP_REPORT_URI": "https://reports.example/csp",
        "CSP_REPORT_ONLY": "true",
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [False, "https://reports.example/csp"]
