"""Held-out figures of the distilled student and the cascade, from one fold's teacher (``fold_teacher.py``).

Run: python benchmarks/student_heldout.py runs/fold1-teacher [--fidelity 0.97] [--json FILE]

Distils a student from the fold teacher's scores (its unlabelled paragraphs and its training rows), with the base
encoder's word-piece embeddings (the fold teacher's fine-tuned ones are not kept; the shipped student reads the
shipped model's) and the fold's TF-IDF member as its companion (refitted here: the same rows and seed give the same
member as the fold teacher's), tunes its thresholds and the cascade's margin on the validation paragraphs as
``policy-classifier distill`` does, and scores on the fold's held-out OPP-115 policies: the fold teacher (the full
model), the student alone, and the cascade at the chosen margin and at others (macro / micro-F1, share escalated).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _f1(gold: np.ndarray, decisions: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    return (float(f1_score(gold, decisions, average="macro", zero_division=0)),
            float(f1_score(gold, decisions, average="micro", zero_division=0)))


def _fold_members(path: Path, test_rows: list[int], keep: np.ndarray, gold: np.ndarray) -> dict[str, tuple]:
    """The cross-validation's transformer and TF-IDF member on the same rows (their fold thresholds)."""
    from safetensors.numpy import load_file

    if not path.is_file():
        return {}
    saved = load_file(str(path))
    where = {row: i for i, row in enumerate(saved["rows"].tolist())}
    if sorted(where) != sorted(test_rows):
        raise SystemExit(f"{path}: its rows are not this fold's test rows")
    order = [where[row] for row, k in zip(test_rows, keep) if k]
    return {name: _f1(gold, saved[f"{name}.probs"][order] >= saved[f"{name}.thresholds"])
            for name in ("transformer", "tfidf")}


def _fold_tfidf(dataset: object, settings: object, fold: int) -> object:
    """The fold's TF-IDF member, as cross-validation trains it."""
    from classifier.data.seed_corpus import policy_ids
    from classifier.evaluation.crossval import fold_models, tfidf_trainer

    trainer = tfidf_trainer(seed=settings.seed, corpus_weights=settings.corpus_weights, tune_on=settings.tune_on)
    models, _ = fold_models(dataset, {"tfidf": trainer}, fold, k=5, seed=13,
                            groups={p: "seed" for p in policy_ids(settings.seed_corpus)})
    return models["tfidf"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher_run", help="output folder of benchmarks/fold_teacher.py")
    parser.add_argument("--fidelity", type=float, default=None, help="default: DistillConfig's")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--cv-folds", default="training/results/cv-shipped/folds",
                        help="the shipped recipe's saved folds: the transformer alone and the TF-IDF member alone "
                             "on the same held-out rows")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from dataclasses import replace

    from safetensors import safe_open
    from safetensors.numpy import load_file

    from classifier.data.corpus import multi_hot
    from classifier.models.cascade import cascade_predictions
    from classifier.models.student import embedding_matrix
    from classifier.training.config import TrainConfig, resolve_encoder
    from classifier.training.data import build_dataset
    from classifier.training.distill import DistillConfig, train_and_tune

    run = Path(args.teacher_run)
    scores = load_file(str(run / "scores.safetensors"))
    with safe_open(str(run / "scores.safetensors"), framework="numpy") as handle:
        meta = handle.metadata()
    labels = json.loads(meta["labels"])
    unlabelled = [json.loads(line) for line in (run / "unlabelled.jsonl").read_text().splitlines()]
    unlabelled = unlabelled[:len(scores["unlabelled"])]
    settings = TrainConfig.from_json(meta["config"])
    dataset = build_dataset(settings)
    config = DistillConfig(teacher="(fold teacher)", output_dir=str(run))
    overrides = {k: v for k, v in (("fidelity", args.fidelity), ("epochs", args.epochs), ("hidden", args.hidden))
                 if v is not None}
    config = replace(config, **overrides)
    train_rows = scores["train_rows"].tolist()
    texts = unlabelled + [dataset[i]["text"] for i in train_rows]
    targets = np.concatenate([scores["unlabelled"], scores["train"]])
    tokenizer, embeddings = embedding_matrix(resolve_encoder(settings.encoder))
    companion = _fold_tfidf(dataset, settings, int(meta["fold"]))
    student, figures = train_and_tune(texts, targets, labels, scores["thresholds"].tolist(), tokenizer, embeddings,
                                      config, companion=companion)

    test_rows = scores["test_rows"].tolist()
    test = dataset.select(test_rows)
    keep = np.asarray([corpus == "opp115" for corpus in test["corpus"]])
    gold = multi_hot(test)[keep]
    full = scores["test"][keep]
    full_cuts = scores["thresholds"]
    fast = student.predict_proba([t for t, k in zip(test["text"], keep) if k])
    table = {"paragraphs": int(keep.sum()), "policies": len(set(np.asarray(test["policy"])[keep])),
             "full": _f1(gold, full >= full_cuts), "student": _f1(gold, fast >= np.asarray(student.thresholds)),
             "validation": {k: v for k, v in figures.items() if k != "margin"} | {
                 "margin": {k: v for k, v in figures["margin"].items() if k != "curve"}},
             "cascade": {}}
    chosen = figures["margin"]["margin"]
    for margin in sorted({0.02, 0.05, 0.1, 0.15, 0.2, 0.3, chosen}):
        cascade, up = cascade_predictions(fast, full, student.thresholds, full_cuts, margin)
        table["cascade"][f"{margin:.3f}"] = {"escalated": float(up.mean()), "f1": _f1(gold, cascade >= full_cuts),
                                            "chosen": bool(margin == chosen)}
    print(f"held-out OPP-115: {table['paragraphs']} paragraphs, {table['policies']} policies")
    print(f"full (fold teacher): macro {table['full'][0]:.4f}  micro {table['full'][1]:.4f}")
    print(f"student alone:       macro {table['student'][0]:.4f}  micro {table['student'][1]:.4f}  "
          f"(agreement with the teacher on validation {figures['student_agreement']:.4f})")
    for margin, row in table["cascade"].items():
        print(f"cascade margin {margin}{' (chosen)' if row['chosen'] else ''}: escalated {row['escalated']:.1%}  "
              f"macro {row['f1'][0]:.4f}  micro {row['f1'][1]:.4f}")
    members = _fold_members(Path(args.cv_folds) / f"fold{meta['fold']}.safetensors", test_rows, keep, gold)
    table.update(members)
    table["cascade_chosen"] = table["cascade"][f"{chosen:.3f}"]["f1"]
    for name, f1 in members.items():
        print(f"{name} alone (cv-shipped fold {meta['fold']}): macro {f1[0]:.4f}  micro {f1[1]:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
