"""A cascade: a fast model labels every paragraph, and only the paragraphs it is unsure of go to the full model.

A paragraph is *escalated* when, for any label, the fast model's score lies within ``margin`` of the fast model's
threshold. The other paragraphs keep the fast model's decisions; their scores are mapped, per label, by the
piecewise-linear map that sends 0, the fast threshold and 1 to 0, the full model's threshold and 1, so that the
cascade's one set of thresholds (the full model's) gives exactly the fast model's labels, and a score keeps its
order. Escalation depends on a paragraph's own fast scores only, so in fp32 a paragraph's result does not depend on
the batch it came in.

A saved model with a distilled student (``student/``, :mod:`classifier.training.distill`) is loaded as a cascade by
:func:`load_cascade`: the student is the fast model, the saved model the full one, and its encoder (torch,
transformers) is loaded only when a paragraph is escalated (:class:`DeferredModel`), so a run that escalates nothing
never imports torch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from classifier.models.base import (
    DEFAULT_BATCH_SIZE,
    ModelLoadError,
    ParagraphModel,
    check_batch_size,
    check_texts,
    read_calibration,
)

__all__ = ["CascadeModel", "DeferredModel", "cascade_predictions", "escalated", "has_student", "load_cascade"]

STUDENT_DIR = "student"
# The full model's batch size on escalated paragraphs: they are few, long and of uneven length, and small batches
# waste less on padding. Measured on the shipped model (int8, 2 streams, 2 AVX2 cores), escalated paragraphs per
# second at batch 1 / 2 / 4 / 8 / 16 / 32: 1,000 OPP-115 segments' 33: 83 / 110 / 115 / 94 / 65 / 26; 1,024 DMOZ
# paragraphs' 123: 119 / 168 / 205 / 228 / 189 / 98.
ESCALATION_BATCH = 4


def escalated(fast_probs: np.ndarray, fast_thresholds: np.ndarray, margin: float) -> np.ndarray:
    """Which rows go to the full model: a score within ``margin`` of its threshold, for any label."""
    return (np.abs(np.asarray(fast_probs) - np.asarray(fast_thresholds)) < margin).any(axis=1)


def mapped(fast_probs: np.ndarray, fast_thresholds: np.ndarray, full_thresholds: np.ndarray) -> np.ndarray:
    """Fast scores moved onto the full model's threshold scale (0 -> 0, fast threshold -> full threshold, 1 -> 1)."""
    p = np.asarray(fast_probs, dtype=np.float64)
    t_fast = np.clip(np.asarray(fast_thresholds, dtype=np.float64), 1e-6, 1 - 1e-6)
    t_full = np.asarray(full_thresholds, dtype=np.float64)
    below = p * t_full / t_fast
    above = t_full + (p - t_fast) * (1 - t_full) / (1 - t_fast)
    return np.where(p < t_fast, below, above)


