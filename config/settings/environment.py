"""The environment reader every settings module uses: variables from the process, then from ``.env``.

An empty variable counts as unset: its default applies (so a copied ``.env.example`` with blank values behaves
like no ``.env``), and a variable without a default raises ``ImproperlyConfigured``. The process environment
itself is left as it is (child processes inherit it unchanged); ``.env`` only adds the variables the process
does not set, as django-environ's ``read_env`` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import environ

from config.settings.paths import BASE_DIR


class _SetVariables(Mapping[str, str]):
    """A live, read-only view of ``os.environ`` without its empty variables."""

    def __getitem__(self, name: str) -> str:
        value = os.environ[name]
        if value == "":
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name, value in os.environ.items() if value != "")

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Env(environ.Env):
    """``environ.Env`` reading through ``_SetVariables``: an empty variable is an unset one."""

    ENVIRON = _SetVariables()


env = Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)  # into os.environ, only what is not set there

# The development switch (default off): several settings modules' defaults follow it (cookies, HTTPS, email
# verification, static files storage).
DEBUG = env.bool("DEBUG", default=False)
