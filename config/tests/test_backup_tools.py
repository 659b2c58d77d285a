"""Which pg_dump/pg_restore a backup uses (config.backup.pg_tool), with the real binaries of this machine:
pgserver's bundled PostgreSQL 16 and, where installed, Debian's client on PATH."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from config.backup import BackupError, _candidates, pg_tool


def _major(path: str) -> int:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    return int(out.split("PostgreSQL)")[1].split(".")[0])


def test_the_tool_of_the_servers_major_version_is_chosen_else_a_newer_one():
    bundled = _candidates("pg_dump")[0]
    assert "pgserver" in bundled and _major(bundled) == 16
    assert pg_tool("pg_dump", server_major=16)[0] == bundled
    assert pg_tool("pg_restore", server_major=16)[0].startswith(bundled.removesuffix("pg_dump"))
    assert pg_tool("pg_dump", server_major=14, candidates=[bundled])[0] == bundled  # newer works, older would not
    with pytest.raises(BackupError, match="no pg_dump for PostgreSQL 17 or newer"):
        pg_tool("pg_dump", server_major=17, candidates=[bundled])


def test_an_exact_major_version_wins_over_a_newer_one():
    on_path = shutil.which("pg_dump")
    if on_path is None or _major(on_path) >= 16:
        pytest.skip("needs an older pg_dump on PATH (Debian 12's is 15)")
    bundled = _candidates("pg_dump")[0]
    older = _major(on_path)
    assert pg_tool("pg_dump", server_major=older, candidates=[bundled, on_path])[0] == on_path
    assert pg_tool("pg_dump", server_major=older - 1, candidates=[bundled, on_path])[0] == on_path  # oldest newer
    assert pg_tool("pg_dump", server_major=16, candidates=[on_path, bundled])[0] == bundled
