"""Benchmark answering: time to first token, provider overhead, and many streams at once through gunicorn.

    python manage.py bench_chat --squad ../shared/eval/squad-v1.1-dev/dev-v1.1.json
    python manage.py bench_chat --squad FILE --questions 200 --streams 50 --json

1. Time to first streamed token with the offline extractive answerer (in this process, through
   ``message_answer``, retrieval and everything included): p50/p95/p99 in ms.
2. The same with an OpenAI-compatible provider on loopback (the test server, ``slow`` mode: it waits
   ``--provider-first-token-ms`` before its first token). The provider's own first-token time is measured
   by a bare client call; Groundwork's overhead is the difference (retrieval, prompt, client, parsing).
3. ``--streams`` streamed answers at once through a real gunicorn (``config/gunicorn.py``) from that slow
   provider, while another client probes ``/healthz`` and the search API every 100 ms: reports whether
   every stream finished and the probes' latency while they ran.

The paragraphs (the first ``--paragraphs`` of the SQuAD file) go into a scratch workspace
(``documents.scratch``), kept with ``--keep``; questions are that file's questions about those paragraphs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import override_settings

from accounts.models import User, Workspace
from accounts.services.api_tokens import api_token_create
from chat.evaluation import conversations_delete, read_squad
from chat.loadtest.stack import free_port
from chat.models import Conversation, Message
from chat.services import message_answer
from chat.testing import FakeLLM
from config.progress import ProgressBar
from config.stats import percentiles
from documents.scratch import Scratch, scratch_workspace
from documents.vector_cache import fresh_query_cache
from retrieval.evaluation import load_corpus

BENCH_OWNER = "bench-chat@groundwork.local"


def _first_token_ms(workspace: Workspace, user: User, question: str) -> tuple[float, str]:
    """Ask in a new conversation; ms from the call to the first ``token`` event, and who answered."""
    conversation = Conversation.objects.create(workspace=workspace, user=user, title=question[:80])
    message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=question)
    first, provider = 0.0, ""
    with fresh_query_cache():  # every run embeds its question anew
        started = time.perf_counter()
        for event in message_answer(conversation=conversation, question=message):
            if event.name == "token" and not first:
                first = (time.perf_counter() - started) * 1000
            elif event.name == "done":
                provider = event.data["provider"]
    return first, provider


def _bare_provider_first_token_ms(url: str) -> float:
    """The provider's own first-token time: one streamed request, no Groundwork code in between."""
    body = {
        "model": "fake",
        "stream": True,
        "messages": [{"role": "user", "content": '<source id="1">\nA b.\n</source>'}],
    }
    started = time.perf_counter()
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=30) as response:
        for line in response.iter_lines():
            if '"content"' in line:
                return (time.perf_counter() - started) * 1000
    raise CommandError("the loopback provider sent no token")


