"""The environment reader every settings module uses: variables from the process, then from ``.env``."""

from __future__ import annotations

import os

import environ

from config.settings.paths import BASE_DIR

env = environ.Env()
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env", overwrite=False)
# An empty value means "use the default" (so a copied .env.example with blanks behaves like no .env).
for _name in [name for name, value in os.environ.items() if value == ""]:
    del os.environ[_name]
