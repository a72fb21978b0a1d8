"""TF-IDF + logistic regression baseline (one-vs-rest), saved without pickle.

Fitting uses scikit-learn; a saved baseline is plain data (``vocab.json``, ``config.json`` and a safetensors file
with the idf vector and the per-label weights), and prediction needs only numpy, so loading it never executes code
from the file.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.context import model_inputs
from classifier.labels import Scheme
from classifier.model import DEFAULT_BATCH_SIZE, ModelLoadError, Prediction
from classifier.text import normalize_text

__all__ = ["TfidfBaseline"]

# Fitting settings; _analyze and TfidfBaseline._logits reproduce what they mean at prediction time.
_VECTORIZER: dict[str, Any] = {"ngram_range": (1, 2), "min_df": 2, "max_df": 0.9, "sublinear_tf": True,
                               "lowercase": True, "strip_accents": "unicode"}
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _analyze(text: str) -> list[str]:
    """Words and word bigrams of a text, as scikit-learn's word analyzer gives them for :data:`_VECTORIZER`."""
    words = _TOKEN.findall(_strip_accents(text.lower()))
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


class TfidfBaseline:
    """One-vs-rest logistic regression on word uni- and bi-gram TF-IDF, with per-label thresholds.

    It offers the same ``predict``/``predict_proba``/``save_pretrained``/``from_pretrained`` surface as
    :class:`~classifier.model.PolicyClassifier`, so the evaluation harness and the CLI treat both alike.
    """

    kind = "tfidf"

    def __init__(self, labels: Sequence[str], vocabulary: dict[str, int], idf: np.ndarray, coef: np.ndarray,
                 intercept: np.ndarray, thresholds: Sequence[float] | None = None,
                 section_context: bool = False) -> None:
        self.labels = list(labels)
        self.section_context = bool(section_context)
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float64)
        self.coef = coef.astype(np.float64)
        self.intercept = intercept.astype(np.float64)
        self.thresholds = list(thresholds) if thresholds is not None else [0.5] * len(self.labels)
        self._coef_t = np.ascontiguousarray(self.coef.T)  # one row per term: a paragraph's terms gather fast

    @classmethod
    def fit(cls, texts: Sequence[str], y: np.ndarray, labels: Sequence[str], *, c: float = 4.0,
            seed: int = 13) -> TfidfBaseline:
        """Fit on texts and a ``(n, k)`` 0/1 matrix; labels without positives get a constant low score."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(**_VECTORIZER)
        x = vectorizer.fit_transform([normalize_text(t) for t in texts])
        coef = np.zeros((len(labels), x.shape[1]))
        intercept = np.full(len(labels), -10.0)
        for j in range(len(labels)):
            target = y[:, j] > 0.5
            if target.all() or not target.any():
                intercept[j] = 10.0 if target.all() else -10.0
                continue
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, solver="liblinear",
                                       random_state=seed)
            model.fit(x, target)
            coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
        vocabulary = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        return cls(labels, vocabulary, vectorizer.idf_, coef, intercept)

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        """TF-IDF features times the weights, computed with numpy alone.

        The same arithmetic as scikit-learn's ``TfidfVectorizer`` with :data:`_VECTORIZER` (tested against it), but
        without importing scikit-learn and scipy, which took a second of a one-policy CLI run.
        """
        out = np.tile(self.intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for term in _analyze(normalize_text(text)):
                index = self.vocabulary.get(term)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            indices = np.fromiter(counts, dtype=np.int64, count=len(counts))
            weights = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts))))
            weights *= self.idf[indices]
            weights /= np.sqrt(np.dot(weights, weights))
            out[row] += weights @ self._coef_t[indices]
        return out

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = 1024,
                      sections: Iterable[Sequence[str]] | None = None) -> np.ndarray:
        """Return an ``(n, k)`` probability matrix (``sections`` as in :meth:`PolicyClassifier.predict_proba`)."""
        texts = model_inputs(texts, sections, self.section_context)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return (1.0 / (1.0 + np.exp(-self._logits(texts)))).astype(np.float32)

    def predict(self, texts: Iterable[str], *, batch_size: int = 1024, scheme: Scheme | str = Scheme.opp115,
                threshold: float | None = None, sections: Iterable[Sequence[str]] | None = None) -> list[Prediction]:
        """Labels and scores per text, like :meth:`PolicyClassifier.predict`."""
        from classifier.model import PolicyClassifier

        probs = self.predict_proba(texts, sections=sections)
        return [PolicyClassifier._prediction(self, row, Scheme(scheme), threshold) for row in probs]  # type: ignore[arg-type]

    def classify_document(self, source: Any, *, scheme: Scheme | str = Scheme.opp115,
                          batch_size: int = DEFAULT_BATCH_SIZE, threshold: float | None = None) -> Any:
        """Segment and classify a whole policy (see :func:`classifier.document.classify_document`)."""
        from classifier.document import classify_document

        return classify_document(self, source, scheme=scheme, batch_size=batch_size, threshold=threshold)  # type: ignore[arg-type]

    def save_pretrained(self, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None) -> Path:
        """Write ``config.json``, ``vocab.json`` and ``weights.safetensors`` (and ``metrics.json``) to a directory."""
        from safetensors.numpy import save_file

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"kind": self.kind, "labels": self.labels, "thresholds": self.thresholds,
                  "section_context": self.section_context,
                  "vectorizer": {**_VECTORIZER, "ngram_range": [1, 2]}}
        (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (directory / "vocab.json").write_text(json.dumps(self.vocabulary, ensure_ascii=False))
        save_file({"idf": self.idf.astype(np.float32), "coef": self.coef.astype(np.float32),
                   "intercept": self.intercept.astype(np.float32)}, str(directory / "weights.safetensors"))
        if metrics is not None:
            (directory / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        return directory

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str]) -> TfidfBaseline:
        """Load a directory written by :meth:`save_pretrained`.

        Raises:
            ModelLoadError: missing or corrupt files.
        """
        from safetensors.numpy import load_file

        directory = Path(path)
        try:
            config = json.loads((directory / "config.json").read_text())
            vocabulary = json.loads((directory / "vocab.json").read_text())
            tensors = load_file(str(directory / "weights.safetensors"))
        except Exception as exc:  # missing file, bad JSON or bad safetensors header: one line for the user
            raise ModelLoadError(f"{directory}: cannot load TF-IDF baseline ({exc})") from None
        if config.get("kind") != cls.kind:
            raise ModelLoadError(f"{directory}: not a TF-IDF baseline")
        n_terms, n_labels = len(tensors["idf"]), len(config["labels"])
        if (tensors["coef"].shape != (n_labels, n_terms) or tensors["intercept"].shape != (n_labels,)
                or any(not 0 <= i < n_terms for i in vocabulary.values())):
            raise ModelLoadError(f"{directory}: TF-IDF files do not fit together (vocabulary, idf and weights differ "
                                 "in size)")
        return cls(config["labels"], vocabulary, tensors["idf"], tensors["coef"], tensors["intercept"],
                   config.get("thresholds"), section_context=config.get("section_context", False))

    @staticmethod
    def is_baseline_dir(path: str | os.PathLike[str]) -> bool:
        """True when ``path`` holds a saved TF-IDF baseline."""
        config = Path(path) / "config.json"
        try:
            return json.loads(config.read_text()).get("kind") == TfidfBaseline.kind
        except (OSError, json.JSONDecodeError):
            return False
