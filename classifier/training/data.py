"""The rows a training run learns from: the corpora a config names, joined, and split by policy for validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classifier.data.attributes import (
    ATTRIBUTE_COLUMNS,
    load_mapp_attributes,
    load_opp115_attributes,
    with_attribute_columns,
    with_attributes,
)
from classifier.data.corpus import infer_label_names, label_names, load_jsonl, load_opp115, with_corpus
from classifier.data.partial import load_partial
from classifier.data.splits import split_by_policy
from classifier.labels import LABEL_IDS

if TYPE_CHECKING:
    from datasets import Dataset

    from classifier.training.config import TrainConfig

__all__ = ["build_dataset", "split_for_training"]


def build_dataset(config: TrainConfig) -> Dataset:
    """Concatenate the data a config names into one dataset (label set: schema, or from the JSONL data).

    Returns:
        Rows with ``policy``, ``text``, ``labels``, ``corpus`` (the config field the row came from) and ``annotated``
        (the labels the row decides), in :data:`~classifier.training.config.DATA_FIELDS` order: OPP-115, the seed
        corpus, JSONL files, then MAPP, C3PA and APPSI-139 (their ``partial_split``).

    Raises:
        ValueError: label sets that differ between sources.
        CorpusError: a corpus that cannot be read.
    """
    from datasets import concatenate_datasets

    names = infer_label_names(config.jsonl) if config.labels_from_data else list(LABEL_IDS)
    parts = _full_rows(config, names) + _partial_rows(config)
    for part in parts:
        if label_names(part) != names:
            raise ValueError(f"label sets differ: {label_names(part)} vs {names}")
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


_COLUMNS = ["policy", "text", "labels", "corpus", "annotated"]


def _full_rows(config: TrainConfig, names: list[str]) -> list[Dataset]:
    """The fully annotated sources' rows (with OPP-115's attribute gold when the config learns attributes)."""
    parts = []
    for corpus, directory, part in _full_parts(config, names):
        rows = with_corpus(part.select_columns(_COLUMNS[:3]), corpus).select_columns(_COLUMNS)
        if config.attributes:
            rows = with_attribute_columns(rows, _opp115_attributes(part, str(directory)) if corpus == "opp115"
                                          else None)
        parts.append(rows)
    return parts


def _partial_rows(config: TrainConfig) -> list[Dataset]:
    """The partially annotated corpora's rows (``partial_split``), with their attribute columns when learnt."""
    parts = []
    for corpus in ("mapp", "c3pa", "appsi139"):
        for directory in getattr(config, corpus):
            part = load_partial(corpus, directory, config.partial_split)
            if config.attributes:
                part = _partial_attributes(part, corpus, directory)
            parts.append(part.select_columns([*_COLUMNS, *(ATTRIBUTE_COLUMNS if config.attributes else [])]))
    return parts


def _partial_attributes(part: Dataset, corpus: str, directory: str) -> Dataset:
    """A partial corpus's attribute columns: MAPP's first- and third-party attributes
    (:data:`classifier.data.attributes.MAPP_VALUES`), none decided for the others."""
    if corpus != "mapp":
        return with_attribute_columns(part)
    gold = load_mapp_attributes(directory)
    rows = [gold.get((policy, segment), ([], [])) for policy, segment in
            zip(part["policy"], part["segment_id"], strict=True)]
    return with_attribute_columns(part, [stated for stated, _ in rows], [decided for _, decided in rows])


def _opp115_attributes(part: Dataset, directory: str) -> list[list[str]]:
    """Each OPP-115 row's attribute gold (:func:`classifier.data.attributes.load_opp115_attributes`)."""
    return list(with_attributes(part, load_opp115_attributes(directory))["attributes"])


def _full_parts(config: TrainConfig, names: list[str]) -> list[tuple[str, str | None, Dataset]]:
    """The fully annotated sources: ``(corpus id, directory, rows)``."""
    from classifier.data.seed_corpus import load_seed_corpus

    parts: list[tuple[str, str | None, Dataset]] = [("opp115", d, load_opp115(d)) for d in config.opp115]
    parts += [("seed_corpus", d, load_seed_corpus(d)) for d in config.seed_corpus]
    if config.jsonl:
        parts.append(("jsonl", None, load_jsonl(config.jsonl, names=names)))
    return parts


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
