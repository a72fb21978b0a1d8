"""Evaluation outputs: ``metrics.json``, ``report.md``, ``errors.jsonl`` and PNG plots in one directory."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.evaluation.evaluate import EvalResult, save_metrics
from classifier.files import atomic_write

__all__ = ["load_evaluation", "render_report", "write_evaluation"]


def _fmt_ci(value: float, ci: Sequence[float] | None) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


def render_report(metrics: dict[str, Any]) -> str:
    """Render the Markdown report from a ``metrics.json`` payload."""
    lines = ["# Evaluation report", ""]
    lines += ["Intervals are 95% bootstrap intervals over policies (policies resampled with replacement).", ""]
    lines += ["## Overview", "", "| model | data | view | micro-F1 | macro-F1 | weighted-F1 | exact match | Hamming |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for result in metrics["results"]:
        for view in ("opp115", "card"):
            if view not in result["views"]:
                continue
            v = result["views"][view]
            ci = v["bootstrap_ci"]
            lines.append(f"| {result['model']} | {result['data']} | {view} | {_fmt_ci(v['micro_f1'], ci['micro_f1'])}"
                         f" | {_fmt_ci(v['macro_f1'], ci['macro_f1'])} | {v['weighted_f1']:.3f} | "
                         f"{v['exact_match']:.3f} | {v['hamming_loss']:.4f} |")
        if "children" in result["views"]:
            c = result["views"]["children"]
            lines.append(f"| {result['model']} | {result['data']} | children | F1 {c['f1']:.3f} | "
                         f"P {c['precision']:.3f} | R {c['recall']:.3f} | support {c['support']} | | |")
    for comp in metrics.get("comparisons", []):
        lines += ["", f"## Paired comparison: {comp['b']} vs {comp['a']} on {comp['data']}", "",
                  "| view | metric | difference (B - A) | 95% CI | share of resamples where B is not better |",
                  "| --- | --- | --- | --- | --- |"]
        for view in ("opp115", "card"):
            for metric, values in comp.get(view, {}).items():
                lines.append(f"| {view} | {metric} | {values['diff']:+.3f} | [{values['ci'][0]:+.3f}, "
                             f"{values['ci'][1]:+.3f}] | {values['p_b_not_better']:.3f} |")
    nan = float("nan")
    for result in metrics["results"]:
        v = result["views"]["opp115"]
        ci = dict(zip(list(v["per_label"]), v["bootstrap_ci"]["per_label_f1"], strict=False))
        lines += ["", f"## {result['model']} on {result['data']}: per label", "",
                  "| label | precision | recall | F1 | support | threshold | best-F1 threshold | AP |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for label, row in v["per_label"].items():
            pr = result["pr"].get(label) or {}
            interval = ci.get(label) if label in v["averaged_over"] else None
            lines.append(f"| `{label}` | {row['precision']:.3f} | {row['recall']:.3f} | "
                         f"{_fmt_ci(row['f1'], interval)} | {row['support']} | {result['thresholds'][label]:.3f} | "
                         f"{pr.get('best_threshold', nan):.3f} | {pr.get('average_precision', nan):.3f} |")
        worst = result["per_policy"][:5]
        lines += ["", "Worst policies (micro-F1): " + ", ".join(f"{p['policy']} {p['micro_f1']:.3f}" for p in worst)]
    lines += ["", "Plots: `f1_per_label.png`, `pr_curves_<model>_<data>.png`, `confusion_<model>_<data>.png`. "
              "Most confident errors per label: `errors.jsonl`."]
    return "\n".join(lines) + "\n"


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def write_evaluation(out_dir: str | os.PathLike[str], results: Sequence[EvalResult],
                     comparisons: Sequence[dict[str, Any]] = (), *, plots: bool | None = None) -> Path:
    """Write ``metrics.json``, ``report.md``, ``errors.jsonl`` and PNG plots to ``out_dir``.

    ``plots``: True, False, or None for plots when matplotlib (the ``plots`` extra) is installed.

    Raises:
        ModuleNotFoundError: plots are asked for and matplotlib is not installed.
    """
    if plots is None:
        plots = plots_available()
    elif plots and not plots_available():
        raise ModuleNotFoundError("plots need matplotlib: pip install 'policy-clause-classifier[plots]', "
                                  "or pass --no-plots", name="matplotlib")
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    save_metrics(directory / "metrics.json", results, comparisons)
    metrics = load_evaluation(directory)
    atomic_write(directory / "report.md", render_report(metrics))
    with (directory / "errors.jsonl").open("w", encoding="utf-8") as handle:
        for result in results:
            for error in result.metrics["errors"]:
                handle.write(json.dumps({"model": result.model, "data": result.data, **error}, ensure_ascii=False)
                             + "\n")
    if plots:
        _plots(directory, results)
    return directory


def load_evaluation(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the ``metrics.json`` of an evaluation directory."""
    return json.loads((Path(directory) / "metrics.json").read_text(encoding="utf-8"))


