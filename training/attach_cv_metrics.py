"""Attach cross-validated figures (from ``policy-classifier crossval --out DIR``) to a saved model's metrics and card.

    python training/attach_cv_metrics.py models/policy-minilm runs/cv --entry transformer+tfidf \\
        --reference "MPNet-base, 3 epochs" training/results/cv-distill teacher

``--reference NAME DIR ENTRY`` (repeatable) adds one entry of another cross-validation run on the same folds, for
comparison, as a row of the card named NAME; a run on other folds is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from classifier.evaluation.crossval import read_cv_record
from classifier.files import atomic_write
from classifier.training.modelcard import cv_reference, render_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("cv_dir")
    parser.add_argument("--entry", default="transformer", help="which cross-validated model describes this one")
    parser.add_argument("--reference", nargs=3, action="append", default=[], metavar=("NAME", "DIR", "ENTRY"),
                        help="another crossval run's entry on the same folds, shown on the card for comparison")
    args = parser.parse_args()
    model_dir, cv_dir = Path(args.model_dir), Path(args.cv_dir)
    try:
        cv = read_cv_record(cv_dir)
        references = [cv_reference(name, ref_dir, read_cv_record(ref_dir), entry, cv, args.entry)
                      for name, ref_dir, entry in args.reference]
    except KeyError as err:  # an entry or subset compare_folds looked for
        print(f"error: no {err.args[0]!r} in the cross-validation figures", file=sys.stderr)
        raise SystemExit(2) from None
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    metrics = json.loads((model_dir / "metrics.json").read_text())
    metrics["cross_validation"] = {"settings": cv["settings"], "environment": cv.get("environment"), "models": {
        name: {k: v for k, v in entry.items() if k != "fold_details"} for name, entry in cv["models"].items()}}
    metrics["cross_validation_entry"] = args.entry
    metrics["cross_validation_references"] = references
    atomic_write(model_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    config = json.loads((model_dir / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    train_config = json.loads((model_dir / "train_config.json").read_text())
    atomic_write(model_dir / "README.md", render_card(labels, train_config, metrics))
    print(f"updated {model_dir}/metrics.json and README.md")


if __name__ == "__main__":
    main()
