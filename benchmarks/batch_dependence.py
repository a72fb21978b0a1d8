"""How much a paragraph's labels depend on what it is batched with, for each inference precision.

Run: python benchmarks/batch_dependence.py [--model DIR] [--opp115 ../shared/opp115] [--precision bf16 ...]

For each precision it prints, on the OPP-115 policies: the share of label decisions that differ from fp32; on
1,000 segments, batch 16 against one paragraph at a time; and on whole policies, labelling them together in one call
(what the batch CLI does in groups) against one policy at a time. Figures are counts of changed (paragraph, label)
decisions with the model's thresholds, and the mean and largest score change. Run it alone (CPU-heavy).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np


def _compare(name: str, a: np.ndarray, b: np.ndarray, thresholds: np.ndarray) -> None:
    changed = int(((a >= thresholds) != (b >= thresholds)).sum())
    diff = np.abs(a - b)
    print(f"  {name:<50} {changed:>5} of {a.size:,} decisions changed ({changed / a.size:.3%}); "
          f"score change mean {diff.mean():.5f}, max {diff.max():.4f}", flush=True)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--opp115", default=None, help="OPP-115 directory (default: ../shared/opp115)")
    parser.add_argument("--precision", action="append", default=None,
                        help="precision to check (repeatable; default: bf16 and int8)")
    args = parser.parse_args()

    from classifier.data.corpus import default_opp115_dir, load_opp115
    from classifier.models.transformer import DEFAULT_MODEL_DIR, PolicyClassifier
    from classifier.text.reading import read_policy
    from classifier.text.segment import segment_policy

    model_dir = args.model or str(DEFAULT_MODEL_DIR)
    data = load_opp115(args.opp115)
    rng = np.random.default_rng(0)
    segments = data.select(sorted(rng.choice(len(data), size=min(1000, len(data)), replace=False).tolist()))["text"]
    policies_dir = Path(args.opp115 or default_opp115_dir()) / "sanitized_policies"
    paragraphs = [[p.text for p in segment_policy(read_policy(path))]
                  for path in sorted(policies_dir.glob("*.html"))]
    flat = [text for policy in paragraphs for text in policy]
    print(f"{len(segments)} OPP-115 segments; {len(paragraphs)} policies segmented into {len(flat):,} paragraphs")

    reference = PolicyClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")
    thresholds = np.asarray(reference.thresholds)[None, :]
    fp32_all = reference.predict_proba(flat)
    del reference
    for precision in args.precision or ["bf16", "int8"]:
        clf = PolicyClassifier.from_pretrained(model_dir, device="cpu", precision=precision)
        print(f"{precision}:")
        together = clf.predict_proba(flat)
        _compare("against fp32 (all paragraphs in one call)", together, fp32_all, thresholds)
        _compare("segments: batch 16 against one at a time", clf.predict_proba(segments, batch_size=16),
                 clf.predict_proba(segments, batch_size=1), thresholds)
        one_by_one = np.concatenate([clf.predict_proba(policy) for policy in paragraphs])
        _compare("policies: one call for all against one per policy", together, one_by_one, thresholds)


if __name__ == "__main__":
    main()
