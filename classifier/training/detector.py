"""Fit the privacy-policy detector of a paragraph model on the labelled crawl pages, and measure it on held-out ones.

The pages of ``data/policy_pages/labels.csv`` are read from the crawl folder and classified by the model; the
detector is fitted on the ``train`` pages (its threshold from their out-of-fold probabilities) and scored on the
``test`` pages, which nothing was fitted or tuned on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from classifier.data.policy_pages import PageLabel
    from classifier.models.base import ParagraphModel
    from classifier.predict.detector import PolicyDetector

__all__ = ["detector_report", "train_detector"]


def train_detector(model: ParagraphModel, crawl_dir: str | Path, labels: Sequence[PageLabel], *, seed: int = 13,
                   log: Callable[[str], None] | None = None) -> PolicyDetector:
    """Classify the labelled pages, fit on the train split, and attach the test split's figures as ``metrics``."""
    from classifier.data.policy_pages import is_policy_label
    from classifier.predict.detector import fit_detector
    from classifier.predict.document import classify_documents

    log = log or (lambda line: None)
    log(f"classifying {len(labels)} labelled pages")
    documents = classify_documents(model, [Path(crawl_dir) / row.path for row in labels])
    train = [i for i, row in enumerate(labels) if row.split == "train"]
    test = [i for i, row in enumerate(labels) if row.split == "test"]
    detector = fit_detector([documents[i] for i in train], [is_policy_label(labels[i].label) for i in train],
                            seed=seed)
    detector.metrics = {
        "train_pages": len(train),
        "test": detector_report(detector, [documents[i] for i in test], [labels[i].label for i in test]),
    }
    return detector


def detector_report(detector: PolicyDetector, documents: Sequence[Any], labels: Sequence[str]) -> dict[str, Any]:
    """Precision, recall and F1 of the *not a policy* decision on labelled pages, and how each label fared."""
    probabilities = [detector.probability(d) for d in documents]
    flagged = [not detector.is_policy(p) for p in probabilities]
    truth = [label == "not_policy" for label in labels]
    tp = sum(f and t for f, t in zip(flagged, truth, strict=True))
    precision, recall = tp / max(1, sum(flagged)), tp / max(1, sum(truth))
    by_label = {label: {"pages": sum(x == label for x in labels),
                        "flagged_not_policy": sum(f for f, x in zip(flagged, labels, strict=True) if x == label)}
                for label in ("policy", "partial", "not_policy")}
    return {"pages": len(labels), "not_policy_precision": precision, "not_policy_recall": recall,
            "not_policy_f1": 2 * precision * recall / max(1e-9, precision + recall), "by_label": by_label,
            "accuracy": sum(f == t for f, t in zip(flagged, truth, strict=True)) / max(1, len(labels))}
