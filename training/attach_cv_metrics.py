"""Attach cross-validated figures (from ``policy-classifier crossval --out DIR``) to a saved model's metrics and card.

    python training/attach_cv_metrics.py models/policy-minilm runs/cv --entry transformer
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from classifier.modelcard import render_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("cv_dir")
    parser.add_argument("--entry", default="transformer", help="which cross-validated model describes this one")
    args = parser.parse_args()
    model_dir, cv_dir = Path(args.model_dir), Path(args.cv_dir)
    cv = json.loads((cv_dir / "cv.json").read_text())
    metrics = json.loads((model_dir / "metrics.json").read_text())
    metrics["cross_validation"] = {"settings": cv["settings"], "environment": cv.get("environment"), "models": {
        name: {k: v for k, v in entry.items() if k != "fold_details"} for name, entry in cv["models"].items()}}
    metrics["cross_validation_entry"] = args.entry
    (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    config = json.loads((model_dir / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    train_config = json.loads((model_dir / "train_config.json").read_text())
    (model_dir / "README.md").write_text(render_card(labels, train_config, metrics), encoding="utf-8")
    print(f"updated {model_dir}/metrics.json and README.md")


if __name__ == "__main__":
    main()
