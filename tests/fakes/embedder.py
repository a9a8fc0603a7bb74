"""A deterministic stand-in for the sentence-embedding model: bags of words hashed to vectors.

Texts that share many words get a high dot product, texts with no word in common get 0. A
test can declare words that mean the same (``same={"drugs": "doping"}``): they count as one.
It implements bot.embedding.Embedder, so it can stand in for the semantic extra in tests.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence

from bot.embedding import Vector, unit

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Each word adds 1 to one of ``size`` dimensions; the sum is scaled to unit length."""

    name = "hashing bag of words"

    def __init__(self, size: int = 512, same: Mapping[str, str] | None = None) -> None:
        self.size = size
        self.same = dict(same or {})
        self.calls: list[int] = []  # how many texts each embed call received

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One unit vector per text."""
        self.calls.append(len(texts))
        out = []
        for text in texts:
            values = [0.0] * self.size
            for found in _WORD.findall(text.lower()):
                word = self.same.get(found, found)
                values[zlib.crc32(word.encode()) % self.size] += 1.0
            out.append(unit(values))
        return out