def plots_available() -> bool:
    """Whether matplotlib (the ``plots`` extra) is installed."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _plots(directory: Path, results: Sequence[EvalResult]) -> None:
    # Figures are built as matplotlib.figure.Figure objects, not through pyplot: no backend is chosen and no
    # global figure state is left behind in the caller's process.
    from matplotlib.figure import Figure

    _save(_f1_figure(Figure(figsize=(10, 4.5)), results), directory / "f1_per_label.png")
    for result in results:
        slug = _slug(f"{result.model}_{result.data}")
        _save(_pr_figure(Figure(figsize=(6, 5)), result), directory / f"pr_curves_{slug}.png")
        _save(_confusion_figure(Figure(figsize=(7, 6)), result), directory / f"confusion_{slug}.png")


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _f1_figure(fig: Any, results: Sequence[EvalResult]) -> Any:
    """Per-label F1 of each result side by side, with the bootstrap interval as error bars."""
    ax = fig.subplots()
    width = 0.8 / max(1, len(results))
    labels: list[str] = []
    for k, result in enumerate(results):
        view = result.metrics["views"]["opp115"]
        labels = list(view["per_label"])
        f1 = np.array([view["per_label"][lb]["f1"] for lb in labels])
        ci = dict(zip(view["averaged_over"], view["bootstrap_ci"]["per_label_f1"], strict=False))
        lo = np.array([f1[i] - ci[lb][0] if lb in ci else 0 for i, lb in enumerate(labels)])
        hi = np.array([ci[lb][1] - f1[i] if lb in ci else 0 for i, lb in enumerate(labels)])
        ax.bar(np.arange(len(labels)) + k * width, f1, width, yerr=[np.maximum(lo, 0), np.maximum(hi, 0)],
               capsize=2, label=f"{result.model} / {result.data}")
    ax.set_xticks(np.arange(len(labels)) + width * (len(results) - 1) / 2, labels, rotation=35, ha="right",
                  fontsize=8)
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Per-label F1 (95% bootstrap CI over policies)")
    return fig


def _pr_figure(fig: Any, result: EvalResult) -> Any:
    ax = fig.subplots()
    for label, info in result.metrics["pr"].items():
        if info:
            ax.plot(info["curve"]["recall"], info["curve"]["precision"],
                    label=f"{label} (AP {info['average_precision']:.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall: {result.model} on {result.data}", fontsize=9)
    ax.legend(fontsize=6)
    return fig


def _confusion_figure(fig: Any, result: EvalResult) -> Any:
    """Rows: true label, columns: predicted label, share of the row's paragraphs."""
    ax = fig.subplots()
    matrix = (result.y_true.T @ result.y_pred) / np.maximum(result.y_true.sum(0)[:, None], 1)
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(result.labels)), result.labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(result.labels)), result.labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Share of paragraphs with true label (row) predicted as label (column)", fontsize=8)
    fig.colorbar(image)
    return fig