def _gunicorn(provider: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    """A real gunicorn (``config/gunicorn.py``) on a free loopback port, answering with ``provider``;
    returns the process and its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "LLM_BASE_URL": provider["base_url"],
        "LLM_MODEL": provider["model"],
        "LLM_NAME": "slow",
        "LLM_TIMEOUT_S": "30",
        "CHAT_QUESTIONS_PER_DAY_USER": "1000000",
        "CHAT_QUESTIONS_PER_DAY_WORKSPACE": "1000000",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return server, f"http://127.0.0.1:{port}"


def _wait_until_up(server: subprocess.Popen[bytes], base: str, timeout: float = 60.0) -> None:
    """Return once ``/healthz`` answers 200. Raises CommandError if gunicorn exits or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise CommandError("gunicorn did not start")
        time.sleep(0.3)  # a polling interval: the loop asks the server again


@dataclass
class _Load:
    """Concurrent streamed answers through the API, with probes of other requests while they run."""

    base: str
    headers: dict[str, str]
    workspace_id: int
    durations: list[float] = field(default_factory=list)
    finished: list[bool] = field(default_factory=list)
    probes: dict[str, list[float]] = field(default_factory=lambda: {"healthz": [], "search": []})
    running: threading.Event = field(default_factory=threading.Event)

    def stream(self, conversation_id: int, question: str) -> None:
        """Ask ``question`` streamed; record the duration (ms) and whether the ``done`` event came."""
        started = time.perf_counter()
        done = False
        with httpx.stream(
            "POST",
            f"{self.base}/api/v1/conversations/{conversation_id}/messages/",
            headers=self.headers,
            json={"content": question, "stream": True},
            timeout=120,
        ) as response:
            for line in response.iter_lines():
                done = done or line == "event: done"
        self.durations.append((time.perf_counter() - started) * 1000)
        self.finished.append(done)

    def probe(self) -> None:
        """Every 100 ms while ``running``: time a ``/healthz`` and a search request."""
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as client:
            while self.running.is_set():
                t0 = time.perf_counter()
                client.get("/healthz")
                self.probes["healthz"].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                client.post("/api/v1/search/", json={"workspace": self.workspace_id, "query": "history of the city"})
                self.probes["search"].append((time.perf_counter() - t0) * 1000)
                time.sleep(0.1)  # the probe interval

    def run(self, conversations: list[int], asked: list[str]) -> dict[str, Any]:
        """One stream per conversation (questions in turn), all at once, with the prober alongside."""
        prober = threading.Thread(target=self.probe)
        threads = [
            threading.Thread(target=self.stream, args=(c, asked[i % len(asked)])) for i, c in enumerate(conversations)
        ]
        started = time.perf_counter()
        self.running.set()
        prober.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        wall = time.perf_counter() - started
        self.running.clear()
        prober.join(60)
        return {
            "streams": len(conversations),
            "finished": sum(self.finished),
            "wall_s": round(wall, 2),
            "stream_ms": percentiles(self.durations),
            "healthz_ms_during": percentiles(self.probes["healthz"]),
            "search_ms_during": percentiles(self.probes["search"]),
        }


def _streams(
    workspace: Workspace, owner: User, asked: list[str], provider: dict[str, Any], count: int
) -> dict[str, Any]:
    """``count`` streamed answers at once through gunicorn, with probes of other requests meanwhile."""
    server, base = _gunicorn(provider)
    _, token = api_token_create(user=owner)
    load = _Load(base=base, headers={"Authorization": f"Bearer {token}"}, workspace_id=workspace.pk)
    try:
        _wait_until_up(server, base)
        conversations = [
            httpx.post(
                f"{base}/api/v1/conversations/", json={"workspace": workspace.pk}, headers=load.headers, timeout=30
            ).json()["id"]
            for _ in range(count)
        ]
        for _ in range(4):  # warm every gunicorn process (model load) before the clock starts
            httpx.post(
                f"{base}/api/v1/search/",
                json={"workspace": workspace.pk, "query": asked[0]},
                headers=load.headers,
                timeout=60,
            )
        return load.run(conversations, asked)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


def _first_tokens(workspace: Workspace, owner: User, asked: list[str], bar: ProgressBar) -> list[float]:
    """ms to the first token of each question, answered by whatever ``LLM_PROVIDERS`` says now."""
    values = []
    for i, question in enumerate(asked, start=1):
        values.append(_first_token_ms(workspace, owner, question)[0])
        bar(i, len(asked))
    return values


def _with_provider(workspace: Workspace, owner: User, asked: list[str], url: str, bar: ProgressBar) -> dict[str, Any]:
    """The provider's bare first-token time and ours through it (only questions it answered)."""
    bare, ours = [], []
    for i, question in enumerate(asked, start=1):
        bare.append(_bare_provider_first_token_ms(url))
        ms, answered_by = _first_token_ms(workspace, owner, question)
        if answered_by == "slow":
            ours.append(ms)
        bar(i, len(asked))
    return {
        "provider_first_token_ms": percentiles(bare),
        "groundwork_first_token_ms_with_provider": percentiles(ours),
        "provider_overhead_ms": {k: round(percentiles(ours)[k] - percentiles(bare)[k], 1) for k in ("p50", "p95")},
        "answered_by_provider": len(ours),
    }


class Command(BaseCommand):
    help = "Benchmark time to first token (offline and with a provider) and concurrent streamed answers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--squad",
            type=Path,
            default=settings.BASE_DIR.parent / "shared" / "eval" / "squad-v1.1-dev" / "dev-v1.1.json",
        )
        parser.add_argument("--paragraphs", type=int, default=300)
        parser.add_argument("--questions", type=int, default=100)
        parser.add_argument("--streams", type=int, default=50, help="concurrent streamed answers (0: skip)")
        parser.add_argument("--provider-first-token-ms", type=float, default=200.0)
        parser.add_argument("--provider-token-ms", type=float, default=100.0)
        parser.add_argument("--keep", action="store_true", help="keep the scratch workspace")
        parser.add_argument("--json", action="store_true", help="print only JSON on stdout")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not opts["squad"].is_file():
            raise CommandError(f"{opts['squad']} not found (the SQuAD v1.1 dev file).")
        paragraphs, questions = read_squad(opts["squad"])
        paragraphs = paragraphs[: opts["paragraphs"]]
        known = {pid for pid, _, _ in paragraphs}
        asked = [q.question for q in questions if q.paragraph_id in known][: opts["questions"]]
        if not asked:
            raise CommandError("No question about the loaded paragraphs (raise --paragraphs).")
        name = f"Benchmark: chat ({len(paragraphs)} paragraphs)"
        fake = FakeLLM(first_token_s=opts["provider_first_token_ms"] / 1000, token_s=opts["provider_token_ms"] / 1000)
        try:
            with scratch_workspace(
                owner_email=BENCH_OWNER, name=name, keep=opts["keep"], cleanup=conversations_delete
            ) as scratch:
                load_corpus(scratch.workspace, paragraphs, progress=ProgressBar("ingesting paragraphs", self.stderr))
                report = self._measure(scratch, asked, fake, opts["streams"])
        finally:
            fake.close()
        report["machine"] = {"cores": os.cpu_count(), "embedding_threads": settings.EMBEDDING_THREADS or "auto"}
        self.stdout.write(json.dumps(report, indent=None if opts["json"] else 2))

    def _measure(self, scratch: Scratch, asked: list[str], fake: FakeLLM, streams: int) -> dict[str, Any]:
        workspace, owner = scratch.workspace, scratch.owner
        report: dict[str, Any] = {"questions": len(asked)}
        with override_settings(LLM_PROVIDERS=[]):
            _first_token_ms(workspace, owner, asked[0])  # warm the model and caches
            offline = _first_tokens(workspace, owner, asked, ProgressBar("offline first token", self.stderr))
        report["offline_first_token_ms"] = percentiles(offline)
        provider = fake.provider("slow", timeout_s=30.0)
        with override_settings(LLM_PROVIDERS=[provider]):
            bar = ProgressBar("provider first token", self.stderr)
            report.update(_with_provider(workspace, owner, asked, provider["base_url"], bar))
        if streams:
            report["concurrent_streams"] = _streams(workspace, owner, asked, provider, streams)
        return report
