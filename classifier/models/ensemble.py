"""Probability averaging of several models with the same labels (for example the transformer and TF-IDF)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from classifier.models.base import DEFAULT_BATCH_SIZE, ParagraphModel

__all__ = ["AveragedModel"]


class AveragedModel(ParagraphModel):
    """Averages the probabilities of member models; has its own per-label thresholds."""

    def __init__(self, members: Sequence[ParagraphModel], weights: Sequence[float] | None = None,
                 thresholds: Sequence[float] | None = None) -> None:
        labels = list(members[0].labels)
        if any(list(m.labels) != labels for m in members):
            raise ValueError("ensemble members must predict the same labels in the same order")
        self.members = list(members)
        self.labels = labels
        total = sum(weights) if weights else len(members)
        self.weights = [w / total for w in weights] if weights else [1 / len(members)] * len(members)
        self.thresholds = list(thresholds) if thresholds is not None else [0.5] * len(labels)

    @property
    def attribute_keys(self) -> Sequence[str]:  # type: ignore[override]
        """The attribute outputs of the first member that has them (members' categories are averaged; a value is
        one member's)."""
        return next((m.attribute_keys for m in self.members if getattr(m, "attribute_keys", ())), ())

    @property
    def attribute_thresholds(self) -> Sequence[float]:  # type: ignore[override]
        return next((m.attribute_thresholds for m in self.members if getattr(m, "attribute_keys", ())), ())

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Weighted mean of the members' probabilities."""
        return self.predict_scores(list(texts), batch_size=batch_size)[0]

    def predict_scores(self, texts: list[str], *,
                       batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray | None]:
        """The weighted mean of the members' category probabilities, and the attribute scores of the member that
        has attribute outputs (one encoder pass each)."""
        scored = [member.predict_scores(list(texts), batch_size=batch_size) for member in self.members]
        probs = sum(weight * member_probs for weight, (member_probs, _) in zip(self.weights, scored, strict=True))
        attributes = next((scores for _, scores in scored if scores is not None), None)
        return np.asarray(probs), attributes