def cascade_predictions(fast_probs: np.ndarray, full_probs: np.ndarray, fast_thresholds: np.ndarray,
                        full_thresholds: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The cascade's ``(n, k)`` scores given both models' scores on every row (evaluation, where both are known),
    and which rows it escalated."""
    up = escalated(fast_probs, fast_thresholds, margin)
    scores = mapped(fast_probs, fast_thresholds, full_thresholds)
    scores[up] = np.asarray(full_probs)[up]
    return scores, up


class CascadeModel(ParagraphModel):
    """``fast`` on every paragraph, ``full`` on the ones ``fast`` is unsure of (see the module's rule).

    ``labels``, ``thresholds`` and calibration are the full model's. The attribute outputs come from ``attributes``
    (a model run on every paragraph: the full model's TF-IDF member in a shipped model, see #29), else from the fast
    model when it has the full model's outputs, else there are none. ``last_escalated`` holds the share of
    paragraphs the last call sent to the full model, ``escalated_rows`` and ``seen_rows`` the running totals.
    """

    def __init__(self, fast: ParagraphModel, full: ParagraphModel, margin: float, *,
                 attributes: ParagraphModel | None = None) -> None:
        if list(fast.labels) != list(full.labels):
            raise ValueError("the cascade's two models must predict the same labels in the same order")
        if not 0.0 <= margin <= 1.0:
            raise ValueError(f"margin must be in [0, 1], got {margin}")
        self.fast, self.full, self.margin = fast, full, float(margin)
        self.labels = list(full.labels)
        same = list(getattr(fast, "attribute_keys", ()) or ()) == list(getattr(full, "attribute_keys", ()) or ())
        self.attributes = attributes if attributes is not None else (fast if same else None)
        self.last_escalated = 0.0
        self.escalated_rows = self.seen_rows = 0

    @property
    def thresholds(self) -> list[float]:  # type: ignore[override]
        return list(self.full.thresholds)

    @property
    def attribute_keys(self) -> Any:  # type: ignore[override]
        return list(getattr(self.attributes, "attribute_keys", ()) or ())

    @property
    def attribute_thresholds(self) -> Any:  # type: ignore[override]
        return list(getattr(self.attributes, "attribute_thresholds", ()) or ()) if self.attribute_keys else []

    @property
    def calibration(self) -> Any:  # type: ignore[override]
        return self.full.calibration

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        return self.predict_scores(check_texts(texts), batch_size=batch_size)[0]

    def predict_scores(self, texts: list[str], *,
                       batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray | None]:
        """The cascade's category scores, and the attribute scores (see the class's notes)."""
        check_batch_size(batch_size)
        texts = check_texts(texts)
        # the fast models are numpy models whose batch size bounds memory only: larger batches are faster
        fast_probs, fast_attributes = self.fast.predict_scores(texts, batch_size=max(batch_size, 1024))
        fast_cuts = np.asarray(self.fast.thresholds)
        up = np.flatnonzero(escalated(fast_probs, fast_cuts, self.margin))
        scores = mapped(fast_probs, fast_cuts, np.asarray(self.thresholds)).astype(np.float32)
        if len(up):
            scores[up] = self.full.predict_proba([texts[i] for i in up], batch_size=min(batch_size, ESCALATION_BATCH))
        self.last_escalated = len(up) / len(texts) if texts else 0.0
        self.escalated_rows += len(up)
        self.seen_rows += len(texts)
        attribute_probs = None
        if self.attributes is not None and self.attribute_keys and texts:
            attribute_probs = (fast_attributes if self.attributes is self.fast
                               else self.attributes.predict_scores(texts, batch_size=max(batch_size, 1024))[1])
        return scores, attribute_probs


class DeferredModel(ParagraphModel):
    """A saved transformer model whose encoder is loaded on first use.

    Labels, thresholds, calibration and the TF-IDF member (numpy) are read at once; torch and transformers are
    imported, and the weights loaded, by the first :meth:`predict_proba` (thread-safe).
    """

    def __init__(self, directory: str | Path, **load_options: Any) -> None:
        from classifier.models.config import ModelConfigError, read_transformer_config

        self.directory, self.load_options = Path(directory), load_options
        try:
            settings = read_transformer_config(self.directory, check_architecture=False)
        except ModelConfigError as exc:
            raise ModelLoadError(str(exc)) from None
        self.labels = [label for label in settings["labels"] if "/" not in label]
        self.thresholds = list(settings["thresholds"][:len(self.labels)])
        self.head_has_attributes = len(settings["labels"]) > len(self.labels)
        self._head_attributes = (list(settings["labels"][len(self.labels):]),
                                 list(settings["thresholds"][len(self.labels):]))
        self.calibration = read_calibration(self.directory, self.labels)
        self.tfidf = None
        if (self.directory / "tfidf").is_dir():
            from classifier.models.tfidf import TfidfBaseline

            self.tfidf = TfidfBaseline.from_pretrained(self.directory / "tfidf")
        self._model: ParagraphModel | None = None
        self._lock = threading.Lock()

    @property
    def attribute_model(self) -> ParagraphModel | None:
        """The TF-IDF member when it gives the model's attribute outputs (the head has none)."""
        member = self.tfidf
        return member if member is not None and member.attribute_keys and not self.head_has_attributes else None

    @property
    def attribute_keys(self) -> Any:  # type: ignore[override]
        member = self.attribute_model
        return list(member.attribute_keys) if member is not None else self._head_attributes[0]

    @property
    def attribute_thresholds(self) -> Any:  # type: ignore[override]
        member = self.attribute_model
        return list(member.attribute_thresholds) if member is not None else self._head_attributes[1]

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> ParagraphModel:
        with self._lock:
            if self._model is None:
                from classifier.models.transformer import PolicyClassifier

                self._model = PolicyClassifier.from_pretrained(self.directory, **self.load_options)
            return self._model

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        return self.model.predict_proba(texts, batch_size=batch_size)


def has_student(directory: str | Path | None) -> bool:
    """Whether a saved model directory holds a distilled student (and so loads as a cascade)."""
    if directory is None:
        return False
    from classifier.models.student import StudentModel

    return StudentModel.is_student_dir(Path(directory) / STUDENT_DIR)


def load_cascade(directory: str | Path, *, margin: float | None = None, **load_options: Any) -> CascadeModel:
    """A saved model with a student, as a cascade (the student's saved margin unless ``margin`` is given).

    Raises:
        ModelLoadError: the model, its student or the student's margin cannot be read.
    """
    from classifier.models.student import StudentModel

    directory = Path(directory)
    full = DeferredModel(directory, **load_options)
    # the student's companion is the full model's TF-IDF member: loaded once, run once per paragraph
    student = StudentModel.from_pretrained(directory / STUDENT_DIR, companion=full.tfidf)
    margin = student.margin if margin is None else margin
    if margin is None:
        raise ModelLoadError(f"{directory / STUDENT_DIR}: the student has no cascade margin")
    try:
        return CascadeModel(student, full, margin,
                            attributes=None if student.attribute_keys else full.attribute_model)
    except ValueError as exc:
        raise ModelLoadError(f"{directory}: {exc}") from None
