"""Paths every process agrees on. Reads the environment, so it lives in config/settings."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def default_data_dir() -> Path:
    """The local data folder: ``$GROUNDWORK_DATA_DIR``, or ``var/`` in the checkout (git-ignored)."""
    return Path(os.environ.get("GROUNDWORK_DATA_DIR") or BASE_DIR / "var")


def metrics_dir() -> Path:
    """prometheus_client's multiprocess folder: ``$PROMETHEUS_MULTIPROC_DIR``, or ``prometheus/`` in the data
    folder. Also read by gunicorn's arbiter (``config/gunicorn.py``), which does not load the Django settings."""
    return Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or default_data_dir() / "prometheus")
