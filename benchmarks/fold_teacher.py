"""A held-out teacher for distillation figures: one fold of the shipped recipe's cross-validation, and its scores.

Run: python benchmarks/fold_teacher.py --fold 1 -o runs/fold1-teacher [--texts 80000]

Trains fold ``--fold`` of ``policy-classifier crossval --config training/configs/shipped.json --model-type transformer
--model-type tfidf --ensemble`` (the same policies, splits and seeds as ``training/results/cv-shipped``), then writes
the ensemble's scores, in the precision the shipped model runs in on this machine, on:

- ``unlabelled``: the first ``--texts`` distinct crawled and partial-corpus paragraphs (as pretraining reads them);
- ``train``: the fold's training rows (the policies the teacher learnt from);
- ``test``: the fold's test rows (policies neither the teacher nor a student distilled from it has seen).

A student distilled from these scores and scored on ``test`` gives honest held-out figures, which the shipped teacher
(trained on every OPP-115 policy) cannot. Scores are saved every chunk, so an interrupted run resumes from them once
the fold model is retrained; the fold model itself is not kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--config", default="training/configs/shipped.json")
    parser.add_argument("--texts", type=int, default=80_000, help="unlabelled paragraphs to score")
    parser.add_argument("--shared", default="../shared", help="the shared corpora")
    parser.add_argument("-o", "--output", required=True)
    return parser.parse_args()


def main() -> None:
    args = _parse_args()
    from safetensors.numpy import save_file

    from classifier.data.seed_corpus import policy_ids
    from classifier.evaluation.crossval import fold_models, tfidf_trainer, transformer_trainer
    from classifier.training.config import TrainConfig
    from classifier.training.data import build_dataset
    from classifier.training.pretrain import PretrainConfig, pretraining_texts

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    shared = Path(args.shared)
    started = time.perf_counter()
    texts = pretraining_texts(PretrainConfig(dmoz=[str(shared / "dmoz")], mapp=[str(shared / "corpora/mapp")],
                                             c3pa=[str(shared / "corpora/c3pa")],
                                             appsi139=[str(shared / "corpora/appsi139")], seed=13,
                                             max_texts=args.texts))
    (out / "unlabelled.jsonl").write_text("".join(json.dumps(t) + "\n" for t in texts))
    print(f"{len(texts)} unlabelled paragraphs in {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)

    settings = TrainConfig.from_json(args.config)
    settings.validate()
    dataset = build_dataset(settings)
    trainers = {"transformer": transformer_trainer(settings),
                "tfidf": tfidf_trainer(seed=settings.seed, corpus_weights=settings.corpus_weights,
                                       tune_on=settings.tune_on)}
    models, test_rows = fold_models(dataset, trainers, args.fold, k=5, seed=13,
                                    groups={p: "seed" for p in policy_ids(settings.seed_corpus)},
                                    ensemble=["transformer", "tfidf"], tune_on=settings.tune_on)
    teacher = models["transformer+tfidf"]
    models["transformer"].precision = "auto"  # what the shipped model runs in here (int8 on a CPU)
    test_set = set(test_rows)
    train_rows = [i for i in range(len(dataset)) if i not in test_set]
    parts = {"test": test_rows, "train": train_rows}
    arrays = {f"{name}_rows": np.asarray(rows, dtype=np.int64) for name, rows in parts.items()}
    for name, rows in parts.items():
        arrays[name] = teacher.predict_proba([dataset[i]["text"] for i in rows]).astype(np.float32)
        print(f"scored {name}: {len(rows)} rows", file=sys.stderr, flush=True)
    arrays["thresholds"] = np.asarray(teacher.thresholds, dtype=np.float32)
    chunk = 4096
    done = []
    for start in range(0, len(texts), chunk):
        done.append(teacher.predict_proba(texts[start:start + chunk]).astype(np.float32))
        arrays["unlabelled"] = np.concatenate(done)
        save_file(arrays, str(out / "scores.tmp"), metadata={"labels": json.dumps(list(teacher.labels)),
                                                             "fold": str(args.fold), "config": args.config})
        Path(out / "scores.tmp").replace(out / "scores.safetensors")
        print(f"unlabelled {start + len(done[-1])}/{len(texts)} ({time.perf_counter() - started:.0f}s)",
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
