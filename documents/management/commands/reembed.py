"""``manage.py reembed``: re-embed workspaces by the configured embedding variant (or ``--variant``).

    python manage.py reembed                      # every workspace whose vectors are of another variant's space
    python manage.py reembed --workspace 12       # one workspace
    python manage.py reembed --variant static     # by another variant than EMBEDDING_VARIANT
    python manage.py reembed --background         # queue the jobs for the workers instead, and return

Runs the jobs here, one after another, with a progress bar (chunks done, ETA), search meanwhile served from the old
vectors (``documents.services.reembed``). Interrupted (Ctrl-C, a crash), it resumes where it stopped when run again,
or a worker's sweep takes the job over after ``REEMBED_LEASE_SECONDS``. A job a worker is running is followed
here until it ends.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Workspace
from config.progress import ProgressBar
from documents.embedding_variants import VARIANTS, configured_variant
from documents.models import ReembedJob
from documents.services.reembed import reembed_enqueue, reembed_needed, reembed_slice, reembed_start


class Command(BaseCommand):
    help = "Re-embed workspaces by the configured embedding variant (see the module docstring)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", type=int, help="only this workspace (by id)")
        parser.add_argument("--variant", choices=list(VARIANTS), help="default: EMBEDDING_VARIANT as resolved")
        parser.add_argument("--background", action="store_true", help="queue the jobs for the workers and return")

    def handle(self, *args: Any, workspace: int | None, variant: str | None, background: bool, **opts: Any) -> None:
        target = variant or configured_variant()
        if workspace is not None:
            if not Workspace.objects.filter(pk=workspace).exists():
                raise CommandError(f"No workspace {workspace}.")
            ids = [workspace]
        elif variant:
            ids = list(Workspace.objects.order_by("pk").values_list("pk", flat=True))
        else:
            ids = reembed_needed()
            ids += ReembedJob.objects.filter(status__in=ReembedJob.UNFINISHED).values_list("workspace_id", flat=True)
        jobs = []
        for workspace_id in sorted(set(ids)):
            job = reembed_start(workspace_id=workspace_id, target=target, requested_by="manage.py reembed")
            if job is None:
                self.stdout.write(f"workspace {workspace_id}: already {target}'s kind of vectors (or none)")
            else:
                jobs.append(job)
        if not jobs:
            self.stdout.write("Nothing to re-embed.")
            return
        if background:
            queued = sum(reembed_enqueue(job) for job in jobs)  # a job a worker runs already is left to it
            self.stdout.write(f"Queued {queued} re-embedding job(s) for the workers ({len(jobs) - queued} running).")
            return
        for job in jobs:
            self._run(job)

    def _run(self, job: ReembedJob) -> None:
        bar = ProgressBar(f"workspace {job.workspace_id}", self.stderr)
        owner = uuid.uuid4().hex
        while True:
            job = reembed_slice(job.pk, owner=owner, on_batch=lambda j: bar(j.chunks_done, max(j.chunks_total, 1)))
            if job.status in (ReembedJob.Status.DONE, ReembedJob.Status.FAILED):
                break
            if job.lease_owner != owner:  # a worker holds it: follow its progress
                bar(job.chunks_done, max(job.chunks_total, 1), "(a worker runs it)")
                time.sleep(1)  # a polling interval, not synchronisation: the loop re-reads the job
        if job.status == ReembedJob.Status.FAILED:
            raise CommandError(f"workspace {job.workspace_id}: re-embedding failed: {job.error}")
        bar(job.chunks_total, max(job.chunks_total, 1))
        seconds = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else 0.0
        done = f"{job.chunks_done} chunks re-embedded by {job.target_variant}"
        self.stdout.write(f"workspace {job.workspace_id}: {done} in {seconds:.1f} s")
