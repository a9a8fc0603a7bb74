"""A small client for an OpenAI-compatible chat-completions endpoint (optional everywhere).

newsbot asks a language model for two things when LLM_BASE_URL and LLM_MODEL are set: story
summaries (bot.stories.llm) and other names for a new topic (bot.topics.names). Every failure
(timeout, refused connection, HTTP error, malformed or empty answer) gives None and a log line
without the API key, so each caller falls back to what newsbot does without a model.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

logger = logging.getLogger(__name__)


class ChatClient:
    """One model behind one chat-completions URL; ``ask`` answers text or None."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def payload(self, system: str, user: str, *, max_tokens: int) -> dict[str, Any]:
        """The request body for one system and one user message."""
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0.2,
            "max_tokens": max_tokens,
        }

    async def ask(self, system: str, user: str, *, max_tokens: int, purpose: str) -> str | None:
        """The model's answer text, or None (logged, with ``purpose``) on any failure."""
        body = self.payload(system, user, max_tokens=max_tokens)
        try:
            response = await self._client.post(self.url, json=body)
        except httpx.TimeoutException:
            logger.warning("llm %s timed out model=%s", purpose, self.model)
            return None
        except httpx.HTTPError as exc:
            error = type(exc).__name__
            logger.warning("llm %s failed model=%s error=%s", purpose, self.model, error)
            return None
        if response.status_code != 200:
            logger.warning(
                "llm %s http error model=%s status=%s", purpose, self.model, response.status_code
            )
            return None
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            logger.warning("llm %s malformed answer model=%s", purpose, self.model)
            return None
        return content

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
