"""Attribute evaluation: per attribute and per value, paragraph-level and policy-level, and the TF-IDF baseline.

Paragraph level: each paragraph's stated values against the gold (``attribute/value`` outputs, the rows whose
attributes are annotated). Policy level: "does the policy state this value anywhere?", the union over its
paragraphs, against the union of the gold. A model's values count only where the paragraph was given a category
the value belongs to (:func:`classifier.attributes.gate_attributes`, as in every interface); the baseline is the
plain one of issue #29: one TF-IDF logistic regression per value, threshold 0.5, no gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from classifier.attributes import ATTRIBUTE_IDS, allowed_matrix, split_key

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["attribute_markdown", "attribute_report", "crossval_attribute_reports",
           "tfidf_attribute_baseline"]



def attribute_report(keys: Sequence[str], targets: np.ndarray, known: np.ndarray, decided: np.ndarray,
                     policies: Sequence[str]) -> dict[str, Any]:
    """Figures of ``decided`` (0/1 per paragraph and output) against ``targets`` on the rows whose attributes are
    annotated (``known`` all 1 on them).

    Returns:
        ``{"n_paragraphs", "n_policies", "attributes": {attribute: {"paragraph": {...}, "policy": {...}}},
        "values": {key: {"support", "precision", "recall", "f1", "policy_support", "policy_f1"}}}``, every figure
        a micro average over the attribute's values.
    """
    rows = np.flatnonzero(known.all(axis=1))
    y, p = targets[rows].astype(bool), decided[rows].astype(bool)
    owners = np.asarray(policies)[rows]
    names = sorted(set(owners.tolist()))
    y_policy = np.array([y[owners == name].any(axis=0) for name in names]).reshape(len(names), len(keys))
    p_policy = np.array([p[owners == name].any(axis=0) for name in names]).reshape(len(names), len(keys))
    by_attribute: dict[str, Any] = {}
    for attr in ATTRIBUTE_IDS:
        columns = [j for j, key in enumerate(keys) if split_key(key)[1] == attr]
        if columns:
            by_attribute[attr] = {"paragraph": _micro(y[:, columns], p[:, columns]),
                                  "policy": _micro(y_policy[:, columns], p_policy[:, columns])}
    values = {}
    for j, key in enumerate(keys):
        paragraph = _micro(y[:, [j]], p[:, [j]])
        values[key] = {**paragraph, "policy_support": int(y_policy[:, j].sum()),
                       "policy_f1": _micro(y_policy[:, [j]], p_policy[:, [j]])["f1"]}
    return {"n_paragraphs": len(rows), "n_policies": len(names), "attributes": by_attribute, "values": values}


def _micro(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    tp, predicted, support = int((y & p).sum()), int(p.sum()), int(y.sum())
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * tp / (predicted + support) if predicted + support else 0.0
    return {"support": support, "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def tfidf_attribute_baseline(data: Dataset, folds: np.ndarray, *, seed: int = 13) -> np.ndarray:
    """Out-of-fold probabilities of one TF-IDF logistic regression per attribute output, trained on the other folds'
    annotated rows (``folds``: each row's fold; the rows of ``data`` carry attribute columns)."""
    from classifier.data.attributes import attribute_targets
    from classifier.models.tfidf import TfidfBaseline

    targets, known = attribute_targets(data)
    keys = list(data.features["attribute_labels"].feature.names)
    texts = data["text"]
    probs = np.zeros(targets.shape, dtype=np.float32)
    for fold in sorted(set(folds.tolist())):
        train = np.flatnonzero((folds != fold) & known.all(axis=1))
        test = np.flatnonzero(folds == fold)
        model = TfidfBaseline.fit([texts[i] for i in train], targets[train], keys, seed=seed)
        probs[test] = model.predict_proba([texts[i] for i in test])
    return probs


def crossval_attribute_reports(data: Dataset, results: dict[str, dict[str, Any]], *,
                               seed: int = 13) -> dict[str, Any]:
    """The attribute figures of a cross-validation: each model with attribute outputs, its values gated by its own
    out-of-fold categories, and the TF-IDF baseline trained on the same folds (``tfidf_baseline``)."""
    from classifier.data.attributes import attribute_targets
    from classifier.data.corpus import label_names

    targets, known = attribute_targets(data)
    keys = list(data.features["attribute_labels"].feature.names)
    labels = label_names(data)
    reports = {}
    folds = None
    for name, entry in results.items():
        if "attribute_probs" not in entry:
            continue
        given = entry["probs"] >= entry["thresholds"]
        gate = given.astype(np.float32) @ allowed_matrix(keys, labels).T.astype(np.float32) > 0
        decided = (entry["attribute_probs"] >= entry["attribute_thresholds"]) & gate
        reports[name] = attribute_report(keys, targets, known, decided, data["policy"])
        folds = entry["fold"]
    if folds is not None:
        baseline = tfidf_attribute_baseline(data, folds, seed=seed) >= 0.5
        reports["tfidf_baseline"] = attribute_report(keys, targets, known, baseline, data["policy"])
    return reports


def attribute_markdown(reports: dict[str, Any]) -> str:
    """The figures of :func:`crossval_attribute_reports` as Markdown: micro-F1 per attribute, paragraph and policy
    level, one column pair per model; then each value's support and F1."""
    names = list(reports)
    if not names:
        return ""
    attributes = list(reports[names[0]]["attributes"])
    lines = ["# Attributes, out of fold", "",
             f"{reports[names[0]]['n_paragraphs']} paragraphs of {reports[names[0]]['n_policies']} policies with "
             "attribute annotations. Micro-F1 over each attribute's values; paragraph level / policy level "
             "(\"does the policy state it anywhere?\"). Models' values are gated by their categories; the TF-IDF "
             "baseline is one logistic regression per value at 0.5, ungated.", "",
             "| attribute | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for attr in attributes:
        cells = [f"{reports[n]['attributes'][attr]['paragraph']['f1']:.3f} / "
                 f"{reports[n]['attributes'][attr]['policy']['f1']:.3f}" for n in names]
        support = reports[names[0]]["attributes"][attr]["paragraph"]["support"]
        lines.append(f"| {attr} ({support}) | " + " | ".join(cells) + " |")
    lines += ["", "| value | support | " + " | ".join(f"{n} P / R / F1" for n in names) + " |",
              "| --- | --- |" + " --- |" * len(names)]
    for key, figures in reports[names[0]]["values"].items():
        cells = [f"{reports[n]['values'][key]['precision']:.2f} / {reports[n]['values'][key]['recall']:.2f} / "
                 f"{reports[n]['values'][key]['f1']:.2f}" for n in names]
        lines.append(f"| {key} | {figures['support']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
