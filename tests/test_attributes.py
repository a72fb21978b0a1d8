"""The attribute schema and OPP-115 attribute gold (issue #29): the majority rule on a hand-made annotation file."""

from __future__ import annotations

import csv
import json

import pytest

from classifier.attributes import ATTRIBUTE_IDS, attribute, value_id
from classifier.data.attributes import load_opp115_attributes, read_attribute_votes


def _annotation(annotator, segment, category, attributes):
    return ["1", "job", annotator, "1", str(segment), category,
            json.dumps({name: {"value": value, "selectedText": "x", "startIndexInSegment": 0,
                               "endIndexInSegment": 1} for name, value in attributes.items()}), "date", "url"]


def _opp115(root, rows, segments=("<p>We collect your email.</p>", "<p>We share it with advertisers.</p>")):
    (root / "annotations").mkdir(parents=True)
    (root / "sanitized_policies").mkdir()
    (root / "sanitized_policies" / "7_example.com.html").write_text("|||".join(segments))
    with open(root / "annotations" / "7_example.com.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return root


def test_value_ids_are_the_snake_case_of_opp115_names():
    assert value_id("IP address and device IDs") == "ip_address_and_device_ids"
    assert value_id("User Profile") == value_id("User profile") == "user_profile"
    assert value_id("Dont use service/feature") == "dont_use_service_feature"
    assert {"personal_information_type", "purpose", "third_party_entity", "choice_type",
            "retention_period"} <= set(ATTRIBUTE_IDS)
    assert "advertising" in attribute("purpose").values and "unspecified" not in attribute("purpose").values
    with pytest.raises(KeyError, match="unknown attribute 'colour'"):
        attribute("colour")


def test_a_value_counts_when_two_annotators_give_it_under_the_same_category(tmp_path):
    share = "Third Party Sharing/Collection"
    rows = [
        # segment 1: advertising from two annotators (counts); marketing from one (does not); the same annotator
        # twice is one vote; Unspecified is never a value
        _annotation("a", 1, share, {"Purpose": "Advertising", "Third Party Entity": "Unnamed third party"}),
        _annotation("b", 1, share, {"Purpose": "Advertising", "Third Party Entity": "Unspecified"}),
        _annotation("c", 1, share, {"Purpose": "Marketing", "Third Party Entity": "Unspecified"}),
        _annotation("c", 1, share, {"Purpose": "Marketing"}),
        # segment 0: contact from three annotators, two under first-party collection (counts there) and one under
        # choice (does not count there); Does from one annotator (does not count)
        _annotation("a", 0, "First Party Collection/Use", {"Personal Information Type": "Contact"}),
        _annotation("b", 0, "User Choice/Control", {"Personal Information Type": "Contact"}),
        _annotation("c", 0, "First Party Collection/Use", {"Personal Information Type": "Contact",
                                                           "Does/Does Not": "Does"}),
    ]
    root = _opp115(tmp_path / "opp", rows)
    votes = read_attribute_votes(root / "annotations" / "7_example.com.csv")
    assert votes[1][("third_party_sharing", "purpose", "marketing")] == {"c"}
    gold = load_opp115_attributes(root)
    assert gold == {("7_example.com", 1): ["third_party_sharing/purpose/advertising"],
                    ("7_example.com", 0): ["first_party_collection/personal_information_type/contact"]}
    assert load_opp115_attributes(root, min_annotators=3) == {}


def test_the_gold_of_the_real_corpus_has_the_attributes_the_issue_names(opp115_dir):
    gold = load_opp115_attributes(opp115_dir)
    stated = {key for keys in gold.values() for key in keys}
    for key in ("first_party_collection/personal_information_type/contact",
                "third_party_sharing/third_party_entity/unnamed_third_party",
                "third_party_sharing/purpose/advertising", "data_retention/retention_period/stated_period",
                "international_specific_audiences/audience_type/children"):
        assert key in stated
    assert not any(key.endswith("/unspecified") for key in stated)
