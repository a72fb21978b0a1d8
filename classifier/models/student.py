"""A distilled student: the teacher's own token embeddings, averaged with learnt per-token weights, and a small MLP.

A paragraph's features are the weighted mean of the (frozen) input embeddings of its word pieces, each piece
weighted by ``softplus(w[piece])`` (learnt: "cookies" counts, "the" barely does), layer-normalised, and -- when the
teacher has a TF-IDF member, its *companion* -- that member's category logits (divided by
:data:`COMPANION_SCALE`): word and character n-grams the bag of pieces cannot see. One hidden ReLU layer gives the
labels' logits. It is trained on the teacher's probabilities over tens of thousands of crawled paragraphs
(:mod:`classifier.training.distill`), so it learns to say what the teacher says. The companion also gives the
student the teacher's attribute outputs (the shipped model's come from its TF-IDF member, #29), computed once.

Why this shape: it needs no attention, so it costs one sparse-dense product per batch (thousands of paragraphs a
second on two cores) and imports neither torch nor transformers (a fast start); and inside a shipped model it reads
the embedding matrix from the teacher's ``model.safetensors`` and the teacher's ``tokenizer.json``, so it adds only
its own few hundred kilobytes to the 50 MB a shipped model may weigh. Prediction needs numpy, scipy and
``tokenizers``; loading reads safetensors and JSON only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.files import umask_mode
from classifier.models.base import (
    ModelLoadError,
    ParagraphModel,
    check_batch_size,
    check_texts,
    read_calibration,
    save_extras,
)

__all__ = ["COMPANION_SCALE", "EMBEDDING_TENSOR", "StudentModel", "companion_features", "embedding_matrix"]

# where a BERT checkpoint (the teacher's model.safetensors) keeps its input word-piece embeddings
EMBEDDING_TENSOR = "bert.embeddings.word_embeddings.weight"
_WEIGHTS = ("token_weight", "norm_weight", "norm_bias", "hidden_weight", "hidden_bias", "out_weight", "out_bias")
LAYER_NORM_EPS = 1e-5
# the companion's logits are divided by this to sit near the layer-normalised embedding features' scale
COMPANION_SCALE = 4.0


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def companion_features(probs: np.ndarray) -> np.ndarray:
    """The companion's probabilities as the student reads them: logits (clipped at 1e-4) / :data:`COMPANION_SCALE`."""
    p = np.clip(np.asarray(probs, dtype=np.float32), 1e-4, 1 - 1e-4)
    return (np.log(p / (1 - p)) / COMPANION_SCALE).astype(np.float32)


