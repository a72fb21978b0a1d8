"""Compare two cross-validations fold by fold (B minus A): runs on the same folds that differ in one setting.

    python training/compare_cv.py models/policy-minilm runs/cv-fp32 --entry transformer
    python training/compare_cv.py runs/cv runs/cv-context --entry transformer+tfidf --subset seed_corpus

A and B are ``crossval`` output directories, or a model directory whose ``metrics.json`` carries its
cross-validation (the shipped model's does). With five folds the paired differences are a rough guide: the script
prints how many folds B wins, not a significance test; the pooled out-of-fold predictions of ``crossval`` are what
a paired bootstrap over policies needs (``policy-classifier evaluate``).
"""

from __future__ import annotations

import argparse
import sys

from classifier.evaluation.folds import compare_folds, read_cv_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="baseline run: crossval directory, cv.json, or model directory")
    parser.add_argument("b", help="the run compared against it")
    parser.add_argument("--entry", default="transformer+tfidf", help="model entry in A (and in B unless --entry-b)")
    parser.add_argument("--entry-b", default=None, help="model entry in B, when it is named differently")
    parser.add_argument("--subset", default="opp115", help="opp115, seed_corpus, or data (JSONL-only runs)")
    args = parser.parse_args()
    try:
        a, b = read_cv_record(args.a), read_cv_record(args.b)
        result = compare_folds(a, b, args.entry, args.entry_b, args.subset)
    except KeyError as exc:
        sys.exit(f"error: no entry or subset {exc} in one of the runs")
    except (OSError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    for name, record in (("A", a), ("B", b)):
        env = record["environment"] or {}
        print(f"{name}: {args.a if name == 'A' else args.b}  precision={env.get('precision', '?')} "
              f"cpu={env.get('cpu', '?')}")
    metrics = list(result["mean_difference"])
    print("| fold | " + " | ".join(f"{m} A | {m} B | B − A" for m in metrics) + " |")
    print("| --- " * (1 + 3 * len(metrics)) + "|")
    for i, fold in enumerate(result["folds"], 1):
        cells = " | ".join(f"{fa:.3f} | {fb:.3f} | {fb - fa:+.3f}" for fa, fb in fold.values())
        print(f"| {i} | {cells} |")
    n = len(result["folds"])
    for m in metrics:
        print(f"{m}: B − A = {result['mean_difference'][m]:+.4f} ± {result['sd_difference'][m]:.4f} (sd over folds), "
              f"B better in {result['b_better'][m]} of {n} folds")
    print("per-label F1, B − A (mean over folds): " + ", ".join(
        f"{label} {d:+.3f}" for label, d in sorted(result["per_label_difference"].items(), key=lambda x: x[1])))


if __name__ == "__main__":
    main()
