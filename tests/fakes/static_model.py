"""A tiny real static (model2vec) model, written to a directory the way a built one is.

Eight words of a few dimensions each: the weather words point one way, the politics words
another, and "hits"/"coast" sit in between, so sentences about a storm are near each other and
far from an election. Rows have different lengths: a model's own normalisation is not relied on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from model2vec import StaticModel
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.normalizers import Lowercase
from tokenizers.pre_tokenizers import Whitespace

ROWS: dict[str, list[float]] = {
    "[UNK]": [0.0, 0.0, 0.0, 0.0],
    "storm": [3.0, 0.2, 0.0, 0.0],
    "hurricane": [2.0, 0.3, 0.1, 0.0],
    "rain": [1.0, 0.4, 0.0, 0.1],
    "election": [0.0, 0.0, 4.0, 0.5],
    "results": [0.0, 0.1, 2.0, 1.0],
    "vote": [0.1, 0.0, 1.5, 0.2],
    "hits": [0.2, 0.5, 0.2, 0.5],
    "coast": [0.5, 1.0, 0.0, 0.3],
}


def write_static_model(folder: Path) -> Path:
    """Save the tiny model in ``folder`` (created if missing) and return it."""
    vocab = {word: number for number, word in enumerate(ROWS)}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = Lowercase()  # as the distilled model's BERT tokenizer does
    tokenizer.pre_tokenizer = Whitespace()
    vectors = np.array(list(ROWS.values()), dtype=np.float32)
    StaticModel(vectors, tokenizer, normalize=False).save_pretrained(folder)
    return folder
