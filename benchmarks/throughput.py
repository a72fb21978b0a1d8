"""Inference speed of the shipped model on OPP-115 segments, against the plain transformers pipeline.

Run: python benchmarks/throughput.py [--model DIR] [--n 1000] [--opp115 ../shared/opp115]
     python benchmarks/throughput.py --compare [--heldout FILE ...] [--n 1000]

``--compare`` times the five ways to label a paragraph side by side on the same paragraphs, each in its own process
(so that its load time and peak memory are its own): the plain transformers pipeline, the full model
(``--full-model``), the distilled student alone, the cascade (the default CPU path of a model with a student) and the
TF-IDF member alone; with the share the cascade escalated, and the held-out macro / micro-F1 of each from
``--heldout`` files (``benchmarks/student_heldout.py --json``: fold models scored on policies they never saw; the
shipped model has seen every OPP-115 policy, so figures on them would flatter it).

Prints paragraphs/s for each path and batch size, the speed-up over the plain ``text-classification`` pipeline
measured in the same run, peak resident memory, the TF-IDF baseline's speed, and the macro-F1 of each precision on
the same paragraphs (so a faster path is only taken when it keeps accuracy). Run it alone: another CPU job on the
machine spoils the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

# (name, precision, CPU streams): one stream first, then the defaults (two streams on 2+ threads).
_PATHS = (("fp32", "fp32", 1), ("bf16 autocast", "bf16-autocast", 1), ("bf16", "bf16", 1), ("int8", "int8", 1),
          ("fp32 2 streams", "fp32", 2), ("bf16 autocast 2 streams", "bf16-autocast", 2),
          ("bf16 2 streams", "bf16", 2), ("int8 2 streams", "int8", 2), ("onnx-int8 2 streams", "onnx-int8", 2))


def _rate(fn, n: int, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return n / best


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--opp115", default=None, help="OPP-115 directory (default: ../shared/opp115)")
    parser.add_argument("--n", type=int, default=1000, help="paragraphs to time")
    parser.add_argument("--baseline", default=None, help="TF-IDF baseline directory to time as well")
    parser.add_argument("--repeats", type=int, default=8, help="back-to-back timings of the default path")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--compare", action="store_true", help="pipeline, full model, student, cascade and TF-IDF "
                                                                  "side by side (see the module's notes)")
    parser.add_argument("--heldout", nargs="*", default=[], help="student_heldout.py --json files (with --compare)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # one --compare path, in a child process
    parser.add_argument("--texts-file", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--precisions", default="fp32,bf16-autocast,bf16,int8,onnx-int8",
                        help="comma-separated precisions to time, each with one and two streams (a CPU without "
                             "bf16 hardware runs the bf16 paths slowly: leave them out there)")
    args = parser.parse_args()
    args.wanted = {name.strip() for name in args.precisions.split(",")}
    unknown = args.wanted - {precision for _, precision, _ in _PATHS}
    if unknown:
        parser.error(f"unknown precision(s) in --precisions: {', '.join(sorted(unknown))}")
    return args


def _sample(opp115: str | None, n: int) -> tuple[list[str], np.ndarray, list[str]]:
    """``n`` OPP-115 segments drawn at random (seed 0): texts, gold labels, label names."""
    from classifier.data.corpus import label_names, load_opp115, multi_hot

    data = load_opp115(opp115)
    rows = sorted(np.random.default_rng(0).choice(len(data), size=min(n, len(data)), replace=False).tolist())
    subset = data.select(rows)
    return list(subset["text"]), multi_hot(subset), label_names(data)


def _rates(predict, texts: list[str], repeats: int) -> dict[int, float]:
    """Paragraphs/s at batch sizes 1, 16 and 64 (batch 1 on at most 200 paragraphs)."""
    rates = {}
    for batch in (1, 16, 64):
        n = min(len(texts), 200 if batch == 1 else len(texts))
        rates[batch] = _rate(lambda b=batch, m=n: predict(texts[:m], batch_size=b), n, repeats=repeats)
    return rates


def _time_pipeline(model_dir: str, texts: list[str]) -> dict[int, float]:
    from transformers import pipeline

    pipe = pipeline("text-classification", model=model_dir, top_k=None, function_to_apply="sigmoid",
                    device=-1, truncation=True, max_length=256)
    rates = _rates(pipe, texts, repeats=1)
    for batch, rate in rates.items():
        print(f"transformers pipeline      batch {batch:>2}: {rate:7.1f} paragraphs/s")
    return rates


def _time_paths(model_dir: str, texts: list[str], y: np.ndarray, labels: list[str], wanted: set[str],
                reference: float) -> dict[str, dict]:
    """Each precision and stream count: speed, and macro/micro-F1 on the same paragraphs."""
    from classifier.evaluation.metrics import multilabel_report
    from classifier.models.transformer import PolicyClassifier

    results = {}
    for name, precision, streams in _PATHS:
        if precision not in wanted:
            continue
        clf = PolicyClassifier.from_pretrained(model_dir, device="cpu", precision=precision, streams=streams)
        clf.predict_proba(texts[:32])  # warm-up
        rates = _rates(clf.predict_proba, texts, repeats=2)
        probs = clf.predict_proba(texts, batch_size=16)
        preds = (probs >= np.asarray(clf.thresholds)[None, :]).astype(int)
        report = multilabel_report(y, preds, labels, average_over=labels[:10])
        results[name] = {"rates": rates, "macro_f1": report["macro_f1"], "micro_f1": report["micro_f1"]}
        print(f"PolicyClassifier {name:>23} batch 1/16/64: " + " / ".join(f"{rates[b]:.1f}" for b in rates)
              + f" paragraphs/s; best {max(rates.values()) / reference:.1f}x the best pipeline; "
              f"macro-F1 {report['macro_f1']:.4f} micro-F1 {report['micro_f1']:.4f}")
    return results


def _time_default(model_dir: str, texts: list[str], repeats: int, reference: float) -> dict:
    """One best-of-two figure per cell hides run-to-run spread: the default path timed back to back."""
    from classifier.models.transformer import PolicyClassifier

    default = PolicyClassifier.from_pretrained(model_dir, device="cpu")
    default.predict_proba(texts[:32])
    spread = sorted(_rate(lambda: default.predict_proba(texts), len(texts)) for _ in range(repeats))
    print(f"default path ({default.precision}, {default.cpu_streams} streams, batch 16), {repeats} timings: "
          f"min {spread[0]:.1f}, median {float(np.median(spread)):.1f}, max {spread[-1]:.1f} paragraphs/s "
          f"(median {float(np.median(spread)) / reference:.1f}x the best pipeline)")
    figures: dict = {"precision": default.precision, "rates": spread}
    if default.attribute_keys:  # what the attribute outputs cost: categories alone against both, interleaved
        pairs = [(_rate(lambda: default.predict_proba(texts), len(texts)),
                  _rate(lambda: default.predict_scores(texts), len(texts))) for _ in range(repeats)]
        alone, both = (float(np.median(side)) for side in zip(*pairs, strict=True))
        print(f"default path, categories alone / with the {len(default.attribute_keys)} attribute outputs, "
              f"{repeats} interleaved timings: median {alone:.1f} / {both:.1f} paragraphs/s ({both / alone:.2f}x)")
        figures["attributes"] = {"categories_only": alone, "with_attributes": both}
    return figures


_COMPARED = ("pipeline", "full", "student", "cascade", "tfidf")


def _load_compared(name: str, model_dir: str) -> tuple[object, object]:
    """The model of one compared path and the call that labels a list of texts with it (attributes included where
    the path gives them, as ``classify`` does)."""
    from classifier.models.base import load_paragraph_model

    if name == "pipeline":
        from transformers import pipeline

        pipe = pipeline("text-classification", model=model_dir, top_k=None, function_to_apply="sigmoid",
                        device=-1, truncation=True, max_length=256)
        return pipe, lambda texts: pipe(texts, batch_size=1)
    if name == "student":
        from classifier.models.student import StudentModel

        model = StudentModel.from_pretrained(Path(model_dir) / "student")
        return model, lambda texts: model.predict_proba(texts)
    if name == "tfidf":
        from classifier.models.tfidf import TfidfBaseline

        model = TfidfBaseline.from_pretrained(Path(model_dir) / "tfidf")
        return model, lambda texts: model.predict_scores(texts)
    model = load_paragraph_model(model_dir, device="cpu", full=name == "full")
    return model, lambda texts: model.predict_scores(texts, batch_size=16)


def _run_one(name: str, model_dir: str, texts_file: str) -> None:
    """A child process: load one path, time it on the texts, print one JSON line."""
    started = time.perf_counter()
    texts = json.loads(Path(texts_file).read_text())
    model, label = _load_compared(name, model_dir)
    loaded = time.perf_counter() - started
    sample = texts[:200] if name == "pipeline" else texts  # the pipeline runs at ~16 paragraphs/s
    label(sample[:8])  # warm-up (the cascade's escalations load its encoder here)
    rate = _rate(lambda: label(sample), len(sample), repeats=1 if name in ("pipeline", "full") else 3)
    out = {"name": name, "rate": rate, "load_s": loaded, "n": len(sample),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if name == "cascade":
        out["escalated"] = model.escalated_rows / max(1, model.seen_rows)
    print(json.dumps(out))


def _compare(args: argparse.Namespace, model_dir: str) -> dict:
    """Every path of :data:`_COMPARED` in its own process on the same paragraphs; the table, printed."""
    import subprocess
    import sys
    import tempfile

    texts, _, _ = _sample(args.opp115, args.n)
    heldout = [json.loads(Path(f).read_text()) for f in args.heldout]
    with tempfile.TemporaryDirectory() as scratch:
        texts_file = Path(scratch) / "texts.json"
        texts_file.write_text(json.dumps(texts))
        rows = {}
        for name in _COMPARED:
            done = subprocess.run([sys.executable, __file__, "--one", name, "--texts-file", str(texts_file),
                                   "--model", model_dir], capture_output=True, text=True, check=True)
            rows[name] = json.loads(done.stdout.strip().splitlines()[-1])
    reference = rows["pipeline"]["rate"]
    print(f"{len(texts)} OPP-115 segments, model {model_dir}; each path in its own process")
    print("| path | paragraphs/s | x pipeline | load s | peak MB | escalated | held-out macro-F1 | held-out micro-F1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        f1 = _heldout_f1(heldout, name)
        print(f"| {name} | {row['rate']:.1f} | {row['rate'] / reference:.1f} | {row['load_s']:.2f} | "
              f"{row['peak_rss_mb']:.0f} | {row.get('escalated', 1.0 if name in ('full', 'pipeline') else 0.0):.1%} | "
              f"{f1[0]} | {f1[1]} |")
    return {"n": len(texts), "paths": rows, "heldout": heldout}


def _heldout_f1(heldout: list[dict], name: str) -> tuple[str, str]:
    """A path's held-out macro / micro-F1 pooled over the ``--heldout`` folds (paragraph-weighted), as text."""
    key = {"pipeline": "transformer", "full": "full", "student": "student", "cascade": "cascade_chosen",
           "tfidf": "tfidf"}[name]
    pairs = [(fold[key], fold["paragraphs"]) for fold in heldout if key in fold]
    if not pairs:
        return "-", "-"
    total = sum(n for _, n in pairs)
    return tuple(f"{sum(f1[i] * n for f1, n in pairs) / total:.4f}" for i in (0, 1))  # type: ignore[return-value]


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = _parse_args()
    if args.one:
        from classifier.models.transformer import DEFAULT_MODEL_DIR

        _run_one(args.one, args.model or str(DEFAULT_MODEL_DIR), args.texts_file)
        return
    if args.compare:
        from classifier.models.transformer import DEFAULT_MODEL_DIR

        figures = _compare(args, args.model or str(DEFAULT_MODEL_DIR))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
        return

    import torch

    from classifier.models.transformer import DEFAULT_MODEL_DIR, PolicyClassifier, encode_texts

    model_dir = args.model or str(DEFAULT_MODEL_DIR)
    texts, y, labels = _sample(args.opp115, args.n)
    fp32 = PolicyClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")
    mean_tokens = float(np.mean([len(ids) for ids in encode_texts(fp32.tokenizer, texts, fp32.max_length)]))
    del fp32
    threads = torch.get_num_threads()
    print(f"{len(texts)} OPP-115 segments ({mean_tokens:.1f} tokens on average), {threads} threads, model {model_dir}")
    figures: dict[str, object] = {"n": len(texts), "threads": threads, "mean_tokens": mean_tokens}
    figures["pipeline"] = pipe_rates = _time_pipeline(model_dir, texts)
    reference = max(pipe_rates.values())
    print(f"default CPU path here (precision auto): "
          f"{PolicyClassifier.from_pretrained(model_dir, device='cpu').precision}, {threads} threads")
    figures["policy_classifier"] = _time_paths(model_dir, texts, y, labels, args.wanted, reference)
    figures["default_repeats"] = _time_default(model_dir, texts, args.repeats, reference)
    if args.baseline:
        from classifier.models.tfidf import TfidfBaseline

        baseline = TfidfBaseline.from_pretrained(args.baseline)
        rate = _rate(lambda: baseline.predict_proba(texts), len(texts), repeats=3)
        figures["tfidf"] = rate
        print(f"TF-IDF baseline                 : {rate:7.1f} paragraphs/s ({rate / reference:.0f}x the pipeline)")
    figures["peak_rss_mb"] = peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
