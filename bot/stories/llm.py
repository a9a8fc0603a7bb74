"""Optional abstractive summaries from an OpenAI-compatible chat-completions endpoint.

Every failure (timeout, HTTP error, malformed or empty answer, far too long answer) gives None,
so the caller falls back to the extractive summary. The API key never appears in a log line.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from bot.stories.summarize import cut_at_sentence

logger = logging.getLogger(__name__)

# Article text sent to the model is capped: the lead carries the news, and prompts stay cheap.
MAX_INPUT_CHARS = 6000
# An answer up to this many times the budget is cut to whole sentences; a longer one is ignored.
OVERLONG_FACTOR = 1.5

_SYSTEM_PROMPT = (
    "You summarize news articles. Write a neutral, factual summary of 1 to 3 sentences in the "
    "same language as the article, at most {budget} characters. No opinions, no preamble, no "
    "headline, no markdown: answer with the summary text only."
)


class LlmSummarizer:
    """Asks a chat-completions model for a short neutral summary; None on any failure."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def _payload(self, title: str, text: str, language: str | None, budget: int) -> dict[str, Any]:
        """The chat-completions request body."""
        lang_hint = f"Article language: {language}.\n" if language else ""
        user = f"{lang_hint}Title: {title}\n\n{text[:MAX_INPUT_CHARS]}"
        return {
            "model": self._model,
            "messages": [
                {"role": "system", "content": _SYSTEM_PROMPT.format(budget=budget)},
                {"role": "user", "content": user},
            ],
            "temperature": 0.2,
            # Roughly 3 characters per token leaves room for a slightly long answer to cut.
            "max_tokens": max(32, budget // 2),
        }

    async def summarize(
        self, *, title: str, text: str, language: str | None, budget: int
    ) -> str | None:
        """A 1-3 sentence summary within ``budget`` chars, or None so the caller falls back."""
        if budget <= 0 or not (title.strip() or text.strip()):
            return None
        try:
            response = await self._client.post(
                self._url, json=self._payload(title, text, language, budget)
            )
        except httpx.TimeoutException:
            logger.warning("llm summary timed out model=%s", self._model)
            return None
        except httpx.HTTPError as exc:
            logger.warning("llm summary failed model=%s error=%s", self._model, type(exc).__name__)
            return None
        if response.status_code != 200:
            logger.warning(
                "llm summary http error model=%s status=%s", self._model, response.status_code
            )
            return None
        return self._read_answer(response, budget)

    def _read_answer(self, response: httpx.Response, budget: int) -> str | None:
        """The summary from a chat-completions response, or None when unusable."""
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            logger.warning("llm summary malformed answer model=%s", self._model)
            return None
        if not isinstance(content, str):
            logger.warning("llm summary malformed answer model=%s", self._model)
            return None
        answer = " ".join(content.split()).strip().strip('"“”')
        if not answer:
            return None
        if len(answer) > budget * OVERLONG_FACTOR:
            logger.warning(
                "llm summary overlong model=%s chars=%s budget=%s", self._model, len(answer), budget
            )
            return None
        if len(answer) > budget:
            answer = cut_at_sentence(answer, budget)
        return answer or None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
