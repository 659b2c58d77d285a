"""Backup and restore of the whole installation: the database (``pg_dump -Fc``), the media files (MEDIA_ROOT, as an
uncompressed tar) and a ``manifest.json`` with versions and the SHA-256 of every file.

A backup directory holds::

    database.dump   pg_dump custom format of the configured database (all schemas, the pgvector extension included)
    media.tar       every file under MEDIA_ROOT, paths relative to it
    SHA256SUMS      the SHA-256 of the three files, manifest.json included (`sha256sum -c SHA256SUMS` checks them)
    manifest.json   {"format": 1, "created_at", "groundwork": {"commit"}, "postgresql": {"server", "pg_dump",
                    "pgvector"}, "extra": {...}, "files": {"database.dump": {"sha256", "bytes"}, ...}}
                    (the commit: :func:`git_commit`)

The PostgreSQL client programs are chosen by :func:`pg_tool`: the one whose major version equals the server's
(pgserver's bundled 16 for the embedded server), else the oldest newer one; the connection comes from Django's
settings for the ``default`` database, with the password in ``PGPASSWORD`` (never on a command line).
The management commands ``backup`` and ``restore`` (documents app) are thin shells over :func:`backup_create` and
:func:`backup_restore`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

from config.settings.paths import BASE_DIR

DUMP_NAME = "database.dump"
MEDIA_NAME = "media.tar"
MANIFEST_NAME = "manifest.json"
SUMS_NAME = "SHA256SUMS"  # sha256sum format, for `sha256sum -c SHA256SUMS`: the three files, manifest included
FORMAT = 1
Progress = Callable[[str], None]


class BackupError(RuntimeError):
    """A backup or restore could not be made or was refused; the message says why, for an operator."""


def _silent(message: str) -> None:
    """A progress callback that prints nothing."""


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file (``hashlib.file_digest``: read in blocks, never whole)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _major(version: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", version)
    if match is None:
        raise BackupError(f"cannot read a PostgreSQL version from {version!r}")
    return int(match.group(1))


def _candidates(name: str) -> list[str]:
    """The client program ``name`` from pgserver's bundled PostgreSQL (if installed) and from PATH."""
    out = []
    try:
        from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:  # pragma: no cover - pgserver is a runtime requirement
        pass
    else:
        if (POSTGRES_BIN_PATH / name).exists():
            out.append(str(POSTGRES_BIN_PATH / name))
    on_path = shutil.which(name)
    if on_path:
        out.append(on_path)
    return out


def pg_tool(name: str, *, server_major: int, candidates: list[str] | None = None) -> tuple[str, str]:
    """The ``pg_dump``/``pg_restore`` to use with a server of major version ``server_major``: ``(path, version)``.

    Among ``candidates`` (default: pgserver's bundled binary, then the one on PATH) the first whose major version
    equals the server's wins; else the oldest newer one (pg_dump refuses servers newer than itself).

    Raises:
        BackupError: no candidate of the server's major version or newer.
    """
    found = []
    for path in candidates if candidates is not None else _candidates(name):
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        if result.returncode == 0:
            found.append((path, result.stdout.strip()))
    majors = [(path, version, _major(version.split("PostgreSQL)")[-1])) for path, version in found]
    usable = sorted(
        ((path, version, major) for path, version, major in majors if major >= server_major),
        key=lambda item: (item[2] != server_major, item[2]),  # the same major first, else the oldest newer one
    )
    if not usable:
        seen = "; ".join(f"{p}: {v}" for p, v in found) or "none"
        raise BackupError(f"no {name} for PostgreSQL {server_major} or newer (found: {seen})")
    return usable[0][0], usable[0][1]


# psycopg connection parameters (libpq keywords) and the libpq environment variables that carry them
_LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


def _connection_env(alias: str = "default") -> tuple[dict[str, str], str]:
    """The environment for libpq programs reaching database ``alias`` as Django does (PGHOST, PGPORT, PGUSER,
    PGPASSWORD, SSL options, from HOST/PORT/... and OPTIONS alike), and the database name.

    The password travels only in ``PGPASSWORD``, never on a command line."""
    params = connections[alias].get_connection_params()
    env = {name: str(params[key]) for key, name in _LIBPQ_ENV.items() if params.get(key) not in (None, "")}
    clean = {key: value for key, value in os.environ.items() if key not in _LIBPQ_ENV.values()}
    return {**clean, **env}, str(params.get("dbname") or connections[alias].settings_dict["NAME"])


