"""Multi-label metrics and per-label threshold tuning.

Figures are computed with scikit-learn so that they equal what a reviewer would compute from the same predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["multilabel_report", "report_at_thresholds", "tune_thresholds"]


def tune_thresholds(
    y_true: np.ndarray, probs: np.ndarray, *, grid: Sequence[float] | None = None, default: float = 0.5,
    mask: np.ndarray | None = None,
) -> list[float]:
    """Pick, per label, the threshold that maximises F1 on validation data.

    Labels without a positive example keep ``default``. Ties go to the threshold closest to 0.5, which is the
    least surprising cut when validation data cannot tell them apart.

    Args:
        y_true: ``(n, k)`` 0/1 matrix.
        probs: ``(n, k)`` probabilities.
        grid: candidate thresholds (default 0.05 ... 0.95 in steps of 0.025).
        mask: ``(n, k)`` 0/1, the cells whose label is known (:func:`classifier.data.corpus.label_mask`): each
            label is tuned on the rows that decide it, pooled over every corpus that annotates it.

    Returns:
        ``k`` thresholds.
    """
    candidates = np.asarray(grid if grid is not None else np.arange(0.05, 0.951, 0.025))
    thresholds = []
    for j in range(y_true.shape[1]):
        rows = mask[:, j] > 0 if mask is not None else slice(None)
        truth = y_true[rows, j] > 0.5
        if truth.sum() == 0:
            thresholds.append(default)
            continue
        predicted = probs[rows, j][None, :] >= candidates[:, None]
        tp = (predicted & truth).sum(1)
        fp = (predicted & ~truth).sum(1)
        fn = (~predicted & truth).sum(1)
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        choice = best[np.argmin(np.abs(candidates[best] - 0.5))]
        thresholds.append(float(round(candidates[choice], 4)))
    return thresholds


def multilabel_report(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], *, average_over: Sequence[str] | None = None
) -> dict[str, Any]:
    """Return micro/macro/weighted F1, exact match, Hamming loss and per-label precision/recall/F1/support.

    Args:
        y_true, y_pred: ``(n, k)`` 0/1 matrices, columns in ``labels`` order.
        labels: the label names.
        average_over: the labels the averages are taken over (default: all); per-label rows cover all labels.
    """
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

    columns = [labels.index(label) for label in (average_over or labels)]
    yt, yp = y_true[:, columns].astype(int), y_pred[:, columns].astype(int)
    p, r, f, s = precision_recall_fscore_support(y_true.astype(int), y_pred.astype(int), average=None,
                                                 zero_division=0)
    return {
        "micro_f1": float(f1_score(yt, yp, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(yt, yp, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(yt, yp, average="weighted", zero_division=0)),
        "exact_match": float(accuracy_score(yt, yp)),
        "hamming_loss": float(hamming_loss(yt, yp)),
        "n_examples": int(y_true.shape[0]),
        "per_label": {
            label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, label in enumerate(labels)
        },
    }


def report_at_thresholds(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str],
                         thresholds: Sequence[float], mask: np.ndarray | None = None) -> dict[str, Any]:
    """:func:`multilabel_report` of probabilities cut at per-label thresholds; when the labels are the project's,
    the averages are over the ten OPP-115 categories (``children`` is reported per label only). Cells outside
    ``mask`` (unknown labels) count as neither right nor wrong."""
    from classifier.labels import LABEL_IDS, OPP115_IDS

    preds = (probs >= np.asarray(thresholds)[None, :]).astype(int)
    if mask is not None:
        preds, y_true = preds * (mask > 0), y_true * (mask > 0)
    over = list(OPP115_IDS) if list(labels) == list(LABEL_IDS) else None
    return multilabel_report(y_true, preds, list(labels), average_over=over)
