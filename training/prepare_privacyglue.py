"""Prepare the PrivacyGLUE OPP-115 protocol from an OPP-115 copy: 12 labels, majority vote, random 64/16/20 split
by *segment* (as published; it lets one policy sit in train and test), written as labelled JSONL.

    python training/prepare_privacyglue.py --opp115 ../shared/opp115 --out runs/privacyglue

Then train and evaluate with the project's own commands at the protocol's 0.5 threshold:

    policy-classifier train --jsonl runs/privacyglue/train.jsonl --labels-from-data -o runs/glue-minilm
    policy-classifier evaluate --data runs/privacyglue/test.jsonl --model runs/glue-minilm/model --threshold 0.5

The files are derived from OPP-115 (research, teaching and scholarship only; cite Wilson et al., ACL 2016) and are
written under runs/, not committed.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from classifier.data.corpus import label_names, load_opp115


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opp115", default=None)
    parser.add_argument("--out", default="runs/privacyglue")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    data = load_opp115(args.opp115, other_subtypes=True, keep_unlabeled=False)
    names = label_names(data)
    order = list(range(len(data)))
    random.Random(args.seed).shuffle(order)
    n_train, n_val = int(0.64 * len(order)), int(0.16 * len(order))
    parts = {"train": order[:n_train], "validation": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in parts.items():
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for i in rows:
                row = data[i]
                # 'policy' is the segment's policy for the record; the protocol itself ignores it.
                handle.write(json.dumps({"text": row["text"], "labels": [names[j] for j in row["labels"]],
                                         "policy": row["policy"]}) + "\n")
        print(f"{split}: {len(rows)} segments -> {out / f'{split}.jsonl'}")


if __name__ == "__main__":
    main()
