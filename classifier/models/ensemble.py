"""Probability averaging of several models with the same labels (for example the transformer and TF-IDF)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from classifier.models.base import DEFAULT_BATCH_SIZE, ParagraphModel

__all__ = ["AveragedModel"]


class AveragedModel(ParagraphModel):
    """Averages the probabilities of member models; has its own per-label thresholds."""

    def __init__(self, members: Sequence[Any], weights: Sequence[float] | None = None,
                 thresholds: Sequence[float] | None = None) -> None:
        labels = list(members[0].labels)
        if any(list(m.labels) != labels for m in members):
            raise ValueError("ensemble members must predict the same labels in the same order")
        self.members = list(members)
        self.labels = labels
        total = sum(weights) if weights else len(members)
        self.weights = [w / total for w in weights] if weights else [1 / len(members)] * len(members)
        self.thresholds = list(thresholds) if thresholds is not None else [0.5] * len(labels)

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Weighted mean of the members' probabilities."""
        texts = list(texts)
        return sum(w * m.predict_proba(texts) for w, m in zip(self.weights, self.members, strict=True))
