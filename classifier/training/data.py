"""The rows a training run learns from: the corpora a config names, joined, and split by policy for validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classifier.data.corpus import infer_label_names, label_names, load_jsonl, load_opp115
from classifier.data.splits import split_by_policy
from classifier.labels import LABEL_IDS

if TYPE_CHECKING:
    from datasets import Dataset

    from classifier.training.config import TrainConfig

__all__ = ["build_dataset", "split_for_training"]


def build_dataset(config: TrainConfig) -> Dataset:
    """Concatenate the data a config names into one dataset (label set: schema, or from the JSONL data).

    Returns:
        Rows with ``policy``, ``text`` and ``labels``, OPP-115 first, then the seed corpus, then JSONL files.

    Raises:
        ValueError: label sets that differ between sources.
        CorpusError: a corpus that cannot be read.
    """
    from datasets import concatenate_datasets

    from classifier.data.seed_corpus import load_seed_corpus

    names = infer_label_names(config.jsonl) if config.labels_from_data else list(LABEL_IDS)
    columns = ["policy", "text", "labels"]
    parts = [load_opp115(d).select_columns(columns) for d in config.opp115]
    parts += [load_seed_corpus(d).select_columns(columns) for d in config.seed_corpus]
    if config.jsonl:
        parts.append(load_jsonl(config.jsonl, names=names))
    for part in parts:
        if label_names(part) != names:
            raise ValueError(f"label sets differ: {label_names(part)} vs {names}")
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def split_for_training(config: TrainConfig) -> tuple[Dataset, Dataset | None]:
    """The ``(train, validation)`` data of a config: explicit validation files, a held-out share of the policies,
    or (``validation_fraction`` 0) everything for training and no validation."""
    data = build_dataset(config)
    if config.validation_jsonl:
        return data, load_jsonl(config.validation_jsonl, names=label_names(data))
    if config.validation_fraction > 0:
        split = split_by_policy(data, (1 - config.validation_fraction, config.validation_fraction, 0.0),
                                seed=config.seed)
        return split["train"], split["validation"]
    return data, None
