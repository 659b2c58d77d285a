"""Chat and LLM settings (part of ``config.settings.base``): the provider chain, retries, the circuit breaker,
answer limits and daily quotas. See .env.example for every variable."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import env


def _provider_name(base_url: str, position: int) -> str:
    """The name users see for an unnamed provider: its host name only (never a path, query or credentials
    embedded in the URL), or its position in LLM_PROVIDERS."""
    host = urlsplit(base_url).hostname
    return f"{host} ({position})" if host else f"provider {position}"


def _llm_providers() -> list[dict[str, object]]:
    """The ordered provider chain: ``LLM_BASE_URL``/``LLM_API_KEY``/``LLM_MODEL`` first (if set), then the
    JSON list ``LLM_PROVIDERS`` (``[{"name", "base_url", "api_key", "model", "timeout_s"?, "max_retries"?}]``).
    Empty: answers come from the offline extractive answerer."""
    chain: list[dict[str, object]] = []
    if env.str("LLM_BASE_URL", default=""):
        chain.append(
            {
                "name": env.str("LLM_NAME", default="primary"),
                "base_url": env.str("LLM_BASE_URL"),
                "api_key": env.str("LLM_API_KEY", default=""),
                "model": env.str("LLM_MODEL", default=""),
                "timeout_s": env.float("LLM_TIMEOUT_S", default=30.0),
                "max_retries": env.int("LLM_MAX_RETRIES", default=2),
            }
        )
    try:
        extra = json.loads(env.str("LLM_PROVIDERS", default="") or "[]")
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"LLM_PROVIDERS is not valid JSON: {exc}") from exc
    for position, item in enumerate(extra if isinstance(extra, list) else [None], start=1):
        if not isinstance(item, dict) or not item.get("base_url") or not item.get("model"):
            raise ImproperlyConfigured("Each LLM_PROVIDERS entry needs at least base_url and model.")
        chain.append({"api_key": "", **item, "name": item.get("name") or _provider_name(item["base_url"], position)})
    for item in chain:
        if not item["model"]:
            raise ImproperlyConfigured(f"LLM provider {item['name']} has no model (LLM_MODEL).")
    return chain


LLM_PROVIDERS = _llm_providers()
LLM_CIRCUIT_FAILURES = env.int("LLM_CIRCUIT_FAILURES", default=3)  # consecutive failures that open the circuit
LLM_CIRCUIT_COOLDOWN_S = env.int("LLM_CIRCUIT_COOLDOWN_S", default=60)
LLM_RETRY_INITIAL_S = env.float("LLM_RETRY_INITIAL_S", default=0.5)
LLM_RETRY_MAX_S = env.float("LLM_RETRY_MAX_S", default=4.0)
LLM_MAX_ANSWER_TOKENS = env.int("LLM_MAX_ANSWER_TOKENS", default=600)
CHAT_MESSAGE_MAX_CHARS = env.int("CHAT_MESSAGE_MAX_CHARS", default=4000)  # a question longer than this: 400
CHAT_SOURCES = env.int("CHAT_SOURCES", default=5)  # chunks given to the model as numbered sources
CHAT_MIN_RELEVANCE = env.float("CHAT_MIN_RELEVANCE", default=0.25)  # best cosine below this: "not covered"
CHAT_MIN_CITATION_SUPPORT = env.float("CHAT_MIN_CITATION_SUPPORT", default=0.5)
CHAT_EXTRACTIVE_MAX_WORDS = env.int("CHAT_EXTRACTIVE_MAX_WORDS", default=70)  # about 57 on average (SQuAD)
CHAT_QUESTIONS_PER_DAY_USER = env.int("CHAT_QUESTIONS_PER_DAY_USER", default=500)
CHAT_QUESTIONS_PER_DAY_WORKSPACE = env.int("CHAT_QUESTIONS_PER_DAY_WORKSPACE", default=5000)
CHAT_TOKENS_PER_DAY_USER = env.int("CHAT_TOKENS_PER_DAY_USER", default=500_000)
CHAT_TOKENS_PER_DAY_WORKSPACE = env.int("CHAT_TOKENS_PER_DAY_WORKSPACE", default=5_000_000)
