"""Inter-annotator agreement for multi-label paragraph annotations (Cohen's kappa per label and overall)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["cohen_kappa_report"]


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
