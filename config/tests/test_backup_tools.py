"""Which pg_dump/pg_restore a backup uses (config.backup.pg_tool), with the real binaries of this machine:
pgserver's bundled PostgreSQL 16 and, where installed, Debian's client on PATH; the manifest's commit and
checksums."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from config.backup import BackupError, _candidates, git_commit, pg_tool, sha256_file
from config.settings.paths import BASE_DIR


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


def test_the_commit_comes_from_git_commit_else_from_the_checkout(settings):
    """The image sets GIT_COMMIT (its build context has no .git); a checkout answers ``git rev-parse HEAD``."""
    settings.GIT_COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    assert git_commit() == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    settings.GIT_COMMIT = ""
    head = subprocess.run(["git", "-C", str(BASE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert git_commit() == (head.stdout.strip() if head.returncode == 0 else None)


def test_a_files_checksum_is_its_sha256(tmp_path):
    data = bytes(range(256)) * 20_000  # several read blocks
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
