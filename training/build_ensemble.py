"""Add a TF-IDF member to a trained model: fit it on the run's own training split, choose the averaging weight
and the per-label thresholds on the run's validation split, and save the combined model.

    python training/build_ensemble.py runs/shipped --out models/policy-minilm

The split is rebuilt from the run's ``train_config.json`` (same data, same seed), so the TF-IDF member never sees
the validation policies either. A run trained on everything (``validation_fraction`` 0) has no validation split:
the weight is then given (``--weight``, the cross-validated recipe's 0.5) and the thresholds come from the
out-of-fold predictions of that recipe's cross-validation (``training/oof_thresholds.py``):

    python training/build_ensemble.py runs/shipped-all --out models/policy-minilm \
        --thresholds runs/cv/thresholds-ensemble.json --tfidf-thresholds runs/cv/thresholds-tfidf.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from classifier.data.corpus import label_names, multi_hot
from classifier.evaluation.metrics import tune_thresholds
from classifier.models.tfidf import TfidfBaseline
from classifier.models.transformer import PolicyClassifier
from classifier.training.loop import TrainConfig, evaluate_probs, split_for_training
from classifier.training.modelcard import render_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--weights", default="0,0.2,0.3,0.4,0.5", help="TF-IDF weights to try")
    parser.add_argument("--weight", type=float, default=0.5, help="TF-IDF weight for a run without validation")
    parser.add_argument("--thresholds", type=Path, help="out-of-fold thresholds JSON for the ensemble (a run "
                                                        "without validation)")
    parser.add_argument("--tfidf-thresholds", type=Path, help="out-of-fold thresholds JSON for the TF-IDF member")
    args = parser.parse_args()
    run = Path(args.run_dir)
    config = TrainConfig.from_json(run / "model" / "train_config.json")
    train_data, validation_data = split_for_training(config)
    labels = label_names(train_data)
    # fp32: the combined model is saved, and int8 would only quantize weights that are never used here
    clf = PolicyClassifier.from_pretrained(run / "model", device="cpu", precision="fp32")
    tfidf = TfidfBaseline.fit(train_data["text"], multi_hot(train_data), labels, seed=config.seed)
    tfidf.section_context = config.section_context  # the member reads what the transformer reads
    metrics = json.loads((run / "model" / "metrics.json").read_text())
    metrics["transformer_thresholds"] = metrics["thresholds"]
    if validation_data is None:
        if args.thresholds is None or args.tfidf_thresholds is None:
            parser.error("this run has no validation split: give --thresholds and --tfidf-thresholds")
        weight = args.weight
        thresholds, source = _read_thresholds(args.thresholds, labels)
        tfidf.thresholds, _ = _read_thresholds(args.tfidf_thresholds, labels)
        metrics["validation"] = {**metrics.get("validation", {}), "tfidf_weight": weight}
        metrics["threshold_source"] = {"file": str(args.thresholds), "entry": source.get("entry"),
                                       "estimate": source.get("estimate")}
    else:
        weight, thresholds, report, search = _choose_weight(clf, tfidf, validation_data, labels, args.weights)
        metrics["transformer_validation"] = metrics.pop("validation")
        metrics["validation"] = {**report, "epoch": metrics["transformer_validation"].get("epoch"),
                                 "tfidf_weight": weight}
        metrics["ensemble_search"] = search
    clf.tfidf, clf.tfidf_weight, clf.thresholds = (tfidf, weight, thresholds) if weight > 0 else (None, 0.0, thresholds)
    metrics["thresholds"] = dict(zip(labels, thresholds, strict=True))
    train_config = json.loads((run / "model" / "train_config.json").read_text())
    clf.save_pretrained(args.out, half=config.half, train_config=train_config, metrics=metrics,
                        card=render_card(labels, train_config, metrics))
    print(f"saved {args.out} (TF-IDF weight {weight})")


def _choose_weight(clf: PolicyClassifier, tfidf: TfidfBaseline, validation_data: Any, labels: list[str],
                   weights: str) -> tuple[float, list[float], dict, dict]:
    """Try each TF-IDF weight on the validation split; keep the best macro-F1 (tunes the member's own thresholds)."""
    y_val = multi_hot(validation_data)
    texts = validation_data["text"]
    p_transformer, p_tfidf = clf.predict_proba(texts), tfidf.predict_proba(texts)
    tfidf.thresholds = tune_thresholds(y_val, p_tfidf)
    choices = {}
    for weight in (float(w) for w in weights.split(",")):
        probs = (1 - weight) * p_transformer + weight * p_tfidf
        thresholds = tune_thresholds(y_val, probs)
        report = evaluate_probs(y_val, probs, labels, thresholds)
        choices[weight] = (report, thresholds)
        print(f"tfidf weight {weight:.1f}: val micro-F1 {report['micro_f1']:.4f}  macro-F1 {report['macro_f1']:.4f}")
    weight = max(choices, key=lambda w: choices[w][0]["macro_f1"])
    report, thresholds = choices[weight]
    search = {str(w): {"micro_f1": r["micro_f1"], "macro_f1": r["macro_f1"]} for w, (r, _) in choices.items()}
    return weight, thresholds, report, search


def _read_thresholds(path: Path, labels: list[str]) -> tuple[list[float], dict]:
    document = json.loads(path.read_text())
    return [float(document["thresholds"][label]) for label in labels], document


if __name__ == "__main__":
    main()
