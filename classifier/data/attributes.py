"""Attribute gold from OPP-115: which attribute values each segment states, by the categories' majority rule.

Rule: a value counts for a segment when at least ``min_annotators`` (2: a majority of the three) distinct
annotators gave it, for the same attribute, on an annotation of the same category in that segment. It is kept with
its category (``third_party_sharing/purpose/advertising``), because a value means something else under another
category (a purpose of collection is not a purpose of sharing). ``Unspecified`` and ``not-selected`` are not values
(:data:`classifier.attributes.NOT_VALUES`); attributes outside :data:`classifier.attributes.ATTRIBUTES` are ignored.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.attributes import ATTRIBUTE_IDS, NOT_VALUES, attribute, value_id
from classifier.labels import OPP115_CATEGORY_TO_ID

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["attribute_key", "attribute_targets", "has_attribute_columns", "load_opp115_attributes",
           "read_attribute_votes", "with_attribute_columns", "with_attributes"]

_AttributeVotes = dict[int, dict[tuple[str, str, str], set[str]]]


def attribute_key(category: str, attribute_id: str, value: str) -> str:
    """The gold's name for one stated value: ``category/attribute/value``."""
    return f"{category}/{attribute_id}/{value}"


def read_attribute_votes(csv_path: str | os.PathLike[str]) -> _AttributeVotes:
    """One policy's annotation file as ``{segment: {(category, attribute, value): annotators who gave it}}``."""
    votes: _AttributeVotes = defaultdict(lambda: defaultdict(set))
    with open(csv_path, encoding="utf-8", newline="") as handle:
        for record in csv.reader(handle):
            category = OPP115_CATEGORY_TO_ID.get(record[5])
            if category is None:
                continue
            for name, detail in json.loads(record[6]).items():
                attr, value = value_id(name), value_id(str(detail.get("value", "")))
                if attr not in ATTRIBUTE_IDS or value in NOT_VALUES or not value:
                    continue
                if value in attribute(attr).values and category in attribute(attr).categories:
                    votes[int(record[4])][(category, attr, value)].add(record[2])
    return votes


def load_opp115_attributes(root: str | os.PathLike[str] | None = None, *,
                           min_annotators: int = 2) -> dict[tuple[str, int], list[str]]:
    """``{(policy, segment_id): sorted attribute keys}`` for every segment with at least one value by the rule."""
    from classifier.data.corpus import _policy_files, default_opp115_dir

    root_path = Path(root) if root is not None else default_opp115_dir()
    gold: dict[tuple[str, int], list[str]] = {}
    for _, stem, _, csv_path in _policy_files(root_path):
        for segment, values in read_attribute_votes(csv_path).items():
            stated = sorted(attribute_key(*key) for key, who in values.items() if len(who) >= min_annotators)
            if stated:
                gold[(stem, segment)] = stated
    return gold


def with_attributes(dataset: Dataset, gold: dict[tuple[str, int], list[str]]) -> Dataset:
    """An OPP-115 dataset (``policy``, ``segment_id`` columns) with an ``attributes`` column from the gold."""
    values: list[Any] = [gold.get((policy, segment), []) for policy, segment in
                         zip(dataset["policy"], dataset["segment_id"], strict=True)]
    return dataset.add_column("attributes", values)


def with_attribute_columns(dataset: Dataset, stated: list[list[str]] | None = None) -> Dataset:
    """Add what a training run learns the attribute outputs from: ``attribute_labels`` (the
    :data:`~classifier.attributes.OUTPUT_KEYS` each row states) and ``attribute_known`` (those it decides).

    ``stated`` holds each row's keys (``attribute/value``, or ``category/attribute/value`` as the gold names them;
    values outside the outputs, ``other``, are dropped): the rows of a corpus annotated with attributes, where every
    output is decided. Without it no output is decided (a corpus without attribute annotations).
    """
    from datasets import ClassLabel, List

    from classifier.attributes import OUTPUT_KEYS

    index = {key: i for i, key in enumerate(OUTPUT_KEYS)}
    if stated is None:
        labels: list[list[int]] = [[] for _ in range(len(dataset))]
        known: list[list[int]] = [[] for _ in range(len(dataset))]
    else:
        labels = [sorted({index[flat] for flat in ("/".join(key.split("/")[-2:]) for key in keys) if flat in index})
                  for keys in stated]
        known = [list(range(len(OUTPUT_KEYS)))] * len(dataset)
    feature = List(ClassLabel(names=list(OUTPUT_KEYS)))
    return (dataset.add_column("attribute_labels", labels, feature=feature)
            .add_column("attribute_known", known, feature=feature))


def has_attribute_columns(dataset: Dataset) -> bool:
    """True when a dataset carries attribute outputs to learn (:func:`with_attribute_columns`)."""
    return "attribute_labels" in dataset.column_names


def attribute_targets(dataset: Dataset) -> tuple[Any, Any]:
    """``(targets, known)``: two ``(n_rows, n_outputs)`` float32 0/1 arrays of the attribute outputs."""
    import numpy as np

    n_outputs = len(dataset.features["attribute_labels"].feature.names)
    targets = np.zeros((len(dataset), n_outputs), dtype=np.float32)
    known = np.zeros_like(targets)
    for row, (stated, decided) in enumerate(zip(dataset["attribute_labels"], dataset["attribute_known"],
                                                strict=True)):
        targets[row, stated] = 1.0
        known[row, decided] = 1.0
    return targets, known
