"""Paths every process agrees on. Reads the environment, so it lives in config/settings."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def default_data_dir() -> Path:
    """The local data folder: ``$GROUNDWORK_DATA_DIR``, or ``var/`` in the checkout (git-ignored)."""
    return Path(os.environ.get("GROUNDWORK_DATA_DIR") or BASE_DIR / "var")