def _server_facts(alias: str = "default") -> dict[str, str | None]:
    """The server's version and the pgvector extension's (None if not installed) in database ``alias``."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return {"server": server, "pgvector": row[0] if row else None}


def git_commit() -> str | None:
    """The commit of the running code: ``GIT_COMMIT`` (set in the image at build time, which has no ``.git``), else
    ``git rev-parse HEAD`` in a checkout, else None."""
    if settings.GIT_COMMIT:
        return str(settings.GIT_COMMIT)
    try:
        result = subprocess.run(
            ["git", "-C", str(BASE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def _run(args: list[str], *, env: dict[str, str], what: str) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")


def _tar_media(media_root: Path, target: Path, progress: Progress) -> int:
    """Write every file under ``media_root`` into the tar ``target``; returns the number of files."""
    count = 0
    with tarfile.open(target, "w") as tar:
        if media_root.is_dir():
            for path in sorted(media_root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    tar.add(path, arcname=str(path.relative_to(media_root)), recursive=False)
                    count += 1
                    if count % 1000 == 0:
                        progress(f"  media: {count} files")
    return count


def backup_create(*, directory: Path, extra: dict[str, Any] | None = None, progress: Progress = _silent) -> dict:
    """Back up the ``default`` database and MEDIA_ROOT into ``directory`` (created; must be absent or empty).

    ``extra`` goes into the manifest as is (e.g. the embedding model). Returns the manifest (see the module doc).
    ``progress`` receives one line per step.

    Raises:
        BackupError: ``directory`` is not empty, no suitable pg_dump, or pg_dump failed.
    """
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: a backup goes into a new or empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    facts = _server_facts()
    pg_dump, pg_dump_version = pg_tool("pg_dump", server_major=_major(str(facts["server"])))
    env, name = _connection_env()
    progress(f"Dumping database {name} (PostgreSQL {facts['server']}) with {pg_dump} ({pg_dump_version})")
    started = time.monotonic()
    _run([pg_dump, "-Fc", "--file", str(directory / DUMP_NAME), "--dbname", name], env=env, what="pg_dump")
    size_mb = (directory / DUMP_NAME).stat().st_size / 2**20
    progress(f"  database: {size_mb:.1f} MB in {time.monotonic() - started:.1f} s")
    media_root = Path(settings.MEDIA_ROOT)
    progress(f"Archiving media files from {media_root}")
    started = time.monotonic()
    count = _tar_media(media_root, directory / MEDIA_NAME, progress)
    progress(f"  media: {count} files in {time.monotonic() - started:.1f} s")
    progress("Computing checksums")
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "groundwork": {"commit": git_commit()},
        "postgresql": {"server": facts["server"], "pg_dump": pg_dump_version, "pgvector": facts["pgvector"]},
        "database": name,
        "media_files": count,
        "extra": extra or {},
        "files": {
            file: {"sha256": sha256_file(directory / file), "bytes": (directory / file).stat().st_size}
            for file in (DUMP_NAME, MEDIA_NAME)
        },
    }
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    files = (DUMP_NAME, MEDIA_NAME, MANIFEST_NAME)
    (directory / SUMS_NAME).write_text("".join(f"{sha256_file(directory / name)}  {name}\n" for name in files))
    progress(f"Backup written to {directory}")
    return manifest


def backup_verify(*, directory: Path) -> dict:
    """Check a backup directory: the manifest against SHA256SUMS, then every file the manifest lists against its
    size and SHA-256. Any changed byte in any of the files is caught.

    Returns the manifest. Raises:
        BackupError: no readable SHA256SUMS or manifest, an unknown format, or a file missing or changed.
    """
    try:
        sums = dict(line.split()[::-1] for line in (directory / SUMS_NAME).read_text().splitlines())
        manifest_text = (directory / MANIFEST_NAME).read_bytes()
    except (OSError, ValueError) as exc:
        raise BackupError(f"{directory} is not a complete backup ({SUMS_NAME} and {MANIFEST_NAME}): {exc}") from exc
    if sums.get(MANIFEST_NAME) != hashlib.sha256(manifest_text).hexdigest():
        raise BackupError(f"backup damaged: {MANIFEST_NAME} does not match its SHA-256 checksum in {SUMS_NAME}")
    try:
        manifest = json.loads(manifest_text)
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{directory} has no readable {MANIFEST_NAME}: {exc}") from exc
    if manifest.get("format") != FORMAT or set(files) != {DUMP_NAME, MEDIA_NAME}:
        raise BackupError(f"{directory / MANIFEST_NAME} is not a Groundwork backup manifest of format {FORMAT}")
    for file, expected in files.items():
        path = directory / file
        if not path.is_file():
            raise BackupError(f"backup damaged: {file} is missing")
        if path.stat().st_size != expected["bytes"] or sha256_file(path) != expected["sha256"]:
            raise BackupError(f"backup damaged: {file} does not match its SHA-256 checksum in {MANIFEST_NAME}")
    return manifest


def _database_is_empty(alias: str = "default") -> bool:
    """True if the database has no relations outside PostgreSQL's own schemas."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
            " AND n.nspname NOT LIKE 'pg_temp%'"
        )
        return cursor.fetchone()[0] == 0


