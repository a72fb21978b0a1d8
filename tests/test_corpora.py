"""The partially annotated corpora (MAPP, C3PA, APPSI-139): their mapping tables, loaders and masks, on real rows."""

import csv
from pathlib import Path

import numpy as np
import pytest

from classifier.data.corpus import CorpusError, label_mask, label_names, multi_hot, with_corpus
from classifier.labels import C3PA_MAPPING, LABEL_IDS, MAPP_MAPPING, CorpusMapping


def _names(indices):
    return sorted(LABEL_IDS[i] for i in indices)


def test_a_mapping_decides_only_what_its_corpus_annotates():
    labels, known = MAPP_MAPPING.convert(["First Party"])
    assert labels == {"first_party_collection"} and known == {"first_party_collection", "third_party_sharing"}
    assert MAPP_MAPPING.convert([]) == (set(), {"first_party_collection", "third_party_sharing"})
    # how to exercise rights may be access or opt-out: both unknown, the other annotated labels negatives
    labels, known = C3PA_MAPPING.convert(["Methods to exercise rights"])
    assert labels == set() and known == {"first_party_collection", "third_party_sharing", "policy_change"}
    # a positive is always known, even where another of the row's labels is unsure about it
    labels, known = C3PA_MAPPING.convert(["Others", "Description of Right to Delete"])
    assert labels == known == {"user_access_edit_deletion"}
    with pytest.raises(KeyError):
        C3PA_MAPPING.convert(["a label the table does not list"])
    with pytest.raises(ValueError, match="unknown label id"):
        CorpusMapping("x", {"A": ("first_party",)}, ("first_party",))
    # a target outside what the corpus annotates is positive-only
    positive_only = CorpusMapping("x", {"A": ("other",), "B": ()}, ("first_party_collection",))
    assert positive_only.convert(["A"]) == ({"other"}, {"other", "first_party_collection"})
    assert positive_only.convert(["B"]) == (set(), {"first_party_collection"})


def test_mapp_rows_follow_the_policy_lines(mapp_dir: Path):
    from classifier.data.mapp import _policy_rows

    stem = "100_com.snapchat.android"
    rows = _policy_rows(mapp_dir / "English_sanitized_policies" / f"{stem}.txt",
                        mapp_dir / "English_consolidation" / f"{stem}.csv")
    lines = [line for line in (mapp_dir / "English_sanitized_policies" / f"{stem}.txt").read_text().split("\n")
             if line.strip()]
    assert len(rows) == len(lines) == 61 and rows[6]["segment_id"] == 7
    assert rows[6]["text"].startswith("Information You Provide When you interact with our services")
    assert _names(rows[6]["labels"]) == ["first_party_collection"]  # 'First Party', Information Type Financial...
    assert _names(rows[5]["labels"]) == []  # "Here's a little more detail": no practice, a negative for both
    assert all(_names(row["annotated"]) == ["first_party_collection", "third_party_sharing"] for row in rows)
    assert {row["split"] for row in rows} == {"train"}


def test_mapp_refuses_label_rows_that_do_not_follow_the_segments(mapp_dir: Path, tmp_path: Path):
    from classifier.data.mapp import load_mapp

    stem = "100_com.snapchat.android"
    for sub in ("English_sanitized_policies", "English_consolidation"):
        (tmp_path / sub).mkdir()
    (tmp_path / "English_sanitized_policies" / f"{stem}.txt").write_text("only one segment\n")
    (tmp_path / "English_consolidation" / f"{stem}.csv").write_text(
        (mapp_dir / "English_consolidation" / f"{stem}.csv").read_text())
    with pytest.raises(CorpusError, match="61 label rows for 1 segments"):
        load_mapp(tmp_path)
    with pytest.raises(CorpusError, match="not a MAPP directory"):
        load_mapp(tmp_path / "English_consolidation")


def test_c3pa_spans_are_distinct_with_the_union_of_their_labels(c3pa_dir: Path):
    from classifier.data.c3pa import MIN_WORDS, _spans

    path = c3pa_dir / "Annotations" / "DB" / "1.csv"
    spans = _spans(path)
    change = next(text for text in spans if text.startswith("Change of Control. We may buy"))
    labels, known = spans[change]
    # annotated 'Shared / Disclosed' and 'Sold' by one annotator: both third-party sharing
    assert _names(labels) == ["third_party_sharing"]
    assert _names(known) == sorted(C3PA_MAPPING.annotates)
    with path.open(encoding="utf-8") as handle:
        raw = {" ".join(record["Text"].split()) for record in csv.DictReader(handle)}
    assert set(spans) <= raw and len(spans) == 120
    assert all(len(text.split()) >= MIN_WORDS for text in spans)


def test_c3pa_split_is_by_policy_and_fixed(c3pa_dir: Path):
    from classifier.data.c3pa import test_policies

    policies = [f"c3pa/{p.parent.name}/{p.stem}" for p in (c3pa_dir / "Annotations").glob("*/*.csv")]
    held_out = test_policies(policies)
    assert len(held_out) == 80 and held_out == test_policies(list(reversed(policies)))


