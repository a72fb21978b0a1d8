import json
from pathlib import Path

import pytest

from classifier.data.corpus import (
    CorpusError,
    infer_label_names,
    label_names,
    load_jsonl,
    load_opp115,
    multi_hot,
)
from classifier.data.splits import kfold_by_policy, split_by_policy
from classifier.labels import LABEL_IDS


def _labels_of(dataset, policy: str, segment: int) -> list[str]:
    names = label_names(dataset)
    for row in dataset:
        if row["policy"] == policy and row["segment_id"] == segment:
            return [names[i] for i in row["labels"]]
    raise AssertionError(f"{policy} segment {segment} not found")


def test_opp115_has_90_policies_and_all_segments(opp115, opp115_dir: Path):
    assert len(set(opp115["policy"])) == 90
    assert label_names(opp115) == list(LABEL_IDS)
    html = (opp115_dir / "sanitized_policies" / "1028_redorbit.com.html").read_text(encoding="utf-8")
    n_segments = sum(1 for s in html.split("|||") if s.strip())
    assert sum(1 for p in opp115["policy"] if p == "1028_redorbit.com") == n_segments
    assert 2800 < len(opp115) < 3200
    assert "<br>" not in opp115[1]["text"] and "|||" not in opp115[1]["text"]


def test_majority_labels_on_hand_checked_segments(opp115, opp115_dir: Path):
    # 1028 segment 5: FPC by 3 annotators, TPS by 2, Other by 1 (checked in the CSV by hand).
    assert _labels_of(opp115, "1028_redorbit.com", 5) == ["first_party_collection", "third_party_sharing"]
    assert _labels_of(opp115, "1028_redorbit.com", 0) == ["other"]
    # 135 segment 34: all three annotators gave Audience Type = Children.
    assert {"international_specific_audiences", "children"} <= set(_labels_of(opp115, "135_instagram.com", 34))
    union = load_opp115(opp115_dir, min_annotators=1)
    assert _labels_of(union, "1028_redorbit.com", 5) == ["first_party_collection", "third_party_sharing", "other"]


def test_votes_name_each_annotator(opp115_dir: Path, opp115):
    import numpy as np

    voted = load_opp115(opp115_dir, with_votes=True)
    row = next(i for i, (p, s) in enumerate(zip(voted["policy"], voted["segment_id"], strict=True))
               if p == "1028_redorbit.com" and s == 5)
    counts = {label: len(v) for label, v in zip(LABEL_IDS, voted["votes"][row], strict=True)}
    # the same hand-checked segment: FPC by 3 annotators, TPS by 2, Other by 1
    assert counts["first_party_collection"] == 3 and counts["third_party_sharing"] == 2
    assert counts["other"] == 1 and counts["data_security"] == 0
    assert all(set(v) <= set(voted["annotators"][row]) for v in voted["votes"][row])
    # a majority label is exactly one given by at least two of the policy's annotators
    majority = np.array([[len(v) >= 2 for v in votes] for votes in voted["votes"]])
    np.testing.assert_array_equal(majority, multi_hot(opp115) == 1)


def test_opp115_other_subtypes(opp115_dir: Path):
    twelve = load_opp115(opp115_dir, other_subtypes=True)
    names = label_names(twelve)
    assert len(names) == 12 and "other" not in names and "children" not in names
    assert "other_introductory_generic" in _labels_of(twelve, "1028_redorbit.com", 0)


def test_opp115_bad_directory(tmp_path: Path):
    with pytest.raises(CorpusError, match="not an OPP-115 directory"):
        load_opp115(tmp_path)


def test_policy_split_is_disjoint_and_deterministic(opp115):
    splits = split_by_policy(opp115, (0.8, 0.1, 0.1), seed=3)
    sets = {name: set(split["policy"]) for name, split in splits.items()}
    assert not (sets["train"] & sets["validation"]) and not (sets["train"] & sets["test"])
    assert not (sets["validation"] & sets["test"])
    assert sum(len(s) for s in splits.values()) == len(opp115)
    again = split_by_policy(opp115, (0.8, 0.1, 0.1), seed=3)
    assert set(again["test"]["policy"]) == sets["test"]
    assert set(split_by_policy(opp115, (0.8, 0.1, 0.1), seed=4)["test"]["policy"]) != sets["test"]
    with pytest.raises(ValueError):
        split_by_policy(opp115, (0.5, 0.1, 0.1))


def test_kfold_by_policy_covers_each_policy_once(opp115):
    folds = kfold_by_policy(opp115, 5, seed=1)
    seen: list[str] = []
    for train, test in folds:
        assert not set(train["policy"]) & set(test["policy"])
        assert len(train) + len(test) == len(opp115)
        seen.extend(set(test["policy"]))
    assert sorted(seen) == sorted(set(opp115["policy"]))


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_load_jsonl_and_multi_hot(tmp_path: Path):
    path = _write_jsonl(tmp_path / "mine.jsonl", [
        {"text": "We keep data for **30 days**.", "labels": ["data_retention"], "policy": "a"},
        {"text": "Contact us.", "labels": ["other"], "doc_id": "b"},
        {"text": "No policy key.", "labels": []},
    ])
    ds = load_jsonl(path)
    assert ds["policy"] == ["a", "b", "mine"]
    assert ds[0]["text"] == "We keep data for 30 days."
    matrix = multi_hot(ds)
    assert matrix.shape == (3, len(LABEL_IDS))
    assert matrix[0, LABEL_IDS.index("data_retention")] == 1 and matrix[2].sum() == 0


def test_load_jsonl_with_labels_from_data(tmp_path: Path):
    path = _write_jsonl(tmp_path / "glue.jsonl", [
        {"text": "x", "labels": ["other_introductory_generic"]}, {"text": "y", "labels": ["data_security"]},
    ])
    names = infer_label_names(path)
    assert names == ["data_security", "other_introductory_generic"]
    assert label_names(load_jsonl(path, names=names)) == names


def test_load_jsonl_errors_name_file_and_line(tmp_path: Path):
    bad_label = _write_jsonl(tmp_path / "bad.jsonl", [{"text": "x", "labels": ["other"]},
                                                      {"text": "y", "labels": ["sharing"]}])
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: unknown label 'sharing'"):
        load_jsonl(bad_label)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "x", "labels": []}\n{oops\n')
    with pytest.raises(CorpusError, match=r"broken.jsonl:2: invalid JSON"):
        load_jsonl(broken)
    with pytest.raises(CorpusError, match="no such file"):
        load_jsonl(tmp_path / "missing.jsonl")