def _media_stage(archive: Path, media_root: Path, progress: Progress) -> tuple[Path, int]:
    """Extract the archive into a new hidden folder inside MEDIA_ROOT: on its file system (MEDIA_ROOT may be a
    mounted volume, which cannot be renamed), so :func:`_media_swap` needs renames only. Returns the folder and the
    number of files.

    Raises:
        BackupError: the archive could not be extracted (the folder is removed; MEDIA_ROOT is as it was).
    """
    media_root.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".restore-", dir=media_root))
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            tar.extractall(staged, members=members, filter="data")
    except (OSError, tarfile.TarError) as exc:
        shutil.rmtree(staged, ignore_errors=True)
        raise BackupError(f"{archive.name} could not be extracted (nothing was restored): {exc}") from exc
    progress(f"  media: {len(members)} files extracted")
    return staged, len(members)


def _media_swap(staged: Path, media_root: Path) -> None:
    """Replace MEDIA_ROOT's contents with the ``staged`` folder's, by renames: the old entries are moved aside into
    another hidden folder, the staged ones moved up, then the old ones deleted."""
    replaced = Path(tempfile.mkdtemp(prefix=".replaced-", dir=media_root))
    for child in list(media_root.iterdir()):
        if child not in (staged, replaced):
            child.rename(replaced / child.name)
    for child in list(staged.iterdir()):
        child.rename(media_root / child.name)
    staged.rmdir()
    shutil.rmtree(replaced)


def backup_restore(*, directory: Path, force: bool = False, progress: Progress = _silent) -> dict:
    """Restore a backup made by :func:`backup_create` into the ``default`` database and MEDIA_ROOT.

    The checksums are verified first. The database must be empty (no tables, views or sequences) and MEDIA_ROOT
    empty or absent, unless ``force``: then existing objects are dropped (``pg_restore --clean --if-exists``) and
    MEDIA_ROOT's contents replaced. The database is restored in one transaction (all or nothing), without the
    source's owners and grants. The media files are extracted first, beside the live ones, and swapped in by renames
    once the database is restored: a failure of either step leaves both database and MEDIA_ROOT as they were.
    Returns the manifest.

    Raises:
        BackupError: a damaged backup, a non-empty target without ``force``, no suitable pg_restore, the media
            archive could not be extracted, or pg_restore failed (database and media are then unchanged).
    """
    progress(f"Verifying checksums of {directory}")
    manifest = backup_verify(directory=directory)
    media_root = Path(settings.MEDIA_ROOT)
    facts = _server_facts()
    env, name = _connection_env()
    database_empty, media_empty = _database_is_empty(), not (media_root.is_dir() and any(media_root.iterdir()))
    if not force and not (database_empty and media_empty):
        where = f"database {name}" if not database_empty else f"MEDIA_ROOT {media_root}"
        raise BackupError(f"{where} is not empty: restore into an empty one, or pass --force to replace it")
    pg_restore, version = pg_tool("pg_restore", server_major=_major(str(facts["server"])))
    progress(f"Extracting media files next to {media_root}")
    staged, _ = _media_stage(directory / MEDIA_NAME, media_root, progress)
    try:
        progress(f"Restoring database {name} (PostgreSQL {facts['server']}) with {pg_restore} ({version})")
        started = time.monotonic()
        connections["default"].close()
        args = [pg_restore, "--no-owner", "--no-acl", "--single-transaction", "--exit-on-error", "--dbname", name]
        args += ["--clean", "--if-exists"] if force else []
        _run([*args, str(directory / DUMP_NAME)], env=env, what="pg_restore")
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    progress(f"  database: {time.monotonic() - started:.1f} s")
    progress(f"Replacing the media files in {media_root}")
    _media_swap(staged, media_root)
    progress(
        f"Restored the backup of {manifest['created_at']}; run `manage.py migrate` if it came from an older release"
    )
    return manifest
