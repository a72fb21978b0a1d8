"""Per-label thresholds from cross-validated out-of-fold predictions, for a model trained on all the data.

    python training/oof_thresholds.py runs/cv --entry transformer+tfidf --out runs/cv/thresholds-ensemble.json

A model trained on every policy has no validation policies left to tune its thresholds on; the out-of-fold
predictions of ``policy-classifier crossval`` (same recipe, each paragraph predicted by a model that never saw its
policy) are the next best thing and ten times larger than one validation split. The script also estimates how well
that works, honestly: each fold scored with thresholds tuned on the *other* folds' predictions, next to the fold's
own validation-tuned thresholds that the cross-validation reported.

``--also NAME DIR ENTRY`` (repeatable) adds an entry of another crossval run on the same rows and folds under NAME,
so that ``--entry`` can average models of two runs, for example MPNet from a distillation run with MiniLM and TF-IDF
from the recipe's run:

    python training/oof_thresholds.py training/results/cv-fastattn --entry mpnet+transformer+tfidf \
        --also mpnet training/results/cv-distill teacher --out runs/thresholds-three.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from classifier.data.corpus import label_names, multi_hot
from classifier.data.seed_corpus import policy_ids
from classifier.evaluation.crossval import oof_thresholds, read_oof_entry
from classifier.files import atomic_write
from classifier.training.loop import build_dataset, evaluate_probs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cv_dir", type=Path)
    parser.add_argument("--entry", default="transformer+tfidf",
                        help="which cross-validated model, or an average of several (teacher+tfidf)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for {label: threshold}")
    parser.add_argument("--also", nargs=3, action="append", default=[], metavar=("NAME", "DIR", "ENTRY"),
                        help="another crossval run's entry on the same rows and folds, to average under NAME")
    args = parser.parse_args()
    try:
        settings, entry = read_oof_entry(args.cv_dir, args.entry, args.also)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    dataset = build_dataset(settings)
    labels = label_names(dataset)
    y, probs, folds = multi_hot(dataset), entry["probs"], entry["fold"]
    pooled, nested = oof_thresholds(y, probs, folds)
    seeds = policy_ids(settings.seed_corpus)
    is_seed = np.array([p in seeds for p in dataset["policy"]])
    at_half = [0.5] * len(labels)
    estimate = {}
    cuts = {"fold validation thresholds": entry["thresholds"], "out-of-fold thresholds (other folds)": nested}
    for name, row_thresholds in cuts.items():
        if row_thresholds is None:  # an average of entries (see oof_entry) has no fold-validation thresholds
            continue
        shifted = probs - row_thresholds + 0.5  # each row cut at its own thresholds, expressed as a cut at 0.5
        reports = [evaluate_probs(y[(folds == f) & ~is_seed], shifted[(folds == f) & ~is_seed], labels, at_half)
                   for f in np.unique(folds)]
        micro, macro = [r["micro_f1"] for r in reports], [r["macro_f1"] for r in reports]
        seed = evaluate_probs(y[is_seed], shifted[is_seed], labels, at_half) if is_seed.any() else None
        estimate[name] = {"opp115_micro_f1": [float(np.mean(micro)), float(np.std(micro, ddof=1))],
                          "opp115_macro_f1": [float(np.mean(macro)), float(np.std(macro, ddof=1))],
                          "seed_micro_f1": seed and seed["micro_f1"], "seed_macro_f1": seed and seed["macro_f1"]}
        print(f"{name:38s} OPP-115 folds micro {np.mean(micro):.4f} ± {np.std(micro, ddof=1):.4f}  "
              f"macro {np.mean(macro):.4f} ± {np.std(macro, ddof=1):.4f}"
              + (f"  | seed LOPO micro {seed['micro_f1']:.4f} macro {seed['macro_f1']:.4f}" if seed else ""))
        print(f"{'':38s} per fold micro {' '.join(f'{m:.3f}' for m in micro)}  macro "
              f"{' '.join(f'{m:.3f}' for m in macro)}")
    document = {"entry": args.entry, "thresholds": dict(zip(labels, pooled, strict=True)), "estimate": estimate}
    atomic_write(args.out, json.dumps(document, indent=2) + "\n")
    print(f"thresholds tuned on all {len(y)} out-of-fold rows -> {args.out}")


if __name__ == "__main__":
    main()
