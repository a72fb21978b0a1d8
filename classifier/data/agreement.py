"""Inter-annotator agreement for multi-label paragraph annotations: Cohen's kappa between two annotations, and how
well single OPP-115 annotators match the majority labels that models are scored against (a human reference)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["annotator_f1", "cohen_kappa_report"]


def cohen_kappa_report(
    first: Mapping[Any, Sequence[str]], second: Mapping[Any, Sequence[str]], labels: Sequence[str]
) -> dict[str, Any]:
    """Compare two annotations of the same paragraphs.

    Args:
        first, second: paragraph key -> label ids; only keys present in both are compared.
        labels: the label set.

    Returns:
        ``{"n": paragraphs compared, "per_label": {label: {"kappa", "agree", "first", "second"}},
        "overall_kappa": kappa over all (paragraph, label) decisions, "exact_match": share of paragraphs
        with identical label sets}``. Kappa is ``None`` for a label neither annotator used.
    """
    from sklearn.metrics import cohen_kappa_score

    keys = sorted(set(first) & set(second), key=str)
    per_label = {}
    flat_a: list[int] = []
    flat_b: list[int] = []
    for label in labels:
        a = [int(label in first[k]) for k in keys]
        b = [int(label in second[k]) for k in keys]
        flat_a += a
        flat_b += b
        kappa = None if (sum(a) == 0 and sum(b) == 0) or len(set(a + b)) < 2 else float(cohen_kappa_score(a, b))
        if kappa is None and sum(a) == sum(b) == len(keys):
            kappa = 1.0
        per_label[label] = {"kappa": kappa, "agree": sum(x == y for x, y in zip(a, b, strict=True)),
                            "first": sum(a), "second": sum(b)}
    return {
        "n": len(keys),
        "per_label": per_label,
        "overall_kappa": float(cohen_kappa_score(flat_a, flat_b)) if keys else None,
        "exact_match": sum(set(first[k]) == set(second[k]) for k in keys) / len(keys) if keys else None,
    }


def annotator_f1(dataset: Any, predictions: Any = None, *,
                 average_over: Sequence[str] | None = None) -> dict[str, Any]:
    """Score each OPP-115 annotator's own labels like a model: a human reference point for model F1.

    Every annotator of a policy is treated as a classifier of its segments and scored against two references: the
    majority labels models are evaluated on (a category given by at least 2 annotators; this includes the
    annotator's own vote, so it flatters them) and the consensus of the *other* annotators (a category at least 2 of
    them gave; on policies with three annotators, both others). Model predictions, when given, are scored against the
    very same references, one per left-out annotator: against the others' consensus, model and annotator face the
    same test, which makes that pair of figures the fair comparison.

    Args:
        dataset: :func:`~classifier.data.corpus.load_opp115` rows loaded with ``with_votes=True``.
        predictions: optional ``(n_rows, n_labels)`` 0/1 model predictions for those rows (out-of-fold ones).
        average_over: labels macro-F1 averages over (default: all).

    Returns:
        ``{"annotators": {"vs_majority": report, "vs_others": report}, "model": {...} (with predictions),
        "n_annotations": annotator x policy pairs}``, each report as :func:`multilabel_report`
        gives it, pooled over all (annotator, segment) pairs.

    Raises:
        ValueError: the rows carry no votes, or predictions of the wrong shape.
    """
    import numpy as np

    from classifier.evaluation.metrics import multilabel_report

    if "votes" not in dataset.column_names:
        raise ValueError("load OPP-115 with with_votes=True to compare annotators")
    names = list(dataset.features["labels"].feature.names)
    if predictions is not None and np.shape(predictions) != (len(dataset), len(names)):
        raise ValueError(f"predictions of shape {np.shape(predictions)} for {len(dataset)} rows, {len(names)} labels")
    rows, own, majority, others = [], [], [], []
    pairs = set()
    for row, (policy, annotators, votes) in enumerate(
            zip(dataset["policy"], dataset["annotators"], dataset["votes"], strict=True)):
        voters = [set(v) for v in votes]
        needed = min(2, len(annotators) - 1)
        for annotator in annotators:
            pairs.add((policy, annotator))
            rows.append(row)
            own.append([int(annotator in v) for v in voters])
            majority.append([int(len(v) >= 2) for v in voters])
            others.append([int(len(v - {annotator}) >= needed) if needed else 0 for v in voters])
    y_majority, y_others = np.asarray(majority), np.asarray(others)

    def score(predicted: Any) -> dict[str, Any]:
        return {"vs_majority": multilabel_report(y_majority, predicted, names, average_over=average_over),
                "vs_others": multilabel_report(y_others, predicted, names, average_over=average_over)}

    out = {"annotators": score(np.asarray(own)), "n_annotations": len(pairs)}
    if predictions is not None:
        out["model"] = score(np.asarray(predictions)[rows])
    return out
