import pytest

from classifier.labels import (
    CARD_MAP,
    LABEL_IDS,
    LABELS,
    OPP115_CATEGORY_TO_ID,
    Scheme,
    card_label_ids,
    card_scores,
    label_ids,
    to_card,
    validate_label_ids,
)


def test_schema_ids_are_stable():
    assert LABEL_IDS == (
        "first_party_collection", "third_party_sharing", "user_choice_control", "user_access_edit_deletion",
        "data_retention", "data_security", "policy_change", "do_not_track", "international_specific_audiences",
        "other", "children",
    )
    assert all(label.name and label.description for label in LABELS)
    assert len(OPP115_CATEGORY_TO_ID) == 10


def test_card_view_has_the_six_mission_categories():
    assert card_label_ids() == (
        "first_party_collection", "third_party_sharing", "retention", "user_rights", "children", "security",
    )
    assert set(CARD_MAP.values()) == set(card_label_ids())
    assert label_ids(Scheme.card) == card_label_ids()
    assert label_ids("opp115") == LABEL_IDS


def test_to_card_merges_user_rights_and_drops_unmapped():
    assert to_card(["user_choice_control", "user_access_edit_deletion", "other"]) == ["user_rights"]
    assert to_card(["data_security", "first_party_collection", "policy_change"]) == [
        "first_party_collection", "security",
    ]
    assert to_card(["do_not_track"]) == []


def test_card_scores_take_the_max_of_merged_labels():
    scores = card_scores({"user_choice_control": 0.2, "user_access_edit_deletion": 0.7, "other": 0.9})
    assert scores["user_rights"] == pytest.approx(0.7)
    assert set(scores) == set(card_label_ids())


def test_validate_label_ids_names_the_bad_label():
    validate_label_ids(["other"])
    with pytest.raises(ValueError, match="'sharing'"):
        validate_label_ids(["other", "sharing"])
    with pytest.raises(ValueError):
        label_ids("nope")
