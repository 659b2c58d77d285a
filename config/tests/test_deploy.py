"""``manage.py check --deploy`` with a production-like environment, run as a real subprocess."""

import os
import subprocess
import sys

from config.settings.paths import BASE_DIR

# Justified in README "Deploying": HSTS for subdomains and preload are opt-in, since they bind every
# subdomain of the operator's domain for a year.
JUSTIFIED = {"security.W005", "security.W021"}


def test_check_deploy_has_only_justified_warnings():
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "Zq8#xV!mT2pL@9wR$eY5uI^oP0aS&dF3gH*jK7lC",
        "ALLOWED_HOSTS": "groundwork.example.com",
        "SITE_URL": "https://groundwork.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    found = set()
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("?: ("):
            found.add(line.split("(", 1)[1].split(")", 1)[0])
    assert found <= JUSTIFIED, result.stdout + result.stderr
