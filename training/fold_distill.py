"""One fold of the README's cross-validation: a teacher (by default plain MiniLM) against MiniLM distilled from it.

    python training/fold_distill.py --fold 1 --weight 0.5 --out runs/distill/fold1.json
    python training/fold_distill.py --config training/configs/fastattn.json \
        --teacher-config training/configs/mpnet-teacher.json --out runs/distill/mpnet-fold1.json

A cheap look at distillation where the full ``crossval --teacher-config`` does not fit in the time at hand: the
fold's policies, validation split and seed are those of ``policy-classifier crossval`` with the same config (k 5,
fold seed 13). Prints micro / macro-F1 on the fold's test policies (fold-validation thresholds) for TF-IDF, the plain
transformer, the distilled one, and each averaged with TF-IDF. ``--teacher-config`` trains the teacher from another
config (say, MPNet-base as ``encoder``) on the same fold data; without it the teacher is the student's own recipe.
``--teacher-lr`` overrides the teacher's learning rate and ``--no-student`` stops after the teacher. ``--teacher-dir
DIR`` keeps the trained teacher there, or loads it when DIR holds one trained on the same fold data with the same
config (an hour of MPNet on a 2-core CPU, kept for the next student): the same store as ``crossval --teacher-dir``,
so a teacher trained here serves the cross-validation's fold too, and the other way round. The scores are written
to ``--out`` after each model, so an interruption keeps those finished.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from classifier.data.corpus import kfold_by_policy, multi_hot, split_by_policy
from classifier.data.seed_corpus import policy_ids
from classifier.evaluation.crossval import distillation_trainers, tfidf_trainer
from classifier.evaluation.evaluate import evaluate
from classifier.evaluation.metrics import tune_thresholds
from classifier.models.ensemble import AveragedModel
from classifier.training.loop import TrainConfig, build_dataset, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="training/configs/shipped.json")
    parser.add_argument("--fold", type=int, default=1, help="which of the 5 folds (from 1)")
    parser.add_argument("--weight", type=float, default=0.5, help="distill_weight of the student")
    parser.add_argument("--teacher-config", default=None, help="train config of the teacher (default: --config)")
    parser.add_argument("--teacher-lr", type=float, default=None, help="the teacher's learning rate (default: its "
                                                                         "config's)")
    parser.add_argument("--no-student", action="store_true", help="train and score the teacher only")
    parser.add_argument("--teacher-dir", type=Path, default=None,
                        help="keep the teacher here, or load it if one of this fold and config is kept")
    parser.add_argument("--out", type=Path, default=Path("runs/distill/fold1.json"))
    args = parser.parse_args()
    settings = TrainConfig.from_json(args.config)
    teacher_settings = TrainConfig.from_json(args.teacher_config) if args.teacher_config else settings
    if args.teacher_lr is not None:
        teacher_settings = replace(teacher_settings, learning_rate=args.teacher_lr)
    dataset = build_dataset(settings)
    groups = {policy: "seed" for policy in policy_ids(settings.seed_corpus)}
    train_part, test_part = kfold_by_policy(dataset, 5, seed=13, groups=groups)[args.fold - 1]
    split = split_by_policy(train_part, (0.9, 0.1, 0.0), seed=13 + args.fold)  # as cross_validate splits
    fit_data, validation = split["train"], split["validation"]
    print(f"fold {args.fold}: train {len(fit_data)}, validation {len(validation)}, test {len(test_part)}", flush=True)
    scores: dict[str, tuple[float, float]] = {}
    tfidf = tfidf_trainer(seed=13)(fit_data, validation)

    def report(name: str, model) -> None:
        views = evaluate(model, test_part, model_name=name, data_name=f"fold{args.fold}", n_boot=20).metrics["views"]
        scores[name] = (views["opp115"]["micro_f1"], views["opp115"]["macro_f1"])
        print(f"{name}: micro {scores[name][0]:.4f} macro {scores[name][1]:.4f}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(scores, indent=2) + "\n")  # after each model: an interruption keeps the rest

    def with_tfidf(model) -> AveragedModel:
        averaged = AveragedModel([model, tfidf])
        averaged.thresholds = tune_thresholds(multi_hot(validation), averaged.predict_proba(validation["text"]))
        return averaged

    report("tfidf", tfidf)
    started = time.perf_counter()
    # crossval's teacher, kept in (or loaded from) --teacher-dir under a digest of this fold's data and its config
    teacher = distillation_trainers(settings, teacher_settings, teacher_dir=args.teacher_dir)["teacher"](
        fit_data, validation)
    print(f"teacher ready in {time.perf_counter() - started:.0f}s", flush=True)
    report("teacher", teacher)
    report("teacher+tfidf", with_tfidf(teacher))
    if args.no_student:
        return
    started = time.perf_counter()
    student, _ = train(replace(settings, distill_weight=args.weight), train_data=fit_data, validation_data=validation,
                       save=False, teacher=teacher)
    print(f"student trained in {time.perf_counter() - started:.0f}s", flush=True)
    report("distilled", student)
    report("distilled+tfidf", with_tfidf(student))


if __name__ == "__main__":
    main()
