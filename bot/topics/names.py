"""Other names for a new topic, proposed by the optional language model.

Stories about "Olympics doping" often say neither word ("drug test", "banned substance",
"Athens Games"). When LLM_BASE_URL and LLM_MODEL are set, newsbot asks the model, at
subscribe time, for the other names news stories use for each concept of the topic. They are
only offered: the subscriber taps the ones they want, as with the related words found in recent
stories, so nothing is matched by silent guessing. Without a model, or when it fails, nothing
is offered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Protocol

from bot.llm import ChatClient

MAX_NAMES = 4  # asked per concept; the offer keeps fewer after checking them

_SYSTEM_PROMPT = (
    "You help people follow news topics in a news alert service. For each concept of a topic, "
    "list other words or short phrases (1 to 3 words) that news headlines and summaries about "
    "the topic use instead of the concept's own words: other names, synonyms, and the specific "
    f"terms reporters use. At most {MAX_NAMES} per concept, most common first. Answer with one "
    'JSON object only, mapping each concept exactly as given to a list of strings, e.g. {"IPO": '
    '["share offering", "public offering"]}. No explanations.'
)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class TopicNamer(Protocol):
    """Proposes other names for each concept of a topic; an empty mapping when it cannot."""

    async def propose(self, topic: str, concepts: Sequence[str]) -> dict[str, list[str]]:
        """Other names per concept (keys as given), unchecked: callers filter them."""
        ...


class LlmTopicNamer:
    """A TopicNamer backed by a chat-completions model."""

    def __init__(self, chat: ChatClient) -> None:
        self._chat = chat  # its owner closes it

    async def propose(self, topic: str, concepts: Sequence[str]) -> dict[str, list[str]]:
        """The model's other names per concept, or {} on any failure."""
        if not concepts:
            return {}
        user = f"Topic: {topic}\nConcepts: {json.dumps(list(concepts), ensure_ascii=False)}"
        answer = await self._chat.ask(
            _SYSTEM_PROMPT, user, max_tokens=60 * len(concepts) + 40, purpose="topic names"
        )
        return {} if answer is None else parse_names(answer, concepts)


def parse_names(answer: str, concepts: Sequence[str]) -> dict[str, list[str]]:
    """Names per concept from a model's answer; whatever does not fit the shape is ignored."""
    text = _FENCE.sub("", answer.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return {}
    try:
        data = json.loads(text[start : end + 1])
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    wanted = {c.casefold(): c for c in concepts}
    out: dict[str, list[str]] = {}
    for key, names in data.items():
        concept = wanted.get(str(key).casefold())
        if concept is None or not isinstance(names, list):
            continue
        out[concept] = [n for n in names if isinstance(n, str)][:MAX_NAMES]
    return out
