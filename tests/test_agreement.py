import csv
import json
from pathlib import Path

import numpy as np
import pytest

from classifier.data.agreement import annotator_f1
from classifier.data.corpus import load_opp115


def _three_annotators(root: Path) -> Path:
    """One policy, two segments: a and b give Data Retention to the first (c gives nothing), all three give
    First Party Collection to the second."""
    (root / "sanitized_policies").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "sanitized_policies" / "1_example.com.html").write_text(
        "We keep logs for 30 days. <br>|||We collect your e-mail address. <br>", encoding="utf-8")
    votes = [("a", 0, "Data Retention"), ("b", 0, "Data Retention"),
             ("a", 1, "First Party Collection/Use"), ("b", 1, "First Party Collection/Use"),
             ("c", 1, "First Party Collection/Use")]
    with (root / "annotations" / "1_example.com.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for annotator, segment, category in votes:
            writer.writerow([1, "x", annotator, 1, segment, category, "{}"])
    return root


def test_votes_are_loaded_per_label(tmp_path):
    data = load_opp115(_three_annotators(tmp_path / "opp"), with_votes=True)
    names = data.features["labels"].feature.names
    assert data["annotators"] == [["a", "b", "c"], ["a", "b", "c"]]
    assert data["votes"][0][names.index("data_retention")] == ["a", "b"]
    assert data["votes"][1][names.index("first_party_collection")] == ["a", "b", "c"]
    assert "votes" not in load_opp115(tmp_path / "opp").column_names


def test_annotators_and_a_model_are_scored_against_the_same_references(tmp_path):
    data = load_opp115(_three_annotators(tmp_path / "opp"), with_votes=True)
    names = data.features["labels"].feature.names
    majority = np.zeros((2, len(names)), dtype=int)
    majority[0, names.index("data_retention")] = majority[1, names.index("first_party_collection")] = 1
    report = annotator_f1(data, majority)
    assert report["n_annotations"] == 3
    # against the majority: 5 true positives, c misses retention (1 false negative)
    assert report["annotators"]["vs_majority"]["micro_f1"] == pytest.approx(10 / 11)
    # against the others' consensus: a and b each claim retention alone (2 FP), c misses what a and b agree on (1 FN)
    assert report["annotators"]["vs_others"]["micro_f1"] == pytest.approx(6 / 9)
    assert report["model"]["vs_majority"]["micro_f1"] == pytest.approx(1.0)
    # the same consensus references: its retention call holds only where c is left out (a and b agree), 2 FP
    assert report["model"]["vs_others"]["micro_f1"] == pytest.approx(8 / 10)
    with pytest.raises(ValueError, match="predictions of shape"):
        annotator_f1(data, majority[:1])
    with pytest.raises(ValueError, match="with_votes=True"):
        annotator_f1(load_opp115(tmp_path / "opp"))


def test_agreement_cli(tmp_path, toy_jsonl):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    root = _three_annotators(tmp_path / "opp")
    result = CliRunner().invoke(app, ["data", "agreement", "--opp115", str(root)])
    assert result.exit_code == 0, result.output
    assert "| a single annotator | 0.909 / " in result.output
    assert "per category" not in result.output
    detailed = CliRunner().invoke(app, ["data", "agreement", "--opp115", str(root), "--per-label"])
    assert detailed.exit_code == 0, detailed.output
    # retention: a and b agree (2 TP vs majority), c misses (1 FN) -> 0.8; vs others, each of a and b claims it
    # alone (2 FP) and c misses it (1 FN) -> 0.0; every annotator agrees on first-party collection
    assert "| `data_retention` | 0.800 | 0.000 |" in detailed.output
    assert "| `first_party_collection` | 1.000 | 1.000 |" in detailed.output
    missing = CliRunner().invoke(app, ["data", "agreement", "--opp115", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "not an OPP-115 directory" in missing.output
    cv = tmp_path / "cv"  # a cross-validation of other data cannot be scored against these annotators
    assert CliRunner().invoke(app, ["crossval", "--jsonl", str(toy_jsonl), "--k", "4", "-o", str(cv)]).exit_code == 0
    other = CliRunner().invoke(app, ["data", "agreement", "--opp115", str(root), "--cv", str(cv), "--entry", "tfidf"])
    assert other.exit_code == 2 and "not these OPP-115 segments" in other.output
    unknown = CliRunner().invoke(app, ["data", "agreement", "--opp115", str(root), "--cv", str(cv),
                                       "--entry", "teacher+tfidf"])  # an average of members the run lacks
    assert unknown.exit_code == 2 and "no model 'teacher+tfidf' (has " in unknown.output
    saved = json.loads((cv / "cv.json").read_text())
    saved["settings"]["from_a_newer_version"] = 1
    (cv / "cv.json").write_text(json.dumps(saved))
    newer = CliRunner().invoke(app, ["data", "agreement", "--opp115", str(root), "--cv", str(cv), "--entry", "tfidf"])
    assert newer.exit_code == 2 and "cannot rebuild the data" in newer.output
