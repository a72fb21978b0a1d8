"""Is this page a privacy policy? A page-level detector over the paragraph classifier's output and the page text.

Crawls hold cookie banners, articles, terms of service and error pages beside policies. The detector is a logistic
regression over eight page features (:data:`FEATURES`): how many paragraphs carry a practice category and how many
carry the commonest one (from the paragraph model, in the OPP-115 view), how much privacy and data-handling
vocabulary the page has, whether its URL or opening names a privacy policy, and its size. They were chosen by
out-of-fold F1 on the train pages among a dozen candidates (shares of the page, mean scores and densities did worse
than counts). It is fitted on the labelled DMOZ pages of ``data/policy_pages`` (``policy`` and ``partial`` are
policies) for one paragraph model, and saved beside that model as ``detector.json`` (JSON: feature names, scaling,
weights, threshold, figures).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.files import atomic_write

if TYPE_CHECKING:
    from classifier.predict.document import ClassifiedDocument

__all__ = ["DETECTOR_FILE", "FEATURES", "PolicyDetector", "fit_detector", "load_detector", "page_features"]

DETECTOR_FILE = "detector.json"
FEATURES = ("log_paragraphs", "log_words", "log_practice_paragraphs", "log_privacy_terms", "log_data_terms",
            "log_top_category_paragraphs", "url_names_privacy", "opening_names_policy")
_PRACTICES = ("first_party_collection", "third_party_sharing", "data_security", "data_retention",
              "user_choice_control", "user_access_edit_deletion", "policy_change")
_PRIVACY_TERMS = re.compile(r"\b(?:privacy|personal (?:data|information)|personally identifiable|cookies?|gdpr|ccpa|"
                            r"opt[- ]?out|third[- ]part(?:y|ies)|data protection)\b", re.IGNORECASE)
_DATA_TERMS = re.compile(r"\b(?:collect\w*|share[sd]?|sharing|disclos\w*|retain\w*|process\w*|consent\w*|"
                         r"email address|ip address)\b", re.IGNORECASE)
_POLICY_NAME = re.compile(r"privacy|data[- ]?protection|datenschutz|cookie[- ]?policy|gdpr|ccpa", re.IGNORECASE)


def page_features(document: ClassifiedDocument) -> dict[str, float]:
    """The detector's features of one classified page (OPP-115 view: ``other`` is the non-practice label).

    Counts, not shares: a terms-of-service page with a privacy section has a few practice paragraphs and privacy
    terms, a policy many, a shop or article page none; shares of the page blur the first with the last.
    """
    paragraphs = document.paragraphs
    text = "\n".join(p.text for p in paragraphs)
    practice = sum(any(label != "other" for label in p.labels) for p in paragraphs)
    top_category = max((sum(label in p.labels for p in paragraphs) for label in _PRACTICES), default=0)
    return {
        "log_paragraphs": math.log1p(len(paragraphs)),
        "log_words": math.log1p(sum(len(p.text.split()) for p in paragraphs)),
        "log_practice_paragraphs": math.log1p(practice),
        "log_privacy_terms": math.log1p(len(_PRIVACY_TERMS.findall(text))),
        "log_data_terms": math.log1p(len(_DATA_TERMS.findall(text))),
        "log_top_category_paragraphs": math.log1p(top_category),
        "url_names_privacy": float(bool(document.url and _POLICY_NAME.search(document.url))),
        "opening_names_policy": float(bool(_POLICY_NAME.search(text[:600]))),
    }


@dataclass
class PolicyDetector:
    """A fitted detector: ``probability(document)`` of being a policy, ``is_policy`` at ``threshold``."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    threshold: float = 0.5
    metrics: dict[str, Any] = field(default_factory=dict)

    def probability(self, document: ClassifiedDocument) -> float:
        values = page_features(document)
        z = self.bias + sum(w * (values[f] - m) / s for f, m, s, w in
                            zip(self.features, self.mean, self.scale, self.weights, strict=True))
        return 1 / (1 + math.exp(-max(-60.0, min(60.0, z))))

    def is_policy(self, probability: float) -> bool:
        return probability >= self.threshold

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / DETECTOR_FILE
        atomic_write(path, json.dumps(asdict(self), indent=2) + "\n")
        return path


def load_detector(directory: str | Path) -> PolicyDetector | None:
    """The detector saved beside a model, ``None`` when it has none; ``ValueError`` when the file is not one."""
    path = Path(directory) / DETECTOR_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        detector = PolicyDetector(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path}: not a policy detector ({exc})") from None
    unknown = sorted(set(detector.features) - set(FEATURES))
    lengths = {len(detector.features), len(detector.mean), len(detector.scale), len(detector.weights)}
    if unknown or len(lengths) != 1 or not 0 <= detector.threshold <= 1:
        raise ValueError(f"{path}: not a policy detector (unknown features {unknown}, or mismatched lengths, or a "
                         "threshold outside [0, 1])")
    return detector


def fit_detector(documents: Sequence[ClassifiedDocument], is_policy: Sequence[bool], *, seed: int = 13,
                 folds: int = 5) -> PolicyDetector:
    """Fit the logistic regression on labelled pages; its threshold maximises the F1 of the *not a policy* decision
    on out-of-fold probabilities of the same pages (stratified ``folds``-fold), so no page tunes its own cut."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    x = np.array([[page_features(d)[f] for f in FEATURES] for d in documents], dtype=np.float64)
    y = np.asarray(is_policy, dtype=int)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale

    def model() -> Any:
        return LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)

    oof = np.zeros(len(y))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(z, y):
        oof[test] = model().fit(z[train], y[train]).predict_proba(z[test])[:, 1]
    threshold = _best_not_policy_threshold(y, oof)
    final = model().fit(z, y)
    return PolicyDetector(features=list(FEATURES), mean=mean.tolist(), scale=scale.tolist(),
                          weights=final.coef_[0].tolist(), bias=float(final.intercept_[0]), threshold=threshold)


def _best_not_policy_threshold(y: Any, probability: Any) -> float:
    """The cut on the policy probability that maximises F1 of 'not a policy' (probability below the cut)."""
    best, best_f1 = 0.5, -1.0
    for cut in sorted(set(probability.round(4).tolist())):
        flagged = probability < cut
        tp = int(((y == 0) & flagged).sum())
        precision, recall = tp / max(1, int(flagged.sum())), tp / max(1, int((y == 0).sum()))
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        if f1 > best_f1:
            best, best_f1 = float(cut), f1
    return best
