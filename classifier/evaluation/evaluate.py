"""Evaluation harness: metrics in both label views, bootstrap confidence intervals over policies, paired
comparisons, threshold analysis, error analysis, per-policy breakdown and cross-validation by policy.

The unit of resampling is the policy, not the paragraph: paragraphs of one policy are not independent, and a
policy-level interval is what tells how the model does on policies it has never seen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from classifier.data.corpus import label_mask, label_names, multi_hot
from classifier.data.partial import load_partial, partial_corpus
from classifier.evaluation.metrics import multilabel_report
from classifier.files import atomic_write
from classifier.labels import CARD_MAP, LABEL_IDS, OPP115_IDS, card_label_ids

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "EvalResult",
    "bootstrap_f1",
    "card_matrix",
    "counts_by_policy",
    "evaluate",
    "load_eval_data",
    "load_model",
    "paired_bootstrap",
    "pr_analysis",
]

SCHEMA_VERSION = 1


def load_eval_data(spec: str | os.PathLike[str]) -> tuple[str, Dataset]:
    """Load a labelled dataset from an OPP-115-layout directory, a seed-layout corpus directory, a JSONL file, or
    the directory of MAPP, C3PA or APPSI-139 (their ``test`` split: MAPP's own, C3PA's and APPSI-139's held-out
    policies; see :mod:`classifier.data.mapp`, :mod:`~classifier.data.c3pa`, :mod:`~classifier.data.appsi139`).

    Returns:
        ``(name, dataset)``.

    Raises:
        ValueError: the path is none of these.
    """
    from classifier.data.corpus import load_jsonl, load_opp115

    path = Path(spec)
    partial = partial_corpus(path)
    if partial is not None:
        return f"{partial}-test", load_partial(partial, str(path), "test")
    if (path / "sanitized_policies").is_dir():
        return path.name or str(path), load_opp115(path)
    if path.is_dir() and any(path.glob("*.jsonl")) and (path / "policies").is_dir():
        from classifier.data.seed_corpus import load_seed_corpus

        return path.name, load_seed_corpus(path)
    if path.is_file():
        from classifier.data.corpus import infer_label_names

        names = infer_label_names(path)
        schema = set(LABEL_IDS)
        return path.stem, load_jsonl(path, names=None if set(names) <= schema else names)
    raise ValueError(f"{spec}: not an OPP-115 directory, a seed-layout corpus or a JSONL file")


def load_model(spec: str | None) -> tuple[str, Any]:
    """Load a model: ``None``/``"default"`` (the shipped model), a saved model directory, or a TF-IDF baseline.

    Returns:
        ``(name, model)``; the model has ``labels``, ``thresholds`` and ``predict_proba``.
    """
    from classifier.models.tfidf import TfidfBaseline
    from classifier.models.transformer import DEFAULT_MODEL_DIR, PolicyClassifier

    if spec in (None, "default"):
        return DEFAULT_MODEL_DIR.name, PolicyClassifier.from_pretrained()
    path = Path(spec)
    name = path.parent.name if path.name == "model" else path.name  # runs/<run>/model is named by its run
    if TfidfBaseline.is_baseline_dir(path):
        return name, TfidfBaseline.from_pretrained(path, custom_labels=True)
    return name, PolicyClassifier.from_pretrained(path, custom_labels=True)


def card_matrix(y: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Map an ``(n, k)`` 0/1 matrix over schema labels to the six card categories (logical or)."""
    out = np.zeros((y.shape[0], len(card_label_ids())), dtype=y.dtype)
    cards = list(card_label_ids())
    for j, label in enumerate(labels):
        if label in CARD_MAP:
            col = cards.index(CARD_MAP[label])
            out[:, col] = np.maximum(out[:, col], y[:, j])
    return out


