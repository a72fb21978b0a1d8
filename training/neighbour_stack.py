"""Does a paragraph's neighbourhood tell more than the paragraph? A stack over out-of-fold predictions.

    python training/neighbour_stack.py training/results/cv-fastattn --entry transformer+tfidf

Policies are written in runs: a paragraph after two about sharing is likely about sharing too. This script asks
whether the model's predictions for the paragraphs around one improve its own. For each label a logistic
regression reads the paragraph's log-odds for that label and, with ``--context neighbours``, the previous and next
paragraph's (zero, with a flag, at a policy's first and last paragraph); ``--context policy`` adds the policy's
mean probability for the label and the paragraph's relative position; ``--context none`` is the control (the
stack alone, no context). Everything is nested by fold: the stack for fold f is fitted on the other folds'
out-of-fold predictions, and its thresholds are tuned on the stack's own predictions for those folds (each from a
stack fitted without it), so no fold is scored by anything fitted on it. Scores are OPP-115 fold means (micro /
macro-F1 over the ten categories), beside the same predictions cut at per-label thresholds from the other folds
(``training/oof_thresholds.py``). Needs a ``crossval`` directory with ``oof.safetensors``; rows of one policy are
in reading order there (``build_dataset``), which the script checks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from classifier.data.corpus import label_names, multi_hot
from classifier.data.seed_corpus import policy_ids
from classifier.evaluation.crossval import read_oof_entry
from classifier.evaluation.metrics import tune_thresholds
from classifier.training.loop import build_dataset, evaluate_probs


def context_features(probs: np.ndarray, policies: np.ndarray, column: int, context: str) -> np.ndarray:
    """Features of each row for one label: its log-odds, then (``neighbours``, ``policy``) the neighbours' and
    edge flags, then (``policy``) the policy's mean probability and the row's relative position."""
    odds = np.log(np.clip(probs[:, column], 1e-4, 1 - 1e-4) / np.clip(1 - probs[:, column], 1e-4, 1))
    columns = [odds]
    first = np.r_[True, policies[1:] != policies[:-1]]
    if context in ("neighbours", "policy"):
        last = np.r_[first[1:], True]
        previous, following = np.r_[0.0, odds[:-1]], np.r_[odds[1:], 0.0]
        columns += [np.where(first, 0.0, previous), np.where(last, 0.0, following), first, last]
    if context == "policy":
        index = np.cumsum(first) - 1  # rows of a policy are contiguous (main checks)
        counts = np.bincount(index)
        columns.append((np.bincount(index, probs[:, column]) / counts)[index])
        order = np.arange(len(policies)) - np.flatnonzero(first)[index]
        columns.append(order / np.maximum(counts[index] - 1, 1))
    return np.column_stack(columns).astype(float)


def fit_predict(features: list[np.ndarray], truth: np.ndarray, train: np.ndarray, test: np.ndarray,
                c: float) -> np.ndarray:
    """One logistic regression per label fitted on ``train`` rows; probabilities for ``test`` rows."""
    out = np.zeros((int(test.sum()), truth.shape[1]))
    for column, x in enumerate(features):
        target = truth[train, column] > 0.5
        if target.all() or not target.any():  # a label absent from the training rows: keep its prior
            out[:, column] = float(target.mean())
            continue
        model = LogisticRegression(C=c, max_iter=2000).fit(x[train], target)
        out[:, column] = model.predict_proba(x[test])[:, 1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cv_dir", type=Path)
    parser.add_argument("--entry", default="transformer+tfidf",
                        help="which cross-validated model, or an average of several (teacher+tfidf)")
    parser.add_argument("--context", choices=["none", "neighbours", "policy"], action="append",
                        help="features beside the paragraph's own (repeatable; default: all three)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation of the stack")
    args = parser.parse_args()
    try:
        settings, entry = read_oof_entry(args.cv_dir, args.entry)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    dataset = build_dataset(settings)
    labels = label_names(dataset)
    policies = np.asarray(dataset["policy"])
    if np.r_[True, policies[1:] != policies[:-1]].sum() != len(set(policies)):
        raise SystemExit(f"error: {args.cv_dir}: a policy's rows are not contiguous, so neighbours are unknown")
    truth, probs, folds = multi_hot(dataset), entry["probs"], entry["fold"]
    seeds = policy_ids(settings.seed_corpus)
    opp115 = np.array([policy not in seeds for policy in policies])
    at_half = [0.5] * len(labels)

    def score(test: np.ndarray, predicted: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
        report = evaluate_probs(truth[test], predicted - thresholds + 0.5, labels, at_half)
        return report["micro_f1"], report["macro_f1"]

    contexts = args.context or ["none", "neighbours", "policy"]
    features = {context: [context_features(probs, policies, column, context) for column in range(len(labels))]
                for context in contexts}  # fold-independent: built once
    scores: dict[str, list[tuple[float, float]]] = {"per-label thresholds, no stack": []}
    for fold in np.unique(folds):
        test, other = folds == fold, folds != fold
        scored = opp115[test]
        cut = np.asarray(tune_thresholds(truth[other], probs[other]))
        scores["per-label thresholds, no stack"].append(score(test & opp115, probs[test & opp115], cut))
        for context in contexts:
            inner = np.zeros_like(probs)
            for held in np.unique(folds[other]):
                inner[folds == held] = fit_predict(features[context], truth, other & (folds != held), folds == held,
                                                   args.c)
            cut = np.asarray(tune_thresholds(truth[other], inner[other]))
            stacked = fit_predict(features[context], truth, other, test, args.c)
            scores.setdefault(f"stack, context {context}", []).append(score(test & opp115, stacked[scored], cut))
    print(f"{args.entry}: OPP-115 folds, mean ± sd (micro / macro-F1)")
    for name, values in scores.items():
        micro, macro = np.asarray(values).T
        print(f"  {name:32s} {micro.mean():.4f} ± {micro.std(ddof=1):.4f} / {macro.mean():.4f} ± "
              f"{macro.std(ddof=1):.4f}   per-fold micro {' '.join(f'{m:.3f}' for m in micro)}")


if __name__ == "__main__":
    main()
