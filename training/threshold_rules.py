"""Decision rules on out-of-fold predictions: can the cut, rather than the model, buy micro-F1?

    python training/threshold_rules.py runs/cv-fastattn --entry transformer+tfidf

Per-label thresholds tuned for each label's own F1 (what the library ships) maximise macro-F1 label by label; the
issue's micro-F1 target pools every decision, so thresholds tuned for pooled micro-F1 could do better on it. And
98% of OPP-115 paragraphs carry at least one of the ten categories, so a paragraph left with none could take its
most likely one. Each rule is tuned on the other folds' out-of-fold predictions and scored on the fold's OPP-115
policies (the nesting of ``training/oof_thresholds.py``); the fold's own validation thresholds are printed for
reference. Needs a ``crossval`` directory with ``oof.safetensors``. Ends with each category's errors, to show where
the micro-F1 that is missing is lost.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from classifier.data.corpus import label_names, multi_hot
from classifier.data.seed_corpus import policy_ids
from classifier.evaluation.crossval import read_oof_entry
from classifier.evaluation.metrics import tune_thresholds
from classifier.labels import OPP115_IDS
from classifier.training.loop import build_dataset, evaluate_probs

GRID = np.arange(0.05, 0.951, 0.025)  # tune_thresholds' default grid


def pooled_micro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Micro-F1 of boolean ``(n, k)`` matrices."""
    tp = (truth & predicted).sum()
    return float(2 * tp / max(2 * tp + (~truth & predicted).sum() + (truth & ~predicted).sum(), 1))


def tune_for_micro(truth: np.ndarray, probs: np.ndarray, start: np.ndarray, columns: list[int],
                   passes: int = 3) -> np.ndarray:
    """Coordinate ascent on pooled micro-F1 over ``columns``, from ``start`` (ties go to the cut nearest 0.5)."""
    thresholds = start.astype(float)
    truth = truth[:, columns] > 0.5
    for _ in range(passes):
        for column in columns:
            best, cut = -1.0, thresholds[column]
            for candidate in GRID:
                trial = thresholds.copy()
                trial[column] = candidate
                score = pooled_micro_f1(truth, (probs >= trial)[:, columns])
                if score > best + 1e-12 or (abs(score - best) <= 1e-12 and abs(candidate - 0.5) < abs(cut - 0.5)):
                    best, cut = score, candidate
            thresholds[column] = cut
    return thresholds


def at_least_one(probs: np.ndarray, thresholds: np.ndarray, columns: list[int]) -> np.ndarray:
    """Cut at ``thresholds``; a row with none of ``columns`` takes the one whose probability is highest relative
    to its threshold."""
    predicted = probs >= thresholds
    empty = ~predicted[:, columns].any(1)
    best = np.asarray(columns)[(probs[:, columns] / thresholds[columns]).argmax(1)]
    predicted[np.flatnonzero(empty), best[empty]] = True
    return predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cv_dir", type=Path)
    parser.add_argument("--entry", default="transformer+tfidf",
                        help="which cross-validated model, or an average of several (teacher+tfidf)")
    args = parser.parse_args()
    try:
        settings, entry = read_oof_entry(args.cv_dir, args.entry)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    dataset = build_dataset(settings)
    labels = label_names(dataset)
    if not set(OPP115_IDS) <= set(labels):
        raise SystemExit(f"error: {args.cv_dir} was not trained on the OPP-115 categories")
    truth, probs, folds = multi_hot(dataset), entry["probs"], entry["fold"]
    columns = [labels.index(label) for label in OPP115_IDS]
    seeds = policy_ids(settings.seed_corpus)
    opp115 = np.array([policy not in seeds for policy in dataset["policy"]])
    scores: dict[str, list[tuple[float, float]]] = {}
    nested = np.zeros_like(probs)
    for fold in np.unique(folds):
        test, other = (folds == fold) & opp115, folds != fold
        per_label = np.asarray(tune_thresholds(truth[other], probs[other]))
        nested[folds == fold] = per_label
        for_micro = tune_for_micro(truth[other], probs[other], per_label, columns)
        rules = {}
        if entry["thresholds"] is not None:  # an average of entries has none (see oof_entry)
            rules["fold validation thresholds"] = probs[test] >= entry["thresholds"][test]
        rules |= {"per-label F1 (other folds)": probs[test] >= per_label,
                  "per-label F1, at least one": at_least_one(probs[test], per_label, columns),
                  "pooled micro-F1 (other folds)": probs[test] >= for_micro,
                  "pooled micro-F1, at least one": at_least_one(probs[test], for_micro, columns)}
        for name, predicted in rules.items():
            report = evaluate_probs(truth[test], predicted.astype(float), labels, [0.5] * len(labels))
            scores.setdefault(name, []).append((report["micro_f1"], report["macro_f1"]))
    print(f"{args.entry}: OPP-115 folds, mean ± sd (micro / macro-F1)")
    for name, values in scores.items():
        micro, macro = np.asarray(values).T
        print(f"  {name:32s} {micro.mean():.4f} ± {micro.std(ddof=1):.4f} / {macro.mean():.4f} ± "
              f"{macro.std(ddof=1):.4f}   per-fold micro {' '.join(f'{m:.3f}' for m in micro)}")
    print("errors per category (pooled OPP-115 rows, per-label thresholds from the other folds):")
    predicted, actual = (probs >= nested)[opp115], truth[opp115] > 0.5
    for label, column in zip(OPP115_IDS, columns, strict=True):
        yes, said = actual[:, column], predicted[:, column]
        tp, fp, fn = int((yes & said).sum()), int((~yes & said).sum()), int((yes & ~said).sum())
        print(f"  {label:34s} support {int(yes.sum()):4d}  false positives {fp:4d}  false negatives {fn:4d}  "
              f"F1 {2 * tp / max(2 * tp + fp + fn, 1):.3f}")


if __name__ == "__main__":
    main()
