"""How well a model's scores are calibrated, before and after per-label isotonic calibration, and how often the
report's policy-level states are right, all on out-of-fold predictions (policy-level folds).

The calibration is scored honestly: each fold's scores are calibrated by a map fitted on the *other* folds, so the
"after" figures are what a calibration fitted on every fold (the one saved with the model) should give on new
policies. The states follow :mod:`classifier.report.policy` with each fold's own thresholds; a policy "has" a
category in the gold when at least one of its paragraphs does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from classifier.models.calibration import expected_calibration_error, fit_calibration, reliability

__all__ = ["FLOORS", "calibration_markdown", "calibration_study", "plot_reliability"]

FLOORS = (0.05, 0.1, 0.2, 0.3, 0.5)  # unsure floors compared in the study


def calibration_study(y_true: np.ndarray, probs: np.ndarray, folds: np.ndarray, thresholds: np.ndarray,
                      labels: Sequence[str], policies: Sequence[str], *, unsure_floor: float) -> dict[str, Any]:
    """Figures of out-of-fold ``probs`` (``(n, k)``, each row's fold in ``folds`` and its fold's ``thresholds``).

    Returns:
        ``{"labels": {label: {"n", "positives", "ece_before", "ece_after", "reliability_before",
        "reliability_after"}}, "ece_before", "ece_after" (means over labels), "states": {...}}``.
    """
    calibrated = nested_calibration(y_true, probs, folds, list(labels))
    per_label = {}
    for j, label in enumerate(labels):
        per_label[label] = {
            "n": len(y_true), "positives": int(y_true[:, j].sum()),
            "ece_before": round(expected_calibration_error(y_true[:, j], probs[:, j]), 4),
            "ece_after": round(expected_calibration_error(y_true[:, j], calibrated[:, j]), 4),
            "reliability_before": reliability(y_true[:, j], probs[:, j]),
            "reliability_after": reliability(y_true[:, j], calibrated[:, j]),
        }
    return {"n_paragraphs": len(y_true), "n_policies": len(set(policies)), "labels": per_label,
            "ece_before": round(float(np.mean([v["ece_before"] for v in per_label.values()])), 4),
            "ece_after": round(float(np.mean([v["ece_after"] for v in per_label.values()])), 4),
            "unsure_floor": unsure_floor,
            "states": policy_states(y_true, probs >= thresholds, calibrated, labels, policies, unsure_floor),
            "floors": {str(floor): policy_states(y_true, probs >= thresholds, calibrated, labels, policies,
                                                 floor)["overall"] for floor in FLOORS}}


def nested_calibration(y_true: np.ndarray, probs: np.ndarray, folds: np.ndarray, labels: list[str]) -> np.ndarray:
    """Each fold's scores calibrated by isotonic maps fitted on the other folds."""
    out = np.zeros_like(probs, dtype=np.float64)
    for fold in np.unique(folds):
        test = folds == fold
        out[test] = fit_calibration(y_true[~test], probs[~test], labels).apply(probs[test])
    return out


def policy_states(y_true: np.ndarray, given: np.ndarray, calibrated: np.ndarray, labels: Sequence[str],
                  policies: Sequence[str], unsure_floor: float) -> dict[str, Any]:
    """The report's state of every policy and category against the gold: how many of each, and how often right."""
    owners = np.asarray(policies)
    counts = {"covered": [0, 0], "unsure": [0, 0], "not found": [0, 0]}  # [policies x categories, gold has it]
    by_label: dict[str, dict[str, list[int]]] = {}
    for j, label in enumerate(labels):
        by_label[label] = {state: [0, 0] for state in counts}
        for name in sorted(set(owners.tolist())):
            rows = owners == name
            gold = bool(y_true[rows, j].any())
            if given[rows, j].any():
                state = "covered"
            elif calibrated[rows, j].max() >= unsure_floor:
                state = "unsure"
            else:
                state = "not found"
            for table in (counts, by_label[label]):
                table[state][0] += 1
                table[state][1] += int(gold)
    return {"overall": _rates(counts), "labels": {label: _rates(table) for label, table in by_label.items()}}


def _rates(table: dict[str, list[int]]) -> dict[str, Any]:
    """Per state: how many, and the share where the gold has the category (right for covered, wrong for not
    found)."""
    return {state: {"n": n, "gold_has_it": has, "share_gold_has_it": round(has / n, 4) if n else None}
            for state, (n, has) in table.items()}


def calibration_markdown(study: dict[str, Any], *, source: str) -> str:
    """The study as Markdown: ECE per label before and after, and the states' figures."""
    states = study["states"]["overall"]
    lines = ["# Calibration and report states, out of fold", "",
             f"{study['n_paragraphs']:,} paragraphs of {study['n_policies']} policies ({source}). Expected calibration "
             "error (10 equal-width bins) of the raw scores and of the scores calibrated by isotonic maps fitted on "
             "the other folds.", "", "| label | positives | ECE raw | ECE calibrated |", "| --- | --- | --- | --- |"]
    lines += [f"| {label} | {v['positives']} | {v['ece_before']:.4f} | {v['ece_after']:.4f} |"
              for label, v in study["labels"].items()]
    lines += [f"| mean | | {study['ece_before']:.4f} | {study['ece_after']:.4f} |", "",
              f"Report states, every policy and category (unsure floor {study['unsure_floor']}): how often the "
              "annotators' gold has the category.", "", "| state | policy x category | gold has it | share |",
              "| --- | --- | --- | --- |"]
    for state, figures in states.items():
        lines.append(f"| {state} | {figures['n']} | {figures['gold_has_it']} | {_share(figures)} |")
    lines += ["", "Other floors: how many *not found* and how often wrong, how many *unsure* and how often in the "
              "gold.",
              "", "| floor | not found | wrong | unsure | gold has it |", "| --- | --- | --- | --- | --- |"]
    for floor, figures in study["floors"].items():
        absent, unsure = figures["not found"], figures["unsure"]
        lines.append(f"| {floor} | {absent['n']} | {_share(absent)} | {unsure['n']} | {_share(unsure)} |")
    lines += ["", "| label | covered: right | unsure: gold has it | not found: wrong |", "| --- | --- | --- | --- |"]
    for label, table in study["states"]["labels"].items():
        cells = [f"{t['gold_has_it']}/{t['n']}" for t in (table["covered"], table["unsure"], table["not found"])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _share(figures: dict[str, Any]) -> str:
    return "-" if figures["share_gold_has_it"] is None else f"{figures['share_gold_has_it']:.3f}"


def plot_reliability(study: dict[str, Any], path: Any) -> None:
    """Reliability diagrams, one panel per label: mean score against share of positives, raw and calibrated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(study["labels"])
    columns = 4
    rows = (len(labels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for axis, label in zip(axes.ravel(), labels, strict=False):
        figures = study["labels"][label]
        axis.plot([0, 1], [0, 1], color="#999", linewidth=0.8, linestyle=":")
        for key, colour, name in (("reliability_before", "#D55E00", "raw"), ("reliability_after", "#0072B2",
                                                                               "calibrated")):
            cells = figures[key]
            axis.plot([c[0] for c in cells], [c[1] for c in cells], marker="o", markersize=3, color=colour,
                      label=f"{name} (ECE {figures['ece_before' if name == 'raw' else 'ece_after']:.3f})")
        axis.set_title(label, fontsize=9)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.legend(fontsize=7, loc="upper left")
    for axis in axes.ravel()[len(labels):]:
        axis.axis("off")
    figure.supxlabel("mean score in bin")
    figure.supylabel("share of paragraphs with the label")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
