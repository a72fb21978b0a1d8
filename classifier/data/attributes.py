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

__all__ = ["ATTRIBUTE_COLUMNS", "MAPP_VALUES", "attribute_key", "attribute_targets", "has_attribute_columns",
           "load_mapp_attributes", "load_opp115_attributes", "mapp_attribute_gold", "read_attribute_votes",
           "with_attribute_columns", "with_attributes"]

# MAPP's attribute values ("Attribute_Value" as its consolidation files write them) -> the outputs they are, in
# OPP-115's scheme (classifier.attributes.OUTPUT_KEYS). Two outputs: MAPP merged two OPP-115 values, so the row
# says one of them holds and neither is decided. None: no OPP-115 output (MAPP's own attributes, "Other",
# "Unspecified"). MAPP annotates only first- and third-party practices; its required attributes (information type,
# purpose, third-party entity) decide every value MAPP has, its optional ones (choice type, does not) only the
# values stated (see mapp_attribute_gold).
MAPP_VALUES: dict[str, tuple[str, ...] | None] = {
    "Information Type_Contact information": ("personal_information_type/contact",),
    "Information Type_Cookies and tracking elements": ("personal_information_type/cookies_and_tracking_elements",),
    "Information Type_Computer information": ("personal_information_type/computer_information",),
    "Information Type_Demographic data": ("personal_information_type/demographic",),
    "Information Type_Financial": ("personal_information_type/financial",),
    "Information Type_Generic personal information": ("personal_information_type/generic_personal_information",),
    "Information Type_Health, genetic, or biometric data": ("personal_information_type/health",),
    "Information Type_IP address and device IDs": ("personal_information_type/ip_address_and_device_ids",),
    "Information Type_Location": ("personal_information_type/location",),
    "Information Type_Personal identifier": ("personal_information_type/personal_identifier",),
    "Information Type_Social media data": ("personal_information_type/social_media_data",),
    "Information Type_User online activities": ("personal_information_type/user_online_activities",),
    "Information Type_Political, religious, or philosophical belief": None,
    "Information Type_Other": None,
    "Information Type_Unspecified": None,
    "Purpose_Advertising or marketing": ("purpose/advertising", "purpose/marketing"),
    "Purpose_Analytics or research": ("purpose/analytics_research",),
    "Purpose_Essential service or feature": ("purpose/basic_service_feature",),
    "Purpose_Optional service or feature": ("purpose/additional_service_feature",),
    "Purpose_Legal requirement": ("purpose/legal_requirement",),
    "Purpose_Merger or acquisition": ("purpose/merger_acquisition",),
    "Purpose_Personalization or customization": ("purpose/personalization_customization",),
    "Purpose_Service operation and security": ("purpose/service_operation_and_security",),
    "Purpose_Other": None,
    "Purpose_Unspecified": None,
    "Third-Party Entity_Named third party": ("third_party_entity/named_third_party",),
    "Third-Party Entity_Unnamed third party": ("third_party_entity/unnamed_third_party",),
    "Third-Party Entity_Other part of company/affiliate": ("third_party_entity/other_part_of_company_affiliate",),
    "Third-Party Entity_Public": ("third_party_entity/public",),
    "Third-Party Entity_Other users": ("third_party_entity/other_users",),
    "Third-Party Entity_Other": None,
    "Third-Party Entity_Unspecified": None,
    "Choice Type (opt)_Opt-in": ("choice_type/opt_in",),
    "Choice Type (opt)_Opt-out link": ("choice_type/opt_out_link",),
    "Choice Type (opt)_Opt-out via contacting company": ("choice_type/opt_out_via_contacting_company",),
    "Choice Type (opt)_Browser/device privacy controls": ("choice_type/browser_device_privacy_controls",),
    "Choice Type (opt)_First-party privacy controls": ("choice_type/first_party_privacy_controls",),
    "Choice Type (opt)_Third-party privacy controls": ("choice_type/third_party_privacy_controls",),
    "Choice Type (opt)_Don't use service/feature": ("choice_type/dont_use_service_feature",),
    "Choice Type (opt)_Other": None,
    "Does/Does Not (opt)_Does Not": ("does_does_not/does_not",),
}
_MAPP_DECIDED = ("personal_information_type", "purpose", "third_party_entity")  # required: absent means not stated
_MAPP_LACKS = ("personal_information_type/user_profile", "personal_information_type/survey_data")

_AttributeVotes = dict[int, dict[tuple[str, str, str], set[str]]]
ATTRIBUTE_COLUMNS = ("attribute_labels", "attribute_known")  # what with_attribute_columns adds


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


def with_attribute_columns(dataset: Dataset, stated: list[list[str]] | None = None,
                           decided: list[list[str]] | None = None) -> Dataset:
    """Add what a training run learns the attribute outputs from: ``attribute_labels`` (the
    :data:`~classifier.attributes.OUTPUT_KEYS` each row states) and ``attribute_known`` (those it decides).

    ``stated`` holds each row's keys (``attribute/value``, or ``category/attribute/value`` as the gold names them;
    values outside the outputs, ``other``, are dropped); ``decided`` each row's decided outputs, every output when
    not given. Without ``stated`` no output is decided (a corpus without attribute annotations).
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
        known = ([list(range(len(OUTPUT_KEYS)))] * len(dataset) if decided is None else
                 [sorted(index[key] for key in keys if key in index) for keys in decided])
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


def mapp_attribute_gold(values: list[str]) -> tuple[list[str], list[str]]:
    """One MAPP segment's ``(stated outputs, decided outputs)`` from its ``value name`` list (:data:`MAPP_VALUES`;
    other values, MAPP's own attributes such as ``Collection Process``, are not outputs)."""
    from classifier.attributes import OUTPUT_KEYS

    stated: set[str] = set()
    undecided: set[str] = set(_MAPP_LACKS)
    for value in values:
        outputs = MAPP_VALUES.get(value)
        if outputs is None:
            continue
        if len(outputs) > 1:
            undecided.update(outputs)  # one of them, not which
        else:
            stated.update(outputs)
    decided = [key for key in OUTPUT_KEYS if key.split("/")[0] in _MAPP_DECIDED and key not in undecided]
    decided += sorted(stated - set(decided))  # an optional attribute's stated value is decided (positive)
    return sorted(stated - undecided), decided


def load_mapp_attributes(root: str | os.PathLike[str] | None = None) -> dict[tuple[str, int],
                                                                            tuple[list[str], list[str]]]:
    """``{(policy, segment_id): (stated, decided)}`` for every MAPP segment (policy ids as
    :func:`classifier.data.mapp.load_mapp` names them)."""
    import ast

    from classifier.data.corpus import default_corpus_dir

    root_path = Path(root) if root is not None else default_corpus_dir("mapp")
    gold = {}
    for labels_path in sorted((root_path / "English_consolidation").glob("*.csv")):
        with labels_path.open(encoding="utf-8", newline="") as handle:
            for record in csv.DictReader(handle):
                gold[(f"mapp/{labels_path.stem}", int(record["segment_id"]))] = mapp_attribute_gold(
                    ast.literal_eval(record["value name"]))
    return gold
