"""Benchmark answering: time to first token, provider overhead, and many streams at once through gunicorn.

    python manage.py bench_chat --squad ../shared/eval/squad-v1.1-dev/dev-v1.1.json
    python manage.py bench_chat --squad FILE --questions 200 --streams 50 --json

1. Time to first streamed token with the offline extractive answerer (in this process, through
   ``answer_stream``, retrieval and everything included): p50/p95/p99 in ms.
2. The same with an OpenAI-compatible provider on loopback (the test server, ``slow`` mode: it waits
   ``--provider-first-token-ms`` before its first token). The provider's own first-token time is measured
   by a bare client call; Groundwork's overhead is the difference (retrieval, prompt, client, parsing).
3. ``--streams`` streamed answers at once through a real gunicorn (``config/gunicorn.py``) from that slow
   provider, while another client probes ``/healthz`` and the search API every 100 ms: reports whether
   every stream finished and the probes' latency while they ran.

The paragraphs (the first ``--paragraphs`` of the SQuAD file) go into a scratch workspace, kept with
``--keep``; questions are that file's questions about those paragraphs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import override_settings

from accounts.models import Workspace
from accounts.services import api_token_create, workspace_create
from chat.answering import answer_stream
from chat.evaluation import read_squad
from chat.models import Conversation, Message
from chat.testing import FakeLLM
from config.progress import ProgressBar
from config.stats import percentiles
from documents.embeddings import forget_queries
from documents.services.lifecycle import document_delete
from retrieval.evaluation import load_corpus

BENCH_OWNER = "bench-chat@groundwork.local"


def _first_token_ms(workspace: Workspace, user: Any, question: str) -> tuple[float, str]:
    """Ask in a new conversation; ms from the call to the first ``token`` event, and who answered."""
    conversation = Conversation.objects.create(workspace=workspace, user=user, title=question[:80])
    message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=question)
    forget_queries()  # every run embeds its question anew
    started = time.perf_counter()
    first, provider = 0.0, ""
    for event in answer_stream(conversation=conversation, question=message):
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        owner, _ = get_user_model().objects.get_or_create(email=BENCH_OWNER)
        name = f"Benchmark: chat ({len(paragraphs)} paragraphs)"
        workspace = Workspace.objects.filter(name=name, memberships__user=owner).first() or workspace_create(
            owner=owner, name=name
        )
        fake = FakeLLM(first_token_s=opts["provider_first_token_ms"] / 1000, token_s=opts["provider_token_ms"] / 1000)
        try:
            load_corpus(workspace, paragraphs, progress=ProgressBar("ingesting paragraphs", self.stderr))
            report = self._measure(workspace, owner, asked, fake, opts)
        finally:
            fake.close()
            workspace.conversations.all().delete()
            if not opts["keep"]:
                for document in workspace.documents.all():
                    document_delete(document=document)
                workspace.delete()
        report["machine"] = {"cores": os.cpu_count(), "embedding_threads": settings.EMBEDDING_THREADS or "auto"}
        self.stdout.write(json.dumps(report, indent=None if opts["json"] else 2))

    def _measure(
        self, workspace: Workspace, owner: Any, asked: list[str], fake: FakeLLM, opts: dict[str, Any]
    ) -> dict[str, Any]:
        report: dict[str, Any] = {"questions": len(asked)}
        with override_settings(LLM_PROVIDERS=[]):
            _first_token_ms(workspace, owner, asked[0])  # warm the model and caches
            bar = ProgressBar("offline first token", self.stderr)
            offline = []
            for i, question in enumerate(asked, start=1):
                offline.append(_first_token_ms(workspace, owner, question)[0])
                bar(i, len(asked))
        report["offline_first_token_ms"] = percentiles(offline)

        provider = fake.provider("slow", timeout_s=30.0)
        with override_settings(LLM_PROVIDERS=[provider]):
            bare, ours = [], []
            bar = ProgressBar("provider first token", self.stderr)
            for i, question in enumerate(asked, start=1):
                bare.append(_bare_provider_first_token_ms(provider["base_url"]))
                ms, answered_by = _first_token_ms(workspace, owner, question)
                if answered_by == "slow":
                    ours.append(ms)
                bar(i, len(asked))
        report["provider_first_token_ms"] = percentiles(bare)
        report["groundwork_first_token_ms_with_provider"] = percentiles(ours)
        report["provider_overhead_ms"] = {
            k: round(percentiles(ours)[k] - percentiles(bare)[k], 1) for k in ("p50", "p95")
        }
        report["answered_by_provider"] = len(ours)
        if opts["streams"]:
            report["concurrent_streams"] = self._streams(workspace, owner, asked, provider, opts["streams"])
        return report

    def _streams(
        self, workspace: Workspace, owner: Any, asked: list[str], provider: dict[str, Any], count: int
    ) -> dict[str, Any]:
        """``count`` streamed answers at once through gunicorn, with probes of other requests meanwhile."""
        port = _free_port()
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
        base = f"http://127.0.0.1:{port}"
        _, token = api_token_create(user=owner)
        headers = {"Authorization": f"Bearer {token}"}
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise CommandError("gunicorn did not start")
                time.sleep(0.3)
            conversations = [
                httpx.post(
                    f"{base}/api/v1/conversations/", json={"workspace": workspace.pk}, headers=headers, timeout=30
                ).json()["id"]
                for _ in range(count)
            ]
            # warm every gunicorn process (model load) before the clock starts
            for _ in range(4):
                httpx.post(
                    f"{base}/api/v1/search/",
                    json={"workspace": workspace.pk, "query": asked[0]},
                    headers=headers,
                    timeout=60,
                )
            durations: list[float] = []
            finished: list[bool] = []
            probes: dict[str, list[float]] = {"healthz": [], "search": []}
            running = threading.Event()
            running.set()

            def stream(conversation_id: int, question: str) -> None:
                started = time.perf_counter()
                done = False
                with httpx.stream(
                    "POST",
                    f"{base}/api/v1/conversations/{conversation_id}/messages/",
                    headers=headers,
                    json={"content": question, "stream": True},
                    timeout=120,
                ) as response:
                    for line in response.iter_lines():
                        done = done or line == "event: done"
                durations.append((time.perf_counter() - started) * 1000)
                finished.append(done)

            def probe() -> None:
                with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                    while running.is_set():
                        t0 = time.perf_counter()
                        client.get("/healthz")
                        probes["healthz"].append((time.perf_counter() - t0) * 1000)
                        t0 = time.perf_counter()
                        client.post("/api/v1/search/", json={"workspace": workspace.pk, "query": "history of the city"})
                        probes["search"].append((time.perf_counter() - t0) * 1000)
                        time.sleep(0.1)

            prober = threading.Thread(target=probe)
            threads = [
                threading.Thread(target=stream, args=(c, asked[i % len(asked)])) for i, c in enumerate(conversations)
            ]
            started = time.perf_counter()
            prober.start()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(180)
            wall = time.perf_counter() - started
            running.clear()
            prober.join(60)
            return {
                "streams": count,
                "finished": sum(finished),
                "wall_s": round(wall, 2),
                "stream_ms": percentiles(durations),
                "healthz_ms_during": percentiles(probes["healthz"]),
                "search_ms_during": percentiles(probes["search"]),
            }
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
