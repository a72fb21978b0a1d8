"""Cross-validation records: fold summaries, out-of-fold predictions, and reading them back.

What ``policy-classifier crossval`` writes (``cv.json``, ``oof.safetensors``) and what the model card, the release
build and the comparison scripts read: figures per fold and their spread, thresholds tuned on out-of-fold
predictions, and fold-by-fold comparisons of two runs on the same folds.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from classifier.data.corpus import label_names
from classifier.evaluation.evaluate import EvalResult, evaluate
from classifier.evaluation.metrics import tune_thresholds
from classifier.files import umask_mode

if TYPE_CHECKING:
    from datasets import Dataset

    from classifier.training.config import TrainConfig

__all__ = ["combine_runs", "compare_folds", "cv_settings", "fold_summary", "load_oof", "oof_entry", "oof_result",
           "oof_thresholds", "read_cv_record", "read_oof_entry", "save_oof", "subset_fold_summaries",
           "summarize_folds", "threshold_estimate"]


def fold_summary(result: EvalResult) -> dict[str, Any]:
    views = result.metrics["views"]
    summary = {"micro_f1": views["opp115"]["micro_f1"], "macro_f1": views["opp115"]["macro_f1"],
               "n_paragraphs": result.metrics["n_paragraphs"], "n_policies": result.metrics["n_policies"],
               "per_label_f1": {k: v["f1"] for k, v in views["opp115"]["per_label"].items()},
               "thresholds": result.metrics["thresholds"]}
    if "card" in views:
        summary.update(card_micro_f1=views["card"]["micro_f1"], card_macro_f1=views["card"]["macro_f1"],
                       children_f1=views["children"]["f1"])
    return summary


def summarize_folds(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over folds of each headline figure."""
    out = {}
    for key in ("micro_f1", "macro_f1", "card_micro_f1", "card_macro_f1", "children_f1"):
        values = [f[key] for f in folds if key in f]
        if values:
            out[key] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                        "folds": values}
    return out


def subset_fold_summaries(dataset: Dataset, entry: dict[str, Any], rows: list[int], name: str,
                          data_name: str) -> list[dict[str, Any]]:
    """Per-fold summaries restricted to some rows (for example the OPP-115 policies of a mixed corpus)."""
    chosen = np.asarray(rows)
    summaries = []
    for fold in sorted(set(entry["fold"][chosen].tolist())):
        fold_rows = chosen[entry["fold"][chosen] == fold].tolist()
        result = oof_result(dataset, name, entry["probs"], entry["thresholds"], f"{data_name}-fold{fold}", fold_rows)
        summaries.append(fold_summary(result))
    return summaries


def save_oof(path: str, results: dict[str, dict[str, Any]]) -> None:
    """Store out-of-fold probabilities, thresholds and folds as safetensors (plain arrays, no pickle)."""
    from safetensors.numpy import save_file

    tensors = {}
    for name, entry in results.items():
        for key in ("probs", "thresholds", "fold", "attribute_probs", "attribute_thresholds"):
            if key in entry:
                tensors[f"{name}.{key}"] = np.ascontiguousarray(entry[key])
    save_file(tensors, path)
    umask_mode(path)


