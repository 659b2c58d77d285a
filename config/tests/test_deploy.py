"""``manage.py check --deploy`` with a production-like environment, run as a real subprocess."""

import os
import subprocess
import sys

from config.settings.paths import BASE_DIR


def test_check_deploy_finds_no_issue():
    """HSTS for subdomains and preload are opt-in (they bind every subdomain of the operator's domain for a
    year), so the settings silence those two warnings only while they are off: docs/operations.md "Deploying"."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "Zq8#xV!mT2pL@9wR$eY5uI^oP0aS&dF3gH*jK7lC",
        "ALLOWED_HOSTS": "groundwork.example.com",
        "SITE_URL": "https://groundwork.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout
