"""Optional abstractive summaries from an OpenAI-compatible chat-completions endpoint.

Every failure (timeout, HTTP error, malformed or empty answer, far too long answer) gives None,
so the caller falls back to the extractive summary. The API key never appears in a log line.
"""

from __future__ import annotations

import logging

from bot.llm import ChatClient
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

    def __init__(self, chat: ChatClient) -> None:
        self._chat = chat  # its owner closes it

    async def summarize(
        self, *, title: str, text: str, language: str | None, budget: int
    ) -> str | None:
        """A 1-3 sentence summary within ``budget`` chars, or None so the caller falls back."""
        if budget <= 0 or not (title.strip() or text.strip()):
            return None
        lang_hint = f"Article language: {language}.\n" if language else ""
        content = await self._chat.ask(
            _SYSTEM_PROMPT.format(budget=budget),
            f"{lang_hint}Title: {title}\n\n{text[:MAX_INPUT_CHARS]}",
            # Roughly 3 characters per token leaves room for a slightly long answer to cut.
            max_tokens=max(32, budget // 2),
            purpose="summary",
        )
        return None if content is None else self._read_answer(content, budget)

    def _read_answer(self, content: str, budget: int) -> str | None:
        """The summary in a model's answer, or None when unusable."""
        answer = " ".join(content.split()).strip().strip('"“”')
        if not answer:
            return None
        if len(answer) > budget * OVERLONG_FACTOR:
            logger.warning(
                "llm summary overlong model=%s chars=%s budget=%s",
                self._chat.model,
                len(answer),
                budget,
            )
            return None
        if len(answer) > budget:
            answer = cut_at_sentence(answer, budget)
        return answer or None
