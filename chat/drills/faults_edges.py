"""The drills at the edges: the LLM provider misbehaving, the media disk full, a web process killed mid-stream."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
from django.conf import settings

from chat.drills.client import Outcome
from chat.drills.runner import Context, DrillResult, finish, recovery, start
from chat.drills.traffic import QUESTIONS, upload_text

LLM_BEHAVIOURS = ("slow", "hang", "e500", "e429", "malformed", "cut")
DISK_BYTES = 2 * 1024 * 1024  # the full disk: a tmpfs this large
DISK_FILE_PARAGRAPHS = 800  # about 400 kB per upload: the disk is full after a few


def llm_faults(ctx: Context) -> DrillResult:
    """The provider slow, hanging past its timeout, answering 500 or 429, sending garbage, cutting its stream:
    each for ``llm_hold_s`` under questions (JSON and streamed). Recovered when answers come from it again
    (its circuit breaker closes after ``LLM_CIRCUIT_COOLDOWN_S``)."""
    hold = ctx.options.llm_hold_s
    result = DrillResult("llm faults", "LLM provider " + ", ".join(LLM_BEHAVIOURS) + f" ({hold:g} s each)")
    traffic, started = start(ctx, result.name, ("ask", "stream", "search"))
    for behaviour in LLM_BEHAVIOURS:
        ctx.say(f"{result.name}: provider {behaviour}")
        ctx.llm.behaviour = behaviour
        time.sleep(ctx.options.llm_hold_s)  # the fault's duration, not a synchronisation
    ctx.llm.behaviour = "ok"
    removed = time.monotonic()
    result.recovery_s = recovery(ctx, removed, lambda: _answered_by_llm(ctx))
    return finish(ctx, result, traffic, started)


def _answered_by_llm(ctx: Context) -> bool:
    client = ctx.client()
    try:
        conversation, _ = client.conversation()
        return conversation is not None and client.ask(conversation, QUESTIONS[0])[0].seen == "201 llm"
    finally:
        client.close()


def _mount(directory: Path) -> str:
    """Mount a ``DISK_BYTES`` tmpfs on ``directory``; "" or why it could not be."""
    directory.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(directory)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return str(exc)
    return "" if done.returncode == 0 else (done.stderr.strip() or f"mount exited with {done.returncode}")


def _unmount(directory: Path) -> None:
    """Move what the tmpfs holds aside, unmount it and put the files back on the real disk (as an operator
    who grows the volume would keep them)."""
    with tempfile.TemporaryDirectory(prefix="gw-drill-disk-") as aside:
        for path in directory.iterdir():
            shutil.copy2(path, aside)
        subprocess.run(["umount", str(directory)], check=True, timeout=60)
        for path in Path(aside).iterdir():
            shutil.copy2(path, directory)


def disk_full(ctx: Context) -> DrillResult:
    """Uploads into a workspace whose upload folder is a 2 MB tmpfs, until it is full; then room again."""
    result = DrillResult("disk full", "media disk full (2 MB tmpfs on the workspace's upload folder)")
    directory = Path(settings.MEDIA_ROOT) / "uploads" / str(ctx.tenant.disk_workspace)
    why = _mount(directory)
    if why:
        result.skipped = f"could not mount a tmpfs ({why}): run as root on Linux for this drill"
        return result
    traffic, started = start(ctx, result.name, ("search", "ask"))
    client = ctx.client(ctx.tenant.disk_workspace)
    try:
        for _ in range(12):
            content = upload_text(uuid.uuid4().hex, DISK_FILE_PARAGRAPHS)
            outcome = client.upload(f"drill-disk-{uuid.uuid4().hex[:8]}.txt", content)
            traffic.outcomes.append(outcome)
            if not outcome.ok:
                break
    finally:
        _unmount(directory)
    removed = time.monotonic()
    result.recovery_s = recovery(ctx, removed, lambda: _upload_works(ctx, client, traffic))
    client.close()
    return finish(ctx, result, traffic, started)


def _upload_works(ctx: Context, client: Any, traffic: Any) -> bool:
    outcome = client.upload(f"drill-disk-{uuid.uuid4().hex[:8]}.txt", upload_text(uuid.uuid4().hex, 50))
    traffic.outcomes.append(outcome)
    return bool(outcome.ok)


def _serving(ctx: Context, response: httpx.Response) -> psutil.Process | None:
    """The gunicorn worker holding the client's connection (matched by the client's port)."""
    client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    for worker in ctx.stack.web_workers():
        with contextlib.suppress(psutil.Error):
            for conn in worker.net_connections("tcp"):
                if conn.raddr and conn.raddr.port == client_port and conn.laddr.port == ctx.stack.port:
                    return worker
    return None


def web_kill(ctx: Context) -> DrillResult:
    """SIGKILL the gunicorn worker serving a slow streamed answer at its first token; the arbiter respawns it."""
    result = DrillResult("web kill", "kill -9 of the web process serving a streamed answer", unclear_allowed=True)
    ctx.llm.behaviour = "slow"
    workers = len(ctx.stack.web_workers())
    traffic, started = start(ctx, result.name, ("search", "ask"))
    killed: list[int] = []

    def kill(response: httpx.Response) -> None:
        worker = _serving(ctx, response)
        if worker is not None:
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.pid)

    client = ctx.client()
    conversation, _ = client.conversation()
    outcome = Outcome("stream", 0, "no conversation", clear=False)
    if conversation is not None:
        outcome = client.stream(conversation, QUESTIONS[0], on_token=kill)
    client.close()
    traffic.outcomes.append(outcome)
    result.notes.append(f"killed web process {killed or 'none found'}; the streaming client saw {outcome.seen}")
    ctx.llm.behaviour = "ok"
    removed = time.monotonic()
    result.recovery_s = recovery(ctx, removed, lambda: len(ctx.stack.web_workers()) >= workers)
    if not killed:
        result.checks["web process"] = ["no web process was found serving the stream"]
    return finish(ctx, result, traffic, started)
