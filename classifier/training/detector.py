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

__all__ = ["decision_report", "detector_report", "train_detector"]


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
        "test_practice_share_rule": _share_rule_report([documents[i] for i in train],
                                                       [labels[i].label for i in train],
                                                       [documents[i] for i in test], [labels[i].label for i in test]),
    }
    return detector


def detector_report(detector: PolicyDetector, documents: Sequence[Any], labels: Sequence[str]) -> dict[str, Any]:
    """Precision, recall and F1 of the detector's *not a policy* decision on labelled pages, and how each label
    fared."""
    return decision_report([detector.probability(d) for d in documents], detector.threshold, labels)


def decision_report(scores: Sequence[float], cut: float, labels: Sequence[str]) -> dict[str, Any]:
    """The same figures for any page score: a page below ``cut`` is judged not a policy."""
    flagged = [score < cut for score in scores]
    truth = [label == "not_policy" for label in labels]
    tp = sum(f and t for f, t in zip(flagged, truth, strict=True))
    precision, recall = tp / max(1, sum(flagged)), tp / max(1, sum(truth))
    by_label = {label: {"pages": sum(x == label for x in labels),
                        "flagged_not_policy": sum(f for f, x in zip(flagged, labels, strict=True) if x == label)}
                for label in ("policy", "partial", "not_policy")}
    return {"pages": len(labels), "not_policy_precision": precision, "not_policy_recall": recall,
            "not_policy_f1": 2 * precision * recall / max(1e-9, precision + recall), "by_label": by_label,
            "accuracy": sum(f == t for f, t in zip(flagged, truth, strict=True)) / max(1, len(labels))}


def _practice_share(document: Any) -> float:
    paragraphs = document.paragraphs
    return sum(any(label != "other" for label in p.labels) for p in paragraphs) / max(1, len(paragraphs))


def _share_rule_report(train: Sequence[Any], train_labels: Sequence[str], test: Sequence[Any],
                       test_labels: Sequence[str]) -> dict[str, Any]:
    """The simple rule the detector replaces, for comparison: 'not a policy' when the share of paragraphs with a
    practice category is below a cut, the cut (0.00-1.00 by 0.01) chosen on the fitting pages."""
    train_shares, test_shares = [_practice_share(d) for d in train], [_practice_share(d) for d in test]
    cut = max((c / 100 for c in range(101)),
              key=lambda c: decision_report(train_shares, c, train_labels)["not_policy_f1"])
    return {"cut": cut, **decision_report(test_shares, cut, test_labels)}
