"""Train a model from a JSON config (the same thing as ``policy-classifier train --config``).

    python training/train.py training/configs/shipped.json [--output-dir runs/x]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from classifier.training.loop import TrainConfig, train, train_baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="train_config.json")
    parser.add_argument("--output-dir", default=None)
    parser.add_argument("--tfidf", action="store_true", help="fit the TF-IDF baseline instead")
    args = parser.parse_args()
    config = TrainConfig.from_json(args.config)
    if args.output_dir:
        config = replace(config, output_dir=args.output_dir)
    (train_baseline if args.tfidf else train)(config)


if __name__ == "__main__":
    main()
