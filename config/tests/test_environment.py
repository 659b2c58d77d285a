"""The settings' environment reader: an empty variable is an unset one, and the process environment is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import env
from config.settings.paths import BASE_DIR


def test_an_empty_variable_reads_as_unset(monkeypatch):
    monkeypatch.setenv("GW_PROBE_EMPTY", "")
    monkeypatch.setenv("GW_PROBE_SET", "12")
    assert env.int("GW_PROBE_EMPTY", default=7) == 7
    assert env.str("GW_PROBE_EMPTY", default="fallback") == "fallback"
    assert env.bool("GW_PROBE_EMPTY", default=True) is True
    assert env.int("GW_PROBE_SET", default=7) == 12
    assert "GW_PROBE_EMPTY" not in env and "GW_PROBE_SET" in env
    with pytest.raises(ImproperlyConfigured):
        env.str("GW_PROBE_EMPTY")
    assert os.environ["GW_PROBE_EMPTY"] == ""


def test_loading_the_settings_leaves_the_process_environment_alone():
    """A real process: blank variables (as in a copied .env.example) stay in its environment, so its children
    inherit exactly what it was given; the settings use their defaults for them."""
    script = (
        "import json, os, django; django.setup(); from django.conf import settings; "
        "print(json.dumps({'probe': os.environ.get('GW_PROBE_EMPTY'), 'batch': settings.EMBEDDING_BATCH_SIZE, "
        "'hf': os.environ.get('HF_HUB_OFFLINE'), 'tokenizers': os.environ.get('TOKENIZERS_PARALLELISM')}))"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "GW_PROBE_EMPTY": "",
        "EMBEDDING_BATCH_SIZE": "",
        "HF_HUB_OFFLINE": "",
        "TOKENIZERS_PARALLELISM": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # Untouched: the blank probe; defaults for blank settings; the model libraries' switches set where blank.
    assert seen == {"probe": "", "batch": 32, "hf": "1", "tokenizers": "true"}
