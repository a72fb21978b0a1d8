"""Per-label calibration: a score of 0.8 should mean the label holds about 80% of the time on text the model never saw.

Isotonic regression per label, fitted on out-of-fold predictions (``policy-classifier calibrate``), saved beside the
model as ``calibration.json`` (each label's knots: scores and the probabilities they map to) and applied by linear
interpolation between the knots, which is what scikit-learn's ``IsotonicRegression.predict`` does, so prediction
needs numpy only and loading runs no code from the file. Thresholds stay on the raw scores: calibration changes
what a score *means* (the report's confidence and states), never which labels a paragraph gets.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CALIBRATION_FILE", "Calibration", "CalibrationError", "expected_calibration_error", "fit_calibration",
           "load_calibration", "reliability"]

CALIBRATION_FILE = "calibration.json"
_MIN_ROWS = 20  # a label decided on fewer rows keeps its raw scores


class CalibrationError(ValueError):
    """A ``calibration.json`` that cannot be used: unreadable, or knots that are not increasing scores in [0, 1]."""


@dataclass
class Calibration:
    """Each label's isotonic map as knots ``(scores, probabilities)``; labels without knots keep their scores."""

    labels: list[str]
    knots: dict[str, tuple[list[float], list[float]]]
    source: dict[str, Any] = field(default_factory=dict)

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Calibrated ``(n, k)`` probabilities of raw ``(n, k)`` scores, columns in :attr:`labels` order."""
        out = np.array(probs, dtype=np.float64, copy=True)
        for j, label in enumerate(self.labels):
            if label in self.knots:
                xs, ys = self.knots[label]
                out[:, j] = np.interp(out[:, j], xs, ys)
        return out

    def apply_scores(self, scores: dict[str, float]) -> dict[str, float]:
        """One paragraph's ``{label: score}`` calibrated (labels the calibration does not know are kept)."""
        out = dict(scores)
        for label, score in scores.items():
            if label in self.knots:
                xs, ys = self.knots[label]
                out[label] = round(float(np.interp(score, xs, ys)), 4)
        return out

    def save(self, directory: str | os.PathLike[str]) -> Path:
        from classifier.files import atomic_write

        path = Path(directory) / CALIBRATION_FILE
        content = {"method": "isotonic", "labels": self.labels,
                   "knots": {label: {"scores": xs, "probabilities": ys} for label, (xs, ys) in self.knots.items()},
                   "source": self.source}
        atomic_write(path, json.dumps(content, indent=1) + "\n")
        return path


def fit_calibration(y_true: np.ndarray, probs: np.ndarray, labels: list[str], *, mask: np.ndarray | None = None,
                    source: dict[str, Any] | None = None) -> Calibration:
    """Isotonic maps from out-of-fold ``(n, k)`` scores to the ``(n, k)`` 0/1 labels (``mask``: the cells that are
    known, for partial labels); a label with fewer than 20 known rows or one class only keeps its raw scores."""
    from sklearn.isotonic import IsotonicRegression

    knots = {}
    for j, label in enumerate(labels):
        rows = np.flatnonzero(mask[:, j] > 0) if mask is not None else np.arange(len(y_true))
        target = y_true[rows, j] > 0.5
        if len(rows) < _MIN_ROWS or target.all() or not target.any():
            continue
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(probs[rows, j], target)
        xs, ys = model.X_thresholds_, model.y_thresholds_
        knots[label] = ([round(float(x), 6) for x in xs], [round(float(v), 6) for v in ys])
    return Calibration(list(labels), knots, dict(source or {}))


def load_calibration(directory: str | os.PathLike[str], labels: list[str]) -> Calibration | None:
    """The ``calibration.json`` of a model directory (``None`` when there is none).

    Raises:
        CalibrationError: a file that cannot be read, is for other labels, or holds knots that are not increasing
            finite scores and probabilities in [0, 1].
    """
    path = Path(directory) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        knots = {label: (list(map(float, entry["scores"])), list(map(float, entry["probabilities"])))
                 for label, entry in content["knots"].items()}
        saved_labels = list(content["labels"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CalibrationError(f"{path}: cannot read the calibration ({exc})") from None
    if saved_labels != list(labels) or not set(knots) <= set(labels):
        raise CalibrationError(f"{path}: calibrated for other labels than the model's")
    for label, (xs, ys) in knots.items():
        values = [*xs, *ys]
        if (not xs or len(xs) != len(ys) or any(not math.isfinite(v) or not 0.0 <= v <= 1.0 for v in values)
                or any(b < a for a, b in itertools.pairwise(xs))):
            raise CalibrationError(f"{path}: the knots of {label!r} are not increasing scores in [0, 1]")
    return Calibration(saved_labels, knots, dict(content.get("source") or {}))


def reliability(y_true: np.ndarray, probs: np.ndarray, *, bins: int = 10) -> list[tuple[float, float, int]]:
    """``(mean score, share of positives, rows)`` in each of ``bins`` equal-width score bins that holds a row."""
    y, p = np.asarray(y_true, dtype=np.float64).ravel(), np.asarray(probs, dtype=np.float64).ravel()
    which = np.minimum((p * bins).astype(int), bins - 1)
    return [(float(p[which == b].mean()), float(y[which == b].mean()), int((which == b).sum()))
            for b in range(bins) if (which == b).any()]


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, *, bins: int = 10) -> float:
    """The rows-weighted mean gap between mean score and share of positives over equal-width bins."""
    cells = reliability(y_true, probs, bins=bins)
    total = sum(n for _, _, n in cells)
    return sum(n * abs(score - share) for score, share, n in cells) / total if total else 0.0
