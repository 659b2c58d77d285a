"""Traffic during a drill: a few user threads (one uploads small text files, one searches, one asks JSON
questions, one asks streamed questions) against the stack, each recording what its user saw (``Outcome``).

``Traffic.summary()`` says what users saw, by kind: status counts and the distinct error messages.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

from chat.drills.client import Outcome, UserClient

QUESTIONS = [
    "What did Lincoln say about the nation conceived in liberty?",
    "Why was the war fought, according to the second inaugural address?",
    "What is the purpose of the drill documents?",
    "Which words describe the reservoir maintenance schedule?",
]
PAUSE_S = {"upload": 1.5, "search": 0.5, "ask": 1.0, "stream": 1.0}  # between one user's requests
WORDS = [
    "river",
    "valve",
    "turbine",
    "reservoir",
    "pressure",
    "gauge",
    "inspection",
    "schedule",
    "crew",
    "report",
    "winter",
    "summer",
    "pump",
    "filter",
    "sediment",
    "channel",
    "spillway",
    "maintenance",
    "audit",
    "sensor",
    "calibration",
    "outage",
    "spare",
    "budget",
    "contractor",
    "permit",
]


def upload_text(nonce: str, paragraphs: int = 6) -> bytes:
    """A small text document, unique by ``nonce`` (uploads are deduplicated by their bytes)."""
    rng = random.Random(nonce)
    body = [" ".join(rng.choice(WORDS) for _ in range(60)).capitalize() + "." for _ in range(paragraphs)]
    return (f"Drill upload {nonce}\n\n" + "\n\n".join(body) + "\n").encode()


class Traffic:
    """Start with ``start()``, stop with ``stop()``; ``outcomes`` grows meanwhile (thread-safe appends).

    ``client_factory()`` makes one ``UserClient`` per thread; ``kinds`` picks the threads (default: all four).
    """

    def __init__(self, client_factory: Callable[[], UserClient], kinds: tuple[str, ...] = tuple(PAUSE_S)) -> None:
        self.client_factory = client_factory
        self.kinds = kinds
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for kind in self.kinds:
            thread = threading.Thread(target=self._run, args=(kind,), name=f"drill-{kind}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 60) -> None:
        """Stop the threads (each finishes its request in flight, at most ``client.TIMEOUT_S``)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, kind: str) -> None:
        client = self.client_factory()
        conversation: int | None = None
        try:
            for turn in itertools.count():
                if self._stop.is_set():
                    return
                if kind == "upload":
                    outcome = client.upload(f"drill-{uuid.uuid4().hex[:8]}.txt", upload_text(uuid.uuid4().hex))
                elif kind == "search":
                    outcome = client.search(QUESTIONS[turn % len(QUESTIONS)])
                elif conversation is None:
                    conversation, outcome = client.conversation(kind)  # its failure is what the user saw
                    if conversation is not None:
                        continue
                else:
                    outcome = self._ask(client, kind, conversation, QUESTIONS[turn % len(QUESTIONS)])
                    conversation = conversation if outcome.ok else None  # a fresh one after a failure
                self.outcomes.append(outcome)
                self._stop.wait(PAUSE_S[kind])
        finally:
            client.close()

    @staticmethod
    def _ask(client: UserClient, kind: str, conversation: int, question: str) -> Outcome:
        if kind == "stream":
            return client.stream(conversation, question)
        return client.ask(conversation, question)[0]

    def uploads(self) -> list[int]:
        """Ids of the documents whose upload was acknowledged (201, or 200 for the same bytes)."""
        return [o.document for o in self.outcomes if o.kind == "upload" and o.document is not None]

    def since(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.at >= moment]


def summary(outcomes: list[Outcome]) -> dict[str, dict[str, object]]:
    """By kind: ``{"seen": {label: count}, "messages": [distinct error details, at most 3], "unclear": n}``
    (``unclear``: errors not in the API's error shape, cut streams, no response)."""
    out: dict[str, dict[str, object]] = {}
    for kind in sorted({o.kind for o in outcomes}):
        mine = [o for o in outcomes if o.kind == kind]
        messages = list(dict.fromkeys(o.detail for o in mine if o.detail))[:3]
        out[kind] = {
            "seen": dict(Counter(o.seen for o in mine).most_common()),
            "messages": messages,
            "unclear": sum(1 for o in mine if not o.clear),
        }
    return out


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll ``predicate`` every ``interval`` s until it is true (True) or ``timeout`` s passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)  # a polling interval: each turn asks again
    return bool(predicate())