class StudentModel(ParagraphModel):
    """Labels paragraphs from a weighted bag of word-piece embeddings (see the module's notes).

    Args:
        labels, thresholds: as every model's.
        tokenizer: a ``tokenizers.Tokenizer`` (the teacher's).
        embeddings: ``(vocabulary, dim)`` word-piece embeddings (the teacher's input embeddings).
        weights: the learnt arrays, :data:`_WEIGHTS` by name.
        max_tokens: word pieces read per paragraph (the rest is ignored, as the teacher truncates).
        shared: whether the tokenizer, embeddings and companion are the enclosing model directory's (saved as a
            reference: ``tokenizer.json``, ``model.safetensors``, ``tfidf/``).
        companion: the TF-IDF model whose category logits are features too (same labels), or ``None``.
    """

    kind = "bag-of-embeddings-student"

    def __init__(self, labels: Sequence[str], thresholds: Sequence[float], tokenizer: Any, embeddings: np.ndarray,
                 weights: dict[str, np.ndarray], *, max_tokens: int = 256, shared: bool = False,
                 companion: ParagraphModel | None = None) -> None:
        self.labels, self.thresholds = list(labels), [float(t) for t in thresholds]
        self.tokenizer, self.embeddings = tokenizer, np.asarray(embeddings, dtype=np.float32)
        self.weights = {name: np.asarray(weights[name], dtype=np.float32) for name in _WEIGHTS}
        self.max_tokens, self.shared, self.companion = int(max_tokens), bool(shared), companion
        if companion is not None and list(companion.labels) != self.labels:
            raise ValueError("the student's companion must predict the same labels in the same order")
        # the cascade's escalation margin chosen when it was distilled (classifier.training.distill)
        self.margin: float | None = None
        self._check_shapes()
        self._piece_weight = softplus(self.weights["token_weight"]).astype(np.float32)
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    @property
    def n_companion(self) -> int:
        return len(self.labels) if self.companion is not None else 0

    @property
    def attribute_keys(self) -> Any:  # type: ignore[override]
        """The companion's attribute outputs (none without a companion)."""
        return list(getattr(self.companion, "attribute_keys", ()) or ())

    @property
    def attribute_thresholds(self) -> Any:  # type: ignore[override]
        return list(getattr(self.companion, "attribute_thresholds", ()) or ())

    def _check_shapes(self) -> None:
        vocab, dim = self.embeddings.shape
        hidden = len(self.weights["hidden_bias"])
        expected = {"token_weight": (vocab,), "norm_weight": (dim,), "norm_bias": (dim,),
                    "hidden_weight": (hidden, dim + self.n_companion), "hidden_bias": (hidden,),
                    "out_weight": (len(self.labels), hidden), "out_bias": (len(self.labels),)}
        wrong = [name for name, shape in expected.items() if self.weights[name].shape != shape]
        if wrong or len(self.thresholds) != len(self.labels) or self.max_tokens < 1:
            raise ValueError(f"student weights do not fit together ({', '.join(wrong) or 'thresholds/max_tokens'})")

    def piece_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's word-piece ids (no special tokens), cut at ``max_tokens``."""
        return [encoding.ids[:self.max_tokens]
                for encoding in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def features(self, texts: Sequence[str], companion_probs: np.ndarray | None = None) -> np.ndarray:
        """``(n, dim [+ labels])``: layer-normalised weighted means of the texts' word-piece embeddings, then the
        companion's features (:func:`companion_features` of ``companion_probs``, its probabilities on the texts)."""
        from scipy.sparse import csr_matrix

        ids = self.piece_ids(texts)
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((i for row in ids for i in row), dtype=np.int64, count=int(lengths.sum()))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        # each row holds its pieces' weights: the weighted sum is then one sparse-dense product
        bag = csr_matrix((self._piece_weight[flat], flat, indptr), shape=(len(ids), len(self.embeddings)))
        summed = np.asarray(bag @ self.embeddings, dtype=np.float32)
        total = np.asarray(bag.sum(axis=1), dtype=np.float32)
        mean = summed / np.maximum(total, 1e-6)  # an empty text (no pieces) gets the zero vector
        centred = mean - mean.mean(axis=1, keepdims=True)
        normed = centred / np.sqrt((centred ** 2).mean(axis=1, keepdims=True) + LAYER_NORM_EPS)
        bag_features = normed * self.weights["norm_weight"] + self.weights["norm_bias"]
        if self.companion is None:
            return bag_features
        if companion_probs is None:
            raise ValueError("a student with a companion needs the companion's probabilities")
        return np.hstack([bag_features, companion_features(companion_probs)])

    def logits(self, features: np.ndarray) -> np.ndarray:
        w = self.weights
        hidden = np.maximum(features @ w["hidden_weight"].T + w["hidden_bias"], 0.0)
        return hidden @ w["out_weight"].T + w["out_bias"]

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = 1024) -> np.ndarray:
        """``(n, labels)`` probabilities; ``batch_size`` bounds memory only: rows never depend on each other."""
        return self.predict_scores(check_texts(texts), batch_size=batch_size)[0]

    def predict_scores(self, texts: list[str], *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray | None]:
        """The categories' probabilities and the companion's attribute scores (``None`` without any)."""
        check_batch_size(batch_size)
        texts = check_texts(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        attributes = np.zeros((len(texts), len(self.attribute_keys)), dtype=np.float32) if self.attribute_keys else None
        for start in range(0, len(texts), batch_size):
            part = texts[start:start + batch_size]
            companion_probs = None
            if self.companion is not None:
                companion_probs, companion_attributes = self.companion.predict_scores(part, batch_size=batch_size)
                if attributes is not None:
                    attributes[start:start + len(part)] = companion_attributes
            logits = self.logits(self.features(part, companion_probs))
            out[start:start + len(part)] = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        return out, attributes

    def save_pretrained(self, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` and ``weights.safetensors`` (and, unless ``shared``, ``embeddings.safetensors``
        and ``tokenizer.json``; and ``metrics.json``). Returns the directory."""
        from safetensors.numpy import save_file

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"kind": self.kind, "labels": self.labels, "thresholds": self.thresholds,
                  "max_tokens": self.max_tokens, "shared": self.shared, "cascade_margin": self.margin,
                  "hidden": len(self.weights["hidden_bias"]), "dim": int(self.embeddings.shape[1]),
                  "companion": self.companion is not None}
        (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        # fp16 halves the student (0.5 MB at 512 hidden units) inside a shipped model's 50 MB; scores move by <1e-3
        save_file({name: self.weights[name].astype(np.float16) for name in _WEIGHTS},
                  str(directory / "weights.safetensors"))
        umask_mode(directory / "weights.safetensors")
        if not self.shared:
            save_file({EMBEDDING_TENSOR: self.embeddings.astype(np.float16)},
                      str(directory / "embeddings.safetensors"))
            self.tokenizer.save(str(directory / "tokenizer.json"))
            if self.companion is not None:
                self.companion.save_pretrained(directory / "tfidf")  # type: ignore[attr-defined]
        save_extras(directory, self.calibration, metrics)
        return directory

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], *, custom_labels: bool = False,
                        companion: ParagraphModel | None = None) -> StudentModel:
        """Load a directory written by :meth:`save_pretrained`; a ``shared`` student reads the tokenizer, the
        embeddings and the companion (``tfidf/``) of the model directory that holds it. ``companion`` passes one
        already loaded (the cascade's full model has it) instead of reading it again.

        Raises:
            ModelLoadError: missing or corrupt files, unknown labels, thresholds not in [0, 1], mismatched shapes.
        """
        from safetensors import safe_open
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        from classifier.models.config import ModelConfigError, check_labels, check_thresholds

        directory = Path(path)
        try:
            config = json.loads((directory / "config.json").read_text())
            if not isinstance(config, dict) or config.get("kind") != cls.kind:
                raise ModelLoadError(f"{directory}: not a distilled student")
            home = directory.parent if config.get("shared") else directory
            weights = load_file(str(directory / "weights.safetensors"))
            source = home / ("model.safetensors" if config.get("shared") else "embeddings.safetensors")
            with safe_open(str(source), framework="numpy") as handle:
                embeddings = handle.get_tensor(EMBEDDING_TENSOR)
            tokenizer = Tokenizer.from_file(str(home / "tokenizer.json"))
            if config.get("companion") and companion is None:
                from classifier.models.tfidf import TfidfBaseline

                companion = TfidfBaseline.from_pretrained(home / "tfidf", custom_labels=custom_labels)
        except ModelLoadError:
            raise
        except Exception as exc:  # missing file, bad JSON, bad safetensors header or tensor name: one line
            raise ModelLoadError(f"{directory}: cannot load the distilled student ({exc})") from None
        try:
            labels = check_labels(config.get("labels"), f"{directory}/config.json", custom_labels=custom_labels)
            thresholds = check_thresholds(config.get("thresholds"), len(labels), f"{directory}/config.json")
            missing = [name for name in _WEIGHTS if name not in weights]
            if missing:
                raise ModelLoadError(f"{directory}: student weights lack {', '.join(missing)}")
            model = cls(labels, thresholds, tokenizer, embeddings, weights, max_tokens=config.get("max_tokens", 256),
                        shared=bool(config.get("shared")), companion=companion if config.get("companion") else None)
        except (ModelConfigError, ValueError) as exc:
            raise ModelLoadError(f"{directory}: {str(exc).splitlines()[0]}") from None
        margin = config.get("cascade_margin")
        if margin is not None and not (isinstance(margin, (int, float)) and 0 <= margin <= 1):
            raise ModelLoadError(f"{directory}/config.json: cascade_margin must be in [0, 1], got {margin!r}")
        model.margin = None if margin is None else float(margin)
        model.calibration = read_calibration(directory, model.labels)
        return model

    @staticmethod
    def is_student_dir(path: str | os.PathLike[str]) -> bool:
        """True when ``path`` holds a saved student."""
        try:
            content = json.loads((Path(path) / "config.json").read_text())
            return isinstance(content, dict) and content.get("kind") == StudentModel.kind
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False


def embedding_matrix(model_dir: str | os.PathLike[str]) -> tuple[Any, np.ndarray]:
    """A BERT model directory's tokenizer (``tokenizer.json``) and input word-piece embeddings (float32), read
    from its ``model.safetensors`` without torch: a fine-tuned teacher or a base encoder alike.

    Raises:
        ModelLoadError: no tokenizer, no safetensors weights or no word-embedding tensor in them.
    """
    from safetensors import safe_open
    from tokenizers import Tokenizer

    directory = Path(model_dir)
    try:
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        with safe_open(str(directory / "model.safetensors"), framework="numpy") as handle:
            keys = handle.keys()  # safe_open is not iterable
            name = next((key for key in keys if key.endswith("embeddings.word_embeddings.weight")), None)
            if name is None:
                raise ModelLoadError(f"{directory}/model.safetensors: no word-piece embeddings")
            return tokenizer, handle.get_tensor(name).astype(np.float32)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"{directory}: cannot read a tokenizer and embeddings ({exc})") from None