def test_with_corpus_and_label_mask(toy_jsonl):
    from classifier.data.corpus import load_jsonl

    data = load_jsonl(toy_jsonl)
    assert label_mask(data).all()  # no 'annotated' column: every label is decided
    tagged = with_corpus(data, "toy")
    assert set(tagged["corpus"]) == {"toy"} and label_mask(tagged).all()
    np.testing.assert_array_equal(multi_hot(tagged), multi_hot(data))
    assert label_names(tagged) == list(LABEL_IDS)


@pytest.mark.e2e
def test_whole_partial_corpora_load_with_their_splits(mapp_dir: Path, c3pa_dir: Path):
    from classifier.data.c3pa import load_c3pa
    from classifier.data.mapp import load_mapp

    train, test = load_mapp(mapp_dir, split="train"), load_mapp(mapp_dir, split="test")
    assert (len(set(train["policy"])), len(set(test["policy"]))) == (52, 12)
    assert len(train) + len(test) == 3976 and not set(train["policy"]) & set(test["policy"])
    mask = label_mask(train)
    assert mask[:, :2].all() and not mask[:, 2:].any()
    c3pa_train, c3pa_test = load_c3pa(c3pa_dir, split="train"), load_c3pa(c3pa_dir, split="test")
    assert not set(c3pa_train["policy"]) & set(c3pa_test["policy"])
    y, known = multi_hot(c3pa_train), label_mask(c3pa_train)
    assert (y <= known).all()  # a positive is always a known cell
    assert not known[:, [LABEL_IDS.index(label) for label in ("data_retention", "data_security", "other")]].any()


def test_appsi_sentences_are_read_back_with_their_topics(appsi_dir: Path):
    from classifier.data.appsi139 import read_sentences
    from classifier.labels import APPSI139_MAPPING

    sentences = read_sentences(appsi_dir / "train.txt")
    assert len(sentences) == 11036
    text, topics = sentences[4]  # line 5
    assert text == ("If you are under the age of 13, you must only enter the email address of your parent or guardian "
                    "for this purpose.")
    assert topics == ["First Party Collection", "Specific Audiences"]
    labels, known = APPSI139_MAPPING.convert(topics)
    # specific audiences: a positive for the audience category; children or a region, it does not say: unknown
    assert labels == {"first_party_collection", "international_specific_audiences"} and "children" not in known
    text, topics = sentences[29]  # line 30: a browser cookie setting, Edit/Control
    assert text.startswith("If you wish to be notified when you receive a cookie, you may set your browser")
    labels, known = APPSI139_MAPPING.convert(topics)
    assert labels == set() and not {"user_choice_control", "user_access_edit_deletion"} & known
    assert {"first_party_collection", "third_party_sharing", "policy_change"} <= known


def test_appsi_malformed_line_is_named(tmp_path: Path):
    from classifier.data.appsi139 import load_appsi139

    (tmp_path / "train.txt").write_text("We,collect,data.\t[1, 0, 0]\n")
    with pytest.raises(CorpusError, match=r"train.txt:1: expected tokens, a tab and an 11-dim vector"):
        load_appsi139(tmp_path)
    with pytest.raises(CorpusError, match="no such file"):
        load_appsi139(tmp_path / "missing")


@pytest.mark.e2e
def test_appsi_test_split_is_the_last_blocks_without_seen_sentences(appsi_dir: Path):
    from classifier.data.appsi139 import BLOCK, load_appsi139

    train, test = load_appsi139(appsi_dir, split="train"), load_appsi139(appsi_dir, split="test")
    assert not set(train["policy"]) & set(test["policy"]) and not set(train["text"]) & set(test["text"])
    assert max(train["line"]) < min(test["line"]) and len(set(test["policy"])) == 25
    assert len(train) == BLOCK * 98 and len(test) < 11036 - len(train)  # repeated sentences left out of the test


def test_mapp_attribute_values_map_to_the_attribute_outputs_on_real_rows(mapp_dir: Path):
    from classifier.attributes import OUTPUT_KEYS
    from classifier.data.attributes import MAPP_VALUES, load_mapp_attributes

    gold = load_mapp_attributes(mapp_dir)
    stated, decided = gold[("mapp/100_com.snapchat.android", 7)]
    # 'Information Type_Financial', '..._Contact information', '..._Other', 'Purpose_Essential service or feature'
    assert stated == ["personal_information_type/contact", "personal_information_type/financial",
                      "purpose/basic_service_feature"]
    assert "personal_information_type/location" in decided and "third_party_entity/public" in decided
    assert "personal_information_type/survey_data" not in decided  # MAPP has no such value: unknown, not negative
    assert "choice_type/opt_in" not in decided  # optional attribute not stated: unknown
    # segment 19: 'Purpose_Advertising or marketing' says one of two OPP-115 values holds, not which
    stated, decided = gold[("mapp/100_com.snapchat.android", 19)]
    assert stated == [] and "purpose/advertising" not in decided and "purpose/marketing" not in decided
    assert "purpose/analytics_research" in decided
    for outputs in MAPP_VALUES.values():
        assert outputs is None or set(outputs) <= set(OUTPUT_KEYS)
