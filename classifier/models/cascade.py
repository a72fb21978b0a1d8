"""A cascade: a fast model labels every paragraph, and only the paragraphs it is unsure of go to the full model.

A paragraph is *escalated* when, for any label, the fast model's score lies within ``margin`` of the fast model's
threshold. The other paragraphs keep the fast model's decisions; their scores are mapped, per label, by the
piecewise-linear map that sends 0, the fast threshold and 1 to 0, the full model's threshold and 1, so that the
cascade's one set of thresholds (the full model's) gives exactly the fast model's labels, and a score keeps its
order. Escalation depends on a paragraph's own fast scores only, so in fp32 a paragraph's result does not depend on
the batch it came in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from classifier.models.base import DEFAULT_BATCH_SIZE, ParagraphModel, check_batch_size, check_texts

__all__ = ["CascadeModel", "cascade_predictions", "escalated"]


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

    ``labels``, ``thresholds`` and the attribute outputs are the full model's; ``last_escalated`` holds the share of
    paragraphs the last call sent to the full model.
    """

    def __init__(self, fast: ParagraphModel, full: ParagraphModel, margin: float) -> None:
        if list(fast.labels) != list(full.labels):
            raise ValueError("the cascade's two models must predict the same labels in the same order")
        if not 0.0 <= margin <= 1.0:
            raise ValueError(f"margin must be in [0, 1], got {margin}")
        self.fast, self.full, self.margin = fast, full, float(margin)
        self.labels = list(full.labels)
        self.last_escalated = 0.0

    @property
    def thresholds(self) -> list[float]:  # type: ignore[override]
        return list(self.full.thresholds)

    @property
    def attribute_keys(self) -> Any:  # type: ignore[override]
        """The fast model's attribute outputs when the full model has the same ones (the shipped model's come from
        its TF-IDF member, which is also the fast model), else none: a cascade runs the full model on few rows."""
        keys = list(getattr(self.fast, "attribute_keys", ()) or ())
        return keys if keys == list(getattr(self.full, "attribute_keys", ()) or ()) else []

    @property
    def attribute_thresholds(self) -> Any:  # type: ignore[override]
        return self.fast.attribute_thresholds if self.attribute_keys else []

    @property
    def calibration(self) -> Any:  # type: ignore[override]
        return self.full.calibration

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        return self.predict_scores(check_texts(texts), batch_size=batch_size)[0]

    def predict_scores(self, texts: list[str], *,
                       batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray | None]:
        """The cascade's category scores, and the fast model's attribute scores (see :attr:`attribute_keys`)."""
        check_batch_size(batch_size)
        texts = check_texts(texts)
        fast_probs, fast_attributes = self.fast.predict_scores(texts, batch_size=batch_size)
        fast_cuts = np.asarray(self.fast.thresholds)
        up = np.flatnonzero(escalated(fast_probs, fast_cuts, self.margin))
        scores = mapped(fast_probs, fast_cuts, np.asarray(self.thresholds)).astype(np.float32)
        if len(up):
            scores[up] = self.full.predict_proba([texts[i] for i in up], batch_size=batch_size)
        self.last_escalated = len(up) / len(texts) if texts else 0.0
        return scores, fast_attributes if self.attribute_keys else None
