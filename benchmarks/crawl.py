"""A crawl end to end through the batch path: wall time, paragraphs/s, pages/s, peak memory, failures by reason.

Run: python benchmarks/crawl.py [--crawl ../shared/dmoz/policies] [--model DIR] [--format parquet] [--limit N]
     [--precision auto] [--out runs/crawl-bench] [--engine ray --actors 2]

Classifies every page (``run_batch``, the code ``policy-classifier classify`` runs) into ``--out`` and prints the
figures, then a JSON line of them. Peak resident memory is the process's (``ru_maxrss``), model included. Run it
alone: another CPU job on the machine spoils the figures.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import time
from collections import Counter
from pathlib import Path

from classifier.cli.app import load_model
from classifier.predict.batch import discover_inputs, run_batch
from classifier.predict.detector import load_detector


def _reason_kind(reason: str) -> str:
    """A failure reason without the page's particulars (sizes, counts), to count by."""
    return re.sub(r"[\d,]+", "N", reason.split(":")[0] if ": " in reason else reason)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crawl", default="../shared/dmoz/policies")
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--format", default="parquet", choices=["jsonl", "csv", "parquet"])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--limit", type=int, default=0, help="the first N pages only (0: all)")
    parser.add_argument("--out", default="runs/crawl-bench")
    parser.add_argument("--engine", default="local", choices=["local", "ray"])
    parser.add_argument("--actors", type=int, default=1, help="Ray actors (--engine ray)")
    parser.add_argument("--full-model", action="store_true", help="the full model on every paragraph, not the "
                                                                  "cascade of a model with a student")
    args = parser.parse_args()

    inputs, problems = discover_inputs([args.crawl])
    inputs = inputs[:args.limit] if args.limit else inputs
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"crawl.{args.format}"
    started = time.perf_counter()
    from classifier.models.transformer import shipped_model_dir

    model_dir = Path(args.model) if args.model else shipped_model_dir()
    if args.engine == "ray":
        from classifier.predict.ray_engine import RayOptions, run_batch_ray

        loaded = started  # the actors load the model: part of the run
        result = run_batch_ray(model_dir, inputs, output=output, fmt=args.format, precision=args.precision,
                               options=RayOptions(actors=args.actors), full=args.full_model)
    else:
        model = load_model(model_dir, None, args.precision, full=args.full_model)
        detector = load_detector(model_dir)
        loaded = time.perf_counter()
        result = run_batch(model, inputs, output=output, fmt=args.format, detector=detector)
    wall = time.perf_counter() - started
    labelling = time.perf_counter() - loaded
    figures = {
        "pages": len(inputs), "classified": len(result.done), "failed": len(result.failed) + len(problems),
        "paragraphs": result.paragraphs, "wall_s": round(wall, 1), "model_load_s": round(loaded - started, 1),
        "paragraphs_per_s": round(result.paragraphs / labelling, 1), "pages_per_s": round(len(inputs) / labelling, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "failures_by_reason": dict(Counter(_reason_kind(r) for _, r in [*result.failed, *problems]).most_common()),
        "recovered_by_kind": dict(Counter(what for _, what in result.recovered).most_common()),
        "not_policies": len(result.not_policies), "model": args.model or "shipped", "precision": args.precision,
        "format": args.format, "engine": args.engine, "actors": args.actors if args.engine == "ray" else None,
        "path": type(model).__name__ if args.engine == "local" else None,
    }
    if args.engine == "local" and hasattr(model, "escalated_rows"):  # a cascade: the share the full model saw
        figures["escalated"] = round(model.escalated_rows / max(1, model.seen_rows), 4)
    print(f"{figures['pages']:,} pages in {wall / 60:.1f} min ({figures['model_load_s']} s loading): "
          f"{figures['paragraphs']:,} paragraphs, {figures['paragraphs_per_s']} paragraphs/s, "
          f"{figures['pages_per_s']} pages/s, peak {figures['peak_rss_mb']:.0f} MB")
    print(f"failed {figures['failed']}: {figures['failures_by_reason']}; recovered: {figures['recovered_by_kind']}; "
          f"judged not a policy: {figures['not_policies']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
