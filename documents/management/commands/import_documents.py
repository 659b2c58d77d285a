"""Import files from the server's disk into a workspace: folders, and ZIP archives as folders.

    python manage.py import_documents /srv/share/policies --workspace 3 --recursive
    python manage.py import_documents reports.zip notes/ --workspace 3 --include '*.pdf' --exclude 'drafts/*'
    python manage.py import_documents /srv/share --workspace 3 --recursive --wait --user alice@example.com

Every file goes through the upload service (the same checks and limits as an upload, except the hourly upload
limit: this is an operator's action). A re-run imports only what is new: the same bytes are "unchanged", and a
changed file at a path imported before becomes a new version of its document. Progress goes to stderr, the summary
(with every refused file and its reason) to stdout.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Q

from accounts.models import Membership, User, Workspace
from config.logs import logger_level
from config.progress import ProgressBar, megabytes
from documents.models import Document
from documents.services.bulk_import import ImportSummary, Outcome, documents_import, import_sources

WAIT_POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = (
        "Import files and folders (and the files inside ZIP archives) into a workspace; re-runs add only what is new."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files, folders or ZIP archives")
        parser.add_argument("--workspace", type=int, required=True, help="the workspace's id")
        parser.add_argument("--recursive", action="store_true", help="also the files in sub-folders")
        parser.add_argument(
            "--include", action="append", default=[], metavar="GLOB", help="only matching files (path or name)"
        )
        parser.add_argument(
            "--exclude", action="append", default=[], metavar="GLOB", help="leave matching files out (path or name)"
        )
        parser.add_argument("--wait", action="store_true", help="follow ingestion until every imported file is done")
        parser.add_argument("--user", metavar="EMAIL", help="record this member of the workspace as the uploader")

    def handle(self, *args: Any, **opts: Any) -> None:
        # a line per document (and per task sent) would drown the bar; the levels are given back after
        with logger_level("documents", logging.WARNING), logger_level("django_structlog", logging.WARNING):
            self._run(**opts)

    def _run(self, **opts: Any) -> None:
        workspace = Workspace.objects.filter(pk=opts["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace {opts['workspace']}.")
        user = self._user(opts["user"], workspace)
        walk = import_sources(
            opts["paths"], recursive=opts["recursive"], include=opts["include"], exclude=opts["exclude"]
        )
        files = len(walk.sources)
        self.stderr.write(f"{files:,} files ({megabytes(sum(s.size for s in walk.sources))}) to import.")
        bar = ProgressBar("importing", self.stderr, unit=megabytes)
        started = time.monotonic()
        summary = documents_import(
            workspace=workspace,
            user=user,
            walk=walk,
            progress=lambda done, read, total: bar(read, total, note=f"{done:,}/{files:,} files"),
        )
        seconds = time.monotonic() - started
        self._report(summary, workspace, files, seconds, walk.excluded, walk.folders_skipped)
        if summary.interrupted:
            raise CommandError("Interrupted; run the same command again to import the rest.")
        if opts["wait"] and summary.queued_ids:
            self._wait(summary.queued_ids)

    def _user(self, email: str | None, workspace: Workspace) -> User | None:
        if not email:
            return None
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None or not Membership.objects.filter(user=user, workspace=workspace).exists():
            raise CommandError(f"{email} is not a member of workspace {workspace.pk}.")
        assert isinstance(user, User)
        return user

    def _report(
        self, summary: ImportSummary, workspace: Workspace, files: int, seconds: float, excluded: int, skipped: int
    ) -> None:
        counts = summary.counts
        rate = f"{files / seconds:.1f} files/s, {summary.bytes_read / 1_000_000 / seconds:.1f} MB/s" if seconds else ""
        self.stdout.write(
            f"Import into “{workspace.name}” ({workspace.pk}): {files:,} files in {seconds:.1f} s ({rate})"
        )
        for outcome in Outcome:
            self.stdout.write(f"  {outcome.value + ':':<13} {counts[outcome]:,}")
        if excluded:
            self.stdout.write(f"  left out by --include/--exclude: {excluded:,}")
        if skipped:
            self.stdout.write(f"  sub-folders not read (no --recursive): {skipped:,}")
        for path, reason in summary.refused:
            self.stdout.write(f"refused: {path}: {reason}")

    def _wait(self, ids: list[int]) -> int:
        """Follow ingestion of ``ids`` and of the attachments they bring (e-mail messages) until each is ready or
        failed; print the failures; return how many failed."""
        self.stderr.write("Waiting for ingestion (Ctrl-C stops waiting; ingestion goes on in the workers).")
        bar = ProgressBar("ingesting", self.stderr)
        watched = Document.objects.filter(Q(pk__in=ids) | Q(parent_id__in=ids))
        try:
            while True:
                by_status = dict(watched.values_list("status").annotate(n=Count("pk")).order_by())
                ready, failed = by_status.get(Document.Status.READY, 0), by_status.get(Document.Status.FAILED, 0)
                total = sum(by_status.values())
                bar(ready + failed, total, note=f"ready {ready:,}, failed {failed:,}")
                if ready + failed == total:
                    break
                time.sleep(WAIT_POLL_SECONDS)
        except KeyboardInterrupt:
            self.stderr.write("\nStopped waiting; ingestion goes on.")
        failures = watched.filter(status=Document.Status.FAILED).values_list("source_path", "title", "error")
        for source_path, title, error in failures:
            self.stdout.write(f"failed: {source_path or title}: {error}")
        self.stdout.write(f"Ingestion: {ready:,} ready, {failed:,} failed of {total:,}.")
        return failed
