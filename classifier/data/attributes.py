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

__all__ = ["attribute_key", "load_opp115_attributes", "read_attribute_votes", "with_attributes"]

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
