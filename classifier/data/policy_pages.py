"""Crawled pages labelled policy / partial / not a policy: the data of the privacy-policy detector.

``data/policy_pages/labels.csv`` holds a random sample of DMOZ pages (paths under ``../shared/dmoz/policies``; the
text itself stays there), two independent labelling passes from ``GUIDELINE.md``, the adjudicated label and a
fixed train/test split by page. This module reads it and measures the passes' agreement.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PAGE_LABELS", "PageLabel", "default_page_labels", "is_policy_label", "load_page_labels",
           "page_agreement"]

PAGE_LABELS = ("policy", "partial", "not_policy")


@dataclass(frozen=True)
class PageLabel:
    """One labelled page: ``path`` relative to the crawl folder, the passes' labels and the adjudicated one."""

    path: str
    url: str
    split: str
    pass_a: str
    pass_b: str
    label: str
    adjudication: str = ""


def default_page_labels() -> Path:
    """``data/policy_pages/labels.csv`` of the checkout."""
    return Path(__file__).resolve().parents[2] / "data" / "policy_pages" / "labels.csv"


def is_policy_label(label: str) -> bool:
    """The detector's reading of the three labels: a ``partial`` page carries practice paragraphs, so it counts."""
    return label != "not_policy"


def load_page_labels(path: str | Path | None = None) -> list[PageLabel]:
    """Read a labels file; raises ``ValueError`` naming the row with a label or split outside the scheme."""
    path = Path(path) if path is not None else default_page_labels()
    with open(path, encoding="utf-8", newline="") as handle:
        rows = [PageLabel(**row) for row in csv.DictReader(handle)]
    for number, row in enumerate(rows, 2):
        bad = [value for value in (row.pass_a, row.pass_b, row.label) if value not in PAGE_LABELS]
        if bad or row.split not in ("train", "test"):
            raise ValueError(f"{path}:{number}: label {bad[0] if bad else row.split!r} is not one of "
                             f"{', '.join(PAGE_LABELS)} (split: train or test)")
    return rows


def page_agreement(rows: Sequence[PageLabel]) -> dict[str, Any]:
    """Cohen's kappa between the two passes, on the three labels and on the detector's two (policy or not), the
    confusion of the passes, and how many disagreements adjudication settled for each side."""
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    first, second = [row.pass_a for row in rows], [row.pass_b for row in rows]
    binary_a, binary_b = [is_policy_label(x) for x in first], [is_policy_label(x) for x in second]
    disagreements = [row for row in rows if row.pass_a != row.pass_b]
    return {
        "pages": len(rows),
        "kappa": float(cohen_kappa_score(first, second)),
        "agreement": sum(a == b for a, b in zip(first, second, strict=True)) / len(rows),
        "binary_kappa": float(cohen_kappa_score(binary_a, binary_b)),
        "binary_agreement": sum(a == b for a, b in zip(binary_a, binary_b, strict=True)) / len(rows),
        "confusion": confusion_matrix(first, second, labels=list(PAGE_LABELS)).tolist(),
        "disagreements": len(disagreements),
        "adjudicated_as_a": sum(row.label == row.pass_a for row in disagreements),
        "adjudicated_as_b": sum(row.label == row.pass_b for row in disagreements),
        "labels": {label: sum(row.label == label for row in rows) for label in PAGE_LABELS},
    }