def load_oof(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Read what :func:`save_oof` and the ``crossval`` command stored in ``directory`` (cv.json, oof.safetensors).

    Returns:
        name -> ``{"folds", "probs", "thresholds", "fold"}`` as returned by :func:`cross_validate`.

    Raises:
        OSError, ValueError: the directory holds no readable cross-validation.
    """
    from safetensors.numpy import load_file

    cv = json.loads((Path(directory) / "cv.json").read_text())
    arrays = load_file(str(Path(directory) / "oof.safetensors"))
    return {name: {"folds": entry["fold_details"], "probs": arrays[f"{name}.probs"],
                   "thresholds": arrays[f"{name}.thresholds"], "fold": arrays[f"{name}.fold"],
                   **{key: arrays[f"{name}.{key}"] for key in ("attribute_probs", "attribute_thresholds")
                      if f"{name}.{key}" in arrays}}
            for name, entry in cv["models"].items()}


def oof_entry(results: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    """One model's out-of-fold predictions from :func:`load_oof`, or the equal-weight average of several (``"a+b"``).

    An average the run did not compute itself (say ``teacher+tfidf`` of a distillation run, whose ensemble is the
    student's) is formed from its members' out-of-fold probabilities, as :class:`AveragedModel`
    would have averaged them. It has no fold-validation thresholds (the folds' validation predictions are not
    kept), so its ``"thresholds"`` is ``None``: cut it with :func:`oof_thresholds`.

    Raises:
        KeyError: neither the entry nor every member of the average is in ``results``.
    """
    if name in results:
        return results[name]
    members = name.split("+")
    missing = [member for member in members if member not in results]
    if len(members) < 2 or missing:
        raise KeyError(f"no model {name!r} (has {', '.join(results)})")
    return {"probs": np.mean([results[member]["probs"] for member in members], axis=0, dtype=np.float32),
            "thresholds": None, "fold": results[members[0]]["fold"], "folds": []}


def cv_settings(directory: str | Path) -> TrainConfig:
    """The training config a ``crossval`` run in ``directory`` used (its ``cv.json``), to rebuild its data with
    :func:`~classifier.training.data.build_dataset` in the row order of its out-of-fold predictions.

    Raises:
        OSError, KeyError, TypeError, ValueError: no readable ``cv.json``, or settings this version does not know.
    """
    from classifier.training.config import TrainConfig

    settings = json.loads((Path(directory) / "cv.json").read_text())["settings"]
    return TrainConfig.from_dict({k: v for k, v in settings.items() if k not in ("k", "fold_seed")})


def read_oof_entry(directory: str | Path, name: str,
                   also: Sequence[tuple[str, str | Path, str]] = ()) -> tuple[TrainConfig, dict[str, Any]]:
    """A ``crossval`` run's training config (:func:`cv_settings`) and one entry's out-of-fold predictions
    (:func:`oof_entry`), for the scripts that re-score them.

    ``also`` brings ``(NAME, DIR, ENTRY)``: the entry ENTRY of the run in DIR under NAME, so that ``name`` can average
    models of two runs (``"mpnet+transformer+tfidf"``). Such a run must have read the same data and cut it into the
    same folds, or its rows would not line up.

    Raises:
        ValueError: no run in a directory, one without ``oof.safetensors`` (some committed runs keep only
            ``cv.json``), an unknown entry, or a run on other rows; the message is one line naming the directory.
    """
    def read(run: str | Path) -> tuple[TrainConfig, dict[str, dict[str, Any]]]:
        try:
            return cv_settings(run), load_oof(run)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{run}: no crossval run with out-of-fold predictions to read ({exc})") from None

    def pick(run: str | Path, results: dict[str, dict[str, Any]], entry: str) -> dict[str, Any]:
        try:
            return oof_entry(results, entry)
        except KeyError as exc:
            raise ValueError(f"{run}: {exc.args[0]}") from None

    settings, results = read(directory)
    for other_name, other_dir, other_entry in also:
        other_settings, other_results = read(other_dir)
        other = pick(other_dir, other_results, other_entry)
        same_data = all(getattr(other_settings, key) == getattr(settings, key)
                        for key in ("opp115", "seed_corpus", "jsonl", "labels_from_data"))
        if not same_data or not np.array_equal(other["fold"], next(iter(results.values()))["fold"]):
            raise ValueError(f"{other_dir}: not the same rows and folds as {directory}")
        results[other_name] = other
    return settings, pick(directory, results, name)


def read_cv_record(path: str | Path) -> dict[str, Any]:
    """Read a cross-validation's figures from a ``crossval`` output directory (its ``cv.json``), the file itself, or a
    model directory whose ``metrics.json`` carries them (``policy-classifier release``).

    Returns:
        ``{"settings", "environment", "models"}`` as ``crossval`` wrote them (``environment`` may be ``None``), and
        ``"attributes"`` when the run scored attribute outputs.

    Raises:
        OSError, ValueError: nothing readable there, or no cross-validation in it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "cv.json" if (path / "cv.json").exists() else path / "metrics.json"
    record = json.loads(path.read_text())
    if isinstance(record, dict):
        record = record.get("cross_validation", record)
    if not isinstance(record, dict) or "models" not in record:
        raise ValueError(f"{path}: no cross-validation figures in it")
    return {"settings": record.get("settings", {}), "environment": record.get("environment"),
            "models": record["models"], **({"attributes": record["attributes"]} if "attributes" in record else {})}


_PAIRED_METRICS = ("micro_f1", "macro_f1", "children_f1")


def compare_folds(a: dict[str, Any], b: dict[str, Any], entry_a: str, entry_b: str | None = None,
                  subset: str = "opp115") -> dict[str, Any]:
    """Pair two cross-validations fold by fold (B minus A), for runs that differ in one setting on the same folds.

    Takes two records from :func:`read_cv_record`, the model entry of each (``entry_b`` defaults to ``entry_a``)
    and the subset whose per-fold figures to pair (``"opp115"``, ``"seed_corpus"`` or ``"data"``). Fold figures are
    paired only when both runs split the same way: the same ``k`` and fold seed, and folds of the same size.

    Returns:
        ``{"folds": [{metric: (a, b)}...], "mean_difference": {metric: float}, "sd_difference": {...},
        "b_better": {metric: int}, "per_label_difference": {label: mean B − A}}``.

    Raises:
        KeyError: an entry or subset is missing. ValueError: the two runs' folds differ.
    """
    entry_b = entry_b or entry_a
    for key in ("k", "fold_seed"):
        if a["settings"].get(key) != b["settings"].get(key):
            raise ValueError(f"the runs use different folds ({key} {a['settings'].get(key)} vs "
                             f"{b['settings'].get(key)})")
    folds_a = a["models"][entry_a][f"{subset}_folds"]["fold_details"]
    folds_b = b["models"][entry_b][f"{subset}_folds"]["fold_details"]
    sizes_a = [(f["n_policies"], f["n_paragraphs"]) for f in folds_a]
    sizes_b = [(f["n_policies"], f["n_paragraphs"]) for f in folds_b]
    if sizes_a != sizes_b:
        raise ValueError(f"the runs use different folds (policies, paragraphs per fold: {sizes_a} vs {sizes_b})")
    metrics = [m for m in _PAIRED_METRICS if all(m in f for f in folds_a + folds_b)]
    diffs = {m: [fb[m] - fa[m] for fa, fb in zip(folds_a, folds_b, strict=True)] for m in metrics}
    labels = [label for label in folds_a[0]["per_label_f1"]
              if all(label in f["per_label_f1"] for f in folds_a + folds_b)]
    return {
        "folds": [{m: (fa[m], fb[m]) for m in metrics} for fa, fb in zip(folds_a, folds_b, strict=True)],
        "mean_difference": {m: statistics.fmean(d) for m, d in diffs.items()},
        "sd_difference": {m: statistics.stdev(d) if len(d) > 1 else 0.0 for m, d in diffs.items()},
        "b_better": {m: sum(x > 0 for x in d) for m, d in diffs.items()},
        "per_label_difference": {label: statistics.fmean(fb["per_label_f1"][label] - fa["per_label_f1"][label]
                                                         for fa, fb in zip(folds_a, folds_b, strict=True))
                                 for label in labels},
    }


def oof_thresholds(y_true: np.ndarray, probs: np.ndarray, folds: np.ndarray,
                   mask: np.ndarray | None = None) -> tuple[list[float], np.ndarray]:
    """Per-label thresholds from out-of-fold predictions, for a model trained on all the data.

    Args:
        y_true: ``(n, k)`` 0/1 labels; probs: ``(n, k)`` out-of-fold probabilities; folds: ``(n,)`` fold of each row.
        mask: ``(n, k)`` known cells (partial labels); each label is tuned on the rows that decide it.

    Returns:
        ``(pooled, nested)``: thresholds tuned on every row (to ship), and ``(n, k)`` thresholds where each row's
        come from the *other* folds only, so that scoring a fold with them estimates the pooled thresholds honestly.
    """
    nested = np.zeros_like(probs, dtype=np.float32)
    for fold in np.unique(folds):
        test = folds == fold
        known = mask[~test] if mask is not None else None
        nested[test] = np.asarray(tune_thresholds(y_true[~test], probs[~test], mask=known), dtype=np.float32)[None, :]
    return tune_thresholds(y_true, probs, mask=mask), nested


def oof_result(dataset: Dataset, name: str, probs: np.ndarray, thresholds: np.ndarray, data_name: str,
               subset: list[int] | None = None) -> EvalResult:
    """Evaluate out-of-fold probabilities (optionally on a subset of rows) with each row's fold thresholds."""

    class _Fixed:
        def __init__(self, labels: list[str]) -> None:
            self.labels = labels
            self.thresholds = [0.5] * len(labels)

        def predict_proba(self, texts: Any) -> np.ndarray:
            return shifted

    rows = subset if subset is not None else list(range(len(dataset)))
    part = dataset.select(rows)
    # Each row was cut at its own fold's thresholds; shifting by (0.5 - threshold) reproduces that at 0.5.
    shifted = np.clip(probs[rows] - thresholds[rows] + 0.5, 0.0, 1.0)
    return evaluate(_Fixed(label_names(dataset)), part, model_name=name, data_name=data_name)


def threshold_estimate(y_true: np.ndarray, probs: np.ndarray, folds: np.ndarray, labels: list[str],
                       fold_thresholds: np.ndarray | None, is_seed: np.ndarray,
                       is_opp115: np.ndarray | None = None,
                       mask: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """How well thresholds tuned on out-of-fold predictions work, estimated honestly on the folds themselves.

    Each fold is scored with thresholds tuned on the *other* folds (``oof_thresholds``' nested ones) and, when
    given, with its own validation-tuned ``fold_thresholds``; OPP-115 rows (``is_opp115``, default: all but the
    seed rows) per fold (mean, sd), seed-corpus rows pooled (leave-one-policy-out when the folds split them so).

    Returns:
        ``{name: {"opp115_micro_f1": [mean, sd], "opp115_macro_f1": [...], "seed_micro_f1", "seed_macro_f1"}}``.
    """
    from classifier.evaluation.metrics import report_at_thresholds

    _, nested = oof_thresholds(y_true, probs, folds, mask)
    main = is_opp115 if is_opp115 is not None else ~is_seed
    cuts = {"fold validation thresholds": fold_thresholds, "out-of-fold thresholds (other folds)": nested}
    at_half = [0.5] * len(labels)
    estimate = {}
    for name, row_thresholds in cuts.items():
        if row_thresholds is None:  # an average of entries (see oof_entry) has no fold-validation thresholds
            continue
        shifted = probs - row_thresholds + 0.5  # each row cut at its own thresholds, expressed as a cut at 0.5
        reports = [report_at_thresholds(y_true[(folds == f) & main], shifted[(folds == f) & main], labels,
                                        at_half) for f in np.unique(folds[main])]
        micro, macro = [r["micro_f1"] for r in reports], [r["macro_f1"] for r in reports]
        seed = report_at_thresholds(y_true[is_seed], shifted[is_seed], labels, at_half) if is_seed.any() else None
        estimate[name] = {"opp115_micro_f1": [float(np.mean(micro)), float(np.std(micro, ddof=1))],
                          "opp115_macro_f1": [float(np.mean(macro)), float(np.std(macro, ddof=1))],
                          "seed_micro_f1": seed and seed["micro_f1"], "seed_macro_f1": seed and seed["macro_f1"]}
    return estimate


def combine_runs(dataset: Dataset, members: dict[str, tuple[str | Path, str]], *, ensemble: bool = False,
                 tune_on: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """Entries of several ``crossval`` runs on the same rows and folds, as one run's results (what
    :func:`~classifier.evaluation.crossval.cross_validate` returns), so that a member can be cross-validated again
    (a new TF-IDF setting) without retraining the others.

    ``members``: name -> (run directory, entry). With ``ensemble`` their equal average is added as ``"a+b"``; its
    fold validation predictions do not exist, so each fold is cut at thresholds tuned on the *other* folds' out-of-fold
    rows (:func:`oof_thresholds`' nested ones, of the ``tune_on`` corpora), the honest estimate of the shipped rule.

    Raises:
        ValueError: a run that cannot be read, or runs on other rows or folds (one line naming the directory).
    """
    from classifier.data.corpus import multi_hot, tuning_mask

    results: dict[str, dict[str, Any]] = {}
    for name, (directory, entry) in members.items():
        try:
            chosen = oof_entry(load_oof(directory), entry)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{directory}: no crossval run with out-of-fold predictions to read ({exc})") from None
        if len(chosen["fold"]) != len(dataset):
            raise ValueError(f"{directory}: {len(chosen['fold'])} out-of-fold rows for {len(dataset)} rows of data")
        first = next(iter(results.values()), None)
        if first is not None and not np.array_equal(first["fold"], chosen["fold"]):
            raise ValueError(f"{directory}: its folds differ from {next(iter(members.values()))[0]}'s")
        results[name] = dict(chosen)
    if ensemble:
        name = "+".join(members)
        probs = np.asarray(np.mean([entry["probs"] for entry in results.values()], axis=0), dtype=np.float32)
        fold = next(iter(results.values()))["fold"]
        _, nested = oof_thresholds(multi_hot(dataset), probs, fold, tuning_mask(dataset, tune_on))
        folds = [fold_summary(oof_result(dataset, name, probs, nested, f"fold{f}", np.flatnonzero(fold == f).tolist()))
                 for f in sorted(set(fold.tolist()))]
        results[name] = {"probs": probs, "thresholds": nested, "fold": fold, "folds": folds}
    return results
