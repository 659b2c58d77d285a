"""The drills' LLM provider: ``chat.testing.FakeLLM`` on loopback, whose behaviour for the mode ``drill`` a drill
switches while the stack runs (``behaviour``: ``ok``, ``slow``, ``e500``, ``e429``, ``hang``, ``malformed``,
``cut``), so one stack serves every drill."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from chat.testing import FakeLLM

MODE = "drill"
TIMEOUT_S = 5.0  # the provider's read timeout in the stack (s): a hang fails after it


class SwitchableLLM(FakeLLM):
    """``behaviour`` says what the ``drill`` mode answers now (``ok`` to start with)."""

    def __init__(self, *, hang_s: float = 8.0, first_token_s: float = 0.3, token_s: float = 0.3) -> None:
        super().__init__(hang_s=hang_s, first_token_s=first_token_s, token_s=token_s)
        self.behaviour = "ok"

    def handle(self, h: BaseHTTPRequestHandler, mode: str, body: dict[str, Any]) -> None:
        super().handle(h, self.behaviour if mode == MODE else mode, body)

    def answer(self, mode: str, body: dict[str, Any]) -> str:
        """As ``FakeLLM``, but a slow answer is long enough (about 30 words) to be cut mid-stream."""
        text = super().answer(mode, body)
        more = " The drill keeps this answer going for a while, word after word." * 3
        return text + more if mode == "slow" else text

    def stack_env(self) -> dict[str, str]:
        """The stack's LLM settings: this provider alone (one retry, ``TIMEOUT_S``); the offline answerer after it."""
        provider = self.provider(MODE, timeout_s=TIMEOUT_S, max_retries=1)
        return {"LLM_BASE_URL": "", "LLM_PROVIDERS": json.dumps([provider])}