def counts_by_policy(y_true: np.ndarray, y_pred: np.ndarray, policies: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Per-policy TP/FP/FN per label: returns ``(policy order, array of shape (n_policies, 3, k))``."""
    order = sorted(set(policies))
    index = {p: i for i, p in enumerate(order)}
    counts = np.zeros((len(order), 3, y_true.shape[1]), dtype=np.int64)
    rows = np.array([index[p] for p in policies])
    t, p = y_true.astype(bool), y_pred.astype(bool)
    np.add.at(counts[:, 0], rows, (t & p).astype(np.int64))
    np.add.at(counts[:, 1], rows, (~t & p).astype(np.int64))
    np.add.at(counts[:, 2], rows, (t & ~p).astype(np.int64))
    return order, counts


def _f1_from_counts(summed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``summed``: (..., 3, k) → (micro F1 (...), macro F1 (...)), zero_division=0 like scikit-learn."""
    tp, fp, fn = summed[..., 0, :], summed[..., 1, :], summed[..., 2, :]
    per_label = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    micro_den = 2 * tp.sum(-1) + fp.sum(-1) + fn.sum(-1)
    micro = np.where(micro_den > 0, 2 * tp.sum(-1) / np.maximum(micro_den, 1), 0.0)
    return micro, per_label.mean(-1)


def bootstrap_f1(counts: np.ndarray, *, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict[str, Any]:
    """Bootstrap over policies: resample policies with replacement and recompute micro/macro F1.

    Args:
        counts: ``(n_policies, 3, k)`` TP/FP/FN from :func:`counts_by_policy`.

    Returns:
        ``{"micro_f1": [lo, hi], "macro_f1": [lo, hi], "per_label_f1": [[lo, hi], ...]}`` (percentile intervals).
    """
    rng = np.random.default_rng(seed)
    n = counts.shape[0]
    picks = rng.integers(0, n, size=(n_boot, n))
    summed = counts[picks].sum(1)  # (n_boot, 3, k)
    micro, macro = _f1_from_counts(summed)
    tp, fp, fn = summed[:, 0], summed[:, 1], summed[:, 2]
    per_label = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    return {
        "micro_f1": np.percentile(micro, q).tolist(),
        "macro_f1": np.percentile(macro, q).tolist(),
        "per_label_f1": np.percentile(per_label, q, axis=0).T.tolist(),
        "n_boot": n_boot,
        "n_policies": n,
    }


def paired_bootstrap(counts_a: np.ndarray, counts_b: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap over the same policies: the difference ``B - A`` in micro and macro F1.

    Returns:
        For each of ``micro_f1``/``macro_f1``: ``{"diff", "ci": [lo, hi], "p_b_not_better"}`` where the last is
        the share of resamples in which B does not beat A.
    """
    if counts_a.shape != counts_b.shape:
        raise ValueError("paired bootstrap needs the same policies and labels for both models")
    rng = np.random.default_rng(seed)
    n = counts_a.shape[0]
    picks = rng.integers(0, n, size=(n_boot, n))
    micro_a, macro_a = _f1_from_counts(counts_a[picks].sum(1))
    micro_b, macro_b = _f1_from_counts(counts_b[picks].sum(1))
    point_a, point_b = _f1_from_counts(counts_a.sum(0)), _f1_from_counts(counts_b.sum(0))
    out = {}
    for i, name in enumerate(("micro_f1", "macro_f1")):
        diffs = (micro_b - micro_a) if i == 0 else (macro_b - macro_a)
        out[name] = {"diff": float(point_b[i] - point_a[i]), "ci": np.percentile(diffs, [2.5, 97.5]).tolist(),
                     "p_b_not_better": float((diffs <= 0).mean())}
    return out


def pr_analysis(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Precision-recall curve, average precision and best-F1 threshold per label."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    out: dict[str, Any] = {}
    for j, label in enumerate(labels):
        truth = y_true[:, j].astype(int)
        if truth.sum() == 0:
            out[label] = None
            continue
        precision, recall, thresholds = precision_recall_curve(truth, probs[:, j])
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = int(np.argmax(f1[:-1])) if len(thresholds) else 0
        step = max(1, len(thresholds) // 200)  # keep files small: at most ~200 curve points
        out[label] = {
            "average_precision": float(average_precision_score(truth, probs[:, j])),
            "best_threshold": float(thresholds[best]) if len(thresholds) else 0.5,
            "best_f1": float(f1[best]),
            "curve": {"precision": precision[::step].round(4).tolist(), "recall": recall[::step].round(4).tolist()},
        }
    return out


@dataclass
class EvalResult:
    """One model on one dataset: the raw predictions and every figure the report shows."""

    model: str
    data: str
    labels: list[str]
    policies: list[str]
    texts: list[str]
    y_true: np.ndarray
    probs: np.ndarray
    thresholds: list[float]
    metrics: dict[str, Any] = field(default_factory=dict)
    known: np.ndarray | None = None  # partial labels: the cells the data decides; the others never count

    @property
    def y_pred(self) -> np.ndarray:
        pred = (self.probs >= np.asarray(self.thresholds)[None, :]).astype(int)
        return pred if self.known is None else pred * (self.known > 0)


def evaluate(model: Any, dataset: Dataset, *, model_name: str = "model", data_name: str = "data",
             n_boot: int = 1000, seed: int = 0, threshold: float | None = None, n_errors: int = 5) -> EvalResult:
    """Evaluate a model on a labelled dataset.

    The model's labels must include the dataset's; figures are given over the dataset's labels. With schema labels
    there are three views: ``opp115`` (averages over the ten categories), ``card`` (six categories) and
    ``children`` (its F1 alone). A partially annotated corpus (an ``annotated`` column) is scored on the cells it
    decides only, its averages over the categories it annotates (with positives and negatives in the data), and has
    the ``opp115`` view alone.

    Returns:
        An :class:`EvalResult` whose ``metrics`` follow the schema documented in the README.

    Raises:
        ValueError: the dataset has labels the model does not know.
    """
    labels = label_names(dataset)
    missing = [label for label in labels if label not in model.labels]
    if missing:
        raise ValueError(f"model {model_name} does not predict {', '.join(missing)}")
    columns = [model.labels.index(label) for label in labels]
    texts = list(dataset["text"])
    probs = model.predict_proba(texts)[:, columns]
    thresholds = [threshold] * len(labels) if threshold is not None else [model.thresholds[c] for c in columns]
    y_true = multi_hot(dataset).astype(int)
    known = label_mask(dataset)
    partial = not known.all()
    result = EvalResult(model_name, data_name, labels, list(dataset["policy"]), texts, y_true, probs, thresholds,
                        known=known if partial else None)
    y_pred = result.y_pred
    views: dict[str, Any] = {}
    schema = labels == list(LABEL_IDS)
    over = list(OPP115_IDS) if schema else labels
    if partial:  # the labels the data decides both ways: a positive-only label, or one never positive, tells nothing
        decided = ((known > 0) & (y_true == 1)).any(0) & ((known > 0) & (y_true == 0)).any(0)
        over = [label for label in over if decided[labels.index(label)]]
    view_defs = [("opp115", labels, y_true, y_pred, over)]
    if schema and not partial:
        cards = list(card_label_ids())
        view_defs.append(("card", cards, card_matrix(y_true, labels), card_matrix(y_pred, labels), cards))
    for name, names, truth, pred, over in view_defs:
        report = multilabel_report(truth, pred, names, average_over=over)
        cols = [names.index(label) for label in over]
        _, counts = counts_by_policy(truth[:, cols], pred[:, cols], result.policies)
        report["bootstrap_ci"] = bootstrap_f1(counts, n_boot=n_boot, seed=seed)
        report["averaged_over"] = over
        views[name] = report
    if schema and not partial:
        child = views["opp115"]["per_label"]["children"]
        views["children"] = {"f1": child["f1"], "precision": child["precision"], "recall": child["recall"],
                             "support": child["support"]}
    result.metrics = {
        "schema_version": SCHEMA_VERSION,
        "model": model_name,
        "data": data_name,
        "n_paragraphs": len(texts),
        "n_policies": len(set(result.policies)),
        "thresholds": dict(zip(labels, thresholds, strict=True)),
        "views": views,
        "pr": pr_analysis(y_true, probs, labels),
        "per_policy": _per_policy(result),
        "errors": _errors(result, n_errors),
    }
    return result


def _per_policy(result: EvalResult) -> list[dict[str, Any]]:
    from sklearn.metrics import f1_score

    rows = []
    policies = np.array(result.policies)
    y_pred = result.y_pred
    for policy in sorted(set(result.policies)):
        mask = policies == policy
        rows.append({
            "policy": policy, "n_paragraphs": int(mask.sum()),
            "micro_f1": float(f1_score(result.y_true[mask], y_pred[mask], average="micro", zero_division=0)),
            "exact_match": float((result.y_true[mask] == y_pred[mask]).all(1).mean()),
        })
    return sorted(rows, key=lambda r: r["micro_f1"])


def _errors(result: EvalResult, n: int) -> list[dict[str, Any]]:
    """The ``n`` most confident false positives and false negatives per label."""
    out = []
    y_pred = result.y_pred
    for j, label in enumerate(result.labels):
        fp = np.flatnonzero((y_pred[:, j] == 1) & (result.y_true[:, j] == 0))
        fn = np.flatnonzero((y_pred[:, j] == 0) & (result.y_true[:, j] == 1))
        for kind, idx, order in (("false_positive", fp, -1), ("false_negative", fn, 1)):
            ranked = idx[np.argsort(order * result.probs[idx, j], kind="stable")][:n]
            for i in ranked:
                out.append({"label": label, "kind": kind, "score": round(float(result.probs[i, j]), 4),
                            "threshold": result.thresholds[j], "policy": result.policies[i], "text": result.texts[i],
                            "true_labels": [lb for k, lb in enumerate(result.labels) if result.y_true[i, k]],
                            "predicted_labels": [lb for k, lb in enumerate(result.labels) if y_pred[i, k]]})
    return out


def comparison(a: EvalResult, b: EvalResult, *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap of model ``b`` against model ``a`` on the same data, in each view."""
    out: dict[str, Any] = {"a": a.model, "b": b.model, "data": a.data}
    view_labels = {"opp115": a.metrics["views"]["opp115"]["averaged_over"]}
    for view, over in view_labels.items():
        cols = [a.labels.index(label) for label in over]
        _, ca = counts_by_policy(a.y_true[:, cols], a.y_pred[:, cols], a.policies)
        _, cb = counts_by_policy(b.y_true[:, cols], b.y_pred[:, cols], b.policies)
        out[view] = paired_bootstrap(ca, cb, n_boot=n_boot, seed=seed)
    if "card" in a.metrics["views"]:
        ca = counts_by_policy(card_matrix(a.y_true, a.labels), card_matrix(a.y_pred, a.labels), a.policies)[1]
        cb = counts_by_policy(card_matrix(b.y_true, b.labels), card_matrix(b.y_pred, b.labels), b.policies)[1]
        out["card"] = paired_bootstrap(ca, cb, n_boot=n_boot, seed=seed)
    return out


def save_metrics(path: str | os.PathLike[str], results: Sequence[EvalResult], comparisons: Sequence[dict]) -> None:
    """Write the stable ``metrics.json`` (all results and comparisons) atomically."""
    payload = {"schema_version": SCHEMA_VERSION, "results": [r.metrics for r in results],
               "comparisons": list(comparisons)}
    atomic_write(path, json.dumps(payload, indent=2) + "\n")
