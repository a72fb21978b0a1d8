"""The section heading as context: model inputs, OPP-115 headings, training data and inference agree."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from classifier import PolicyClassifier
from classifier.data.corpus import load_opp115
from classifier.models.context import model_inputs, with_section


def test_with_section_puts_the_innermost_heading_first():
    assert with_section("We keep logs.", ["Privacy Policy", "Data  Retention"]) == "Data Retention. We keep logs."
    assert with_section("We keep logs.", []) == "We keep logs."
    assert with_section("We keep logs.", None) == "We keep logs."
    assert with_section("We keep logs.", ["Policy", "  "]) == "Policy. We keep logs."
    assert with_section("", ["Cookies"]) == "Cookies"


def test_model_inputs_uses_sections_only_for_context_models():
    texts, sections = ["a", "b"], [["H"], []]
    assert model_inputs(texts, sections, True) == ["H. a", "b"]
    assert model_inputs(texts, sections, False) == texts
    assert model_inputs(iter(texts), None, True) == texts
    with pytest.raises(ValueError, match="1 sections for 2 texts"):
        model_inputs(texts, [["H"]], True)


def _opp_layout(root: Path, segments: list[str]) -> Path:
    (root / "sanitized_policies").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "sanitized_policies" / "1_example.com.html").write_text("|||".join(segments), encoding="utf-8")
    with (root / "annotations" / "1_example.com.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for annotator in ("a", "b"):
            writer.writerow([1, "x", annotator, 1, 1, "Data Retention", "{}"])
    return root


def test_opp115_segments_get_their_heading_and_a_body_without_it(tmp_path: Path):
    root = _opp_layout(tmp_path / "opp", [
        "Example Privacy Policy <br>",  # a heading alone: no paragraph, so nothing is carried
        "How Long We Keep Data <br> <br> We keep logs for 30 days. <br>",
        "Backups are deleted after a year. <br>",
        "Your Rights <br> <br> You can ask us to delete your data. <br>",
    ])
    rows = load_opp115(root).to_list()
    assert [r["section"] for r in rows] == [[], ["How Long We Keep Data"], ["How Long We Keep Data"], ["Your Rights"]]
    assert rows[1]["text"] == "How Long We Keep Data We keep logs for 30 days."
    assert rows[1]["body"] == "We keep logs for 30 days."
    assert rows[2]["body"] == rows[2]["text"] == "Backups are deleted after a year."
    assert rows[0]["body"] == rows[0]["text"] == "Example Privacy Policy"
    assert rows[1]["labels"] == [4]  # majority vote still applies


def test_real_opp115_headings(opp115):
    rows = {(r["policy"], r["segment_id"]): r for r in opp115.select_columns(
        ["policy", "segment_id", "text", "section", "body"]).to_list()}
    own = rows[("1306_chasepaymentech.com", 2)]
    assert own["section"] == ["Information We Collect"] and own["body"].startswith("Chase Paymentech's customers")
    assert rows[("1306_chasepaymentech.com", 4)]["section"] == ["Customer Data and Cardholder Data"]  # carried


def test_build_dataset_with_section_context(tmp_path: Path):
    from classifier.training.loop import TrainConfig, build_dataset

    root = _opp_layout(tmp_path / "opp", ["Retention <br> <br> We keep logs for 30 days. <br>",
                                          "Backups are deleted after a year. <br>"])
    plain = build_dataset(TrainConfig(opp115=[str(root)]))
    context = build_dataset(TrainConfig(opp115=[str(root)], section_context=True))
    assert plain["text"] == ["Retention We keep logs for 30 days.", "Backups are deleted after a year."]
    assert context["text"] == ["Retention. We keep logs for 30 days.", "Retention. Backups are deleted after a year."]
    assert context.column_names == plain.column_names == ["policy", "text", "labels"]


def test_context_model_reads_headings_and_remembers_it(tiny_model_dir, tmp_path):
    base = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32")
    texts, sections = ["we keep your data for two years", "contact us"], [["data retention"], []]
    assert base.section_context is False
    np.testing.assert_allclose(base.predict_proba(texts, sections=sections), base.predict_proba(texts), atol=1e-6)
    base.section_context = True
    saved = base.save_pretrained(tmp_path / "context-model")
    clf = PolicyClassifier.from_pretrained(saved, device="cpu", precision="fp32")
    assert clf.section_context is True
    with_heading = clf.predict_proba(texts, sections=sections)
    np.testing.assert_allclose(with_heading, clf.predict_proba([with_section(t, s) for t, s in zip(texts, sections)]),
                               atol=1e-6)
    assert np.abs(with_heading[0] - clf.predict_proba(texts)[0]).max() > 1e-6  # the heading changed the input
    preds = clf.predict(texts, sections=sections)
    assert [p.scores for p in preds] == [p.scores for p in clf.predict([with_section(t, s)
                                                                        for t, s in zip(texts, sections)])]


def test_classify_document_passes_the_segmenter_headings(tiny_model_dir, tmp_path):
    from classifier.text.segment import segment_policy

    policy = "# Policy\n\n## Data Retention\n\nWe keep your data for two years.\n\n## Contact\n\nContact us by email.\n"
    clf = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32")
    clf.section_context = True
    doc = clf.classify_document(policy)
    paragraphs = segment_policy(policy)
    assert [p.section for p in doc.paragraphs] == [("Policy", "Data Retention"), ("Policy", "Contact")]
    expected = clf.predict([with_section(p.text, p.section) for p in paragraphs])
    assert [p.scores for p in doc.paragraphs] == [p.scores for p in expected]


def test_tfidf_baseline_remembers_section_context(toy_jsonl, tmp_path):
    from classifier.data.corpus import label_names, load_jsonl, multi_hot
    from classifier.models.tfidf import TfidfBaseline

    data = load_jsonl(toy_jsonl)
    tfidf = TfidfBaseline.fit(data["text"], multi_hot(data), label_names(data))
    tfidf.section_context = True
    loaded = TfidfBaseline.from_pretrained(tfidf.save_pretrained(tmp_path / "tfidf"))
    assert loaded.section_context is True
    texts, sections = ["We keep your data."], [["Children under age"]]
    np.testing.assert_allclose(loaded.predict_proba(texts, sections=sections),
                               loaded.predict_proba(["Children under age. We keep your data."]), atol=1e-7)


def test_cli_train_with_section_context_saves_a_context_model(tiny_encoder, tmp_path: Path):
    import json

    from typer.testing import CliRunner

    from classifier.cli.app import app

    segments = [f"Retention <br> <br> We keep logs for {n} days. <br>" for n in range(6)]
    root = _opp_layout(tmp_path / "opp", segments)
    for copy in range(1, 10):  # more policies, so that a validation share of them exists
        policy = root / "sanitized_policies" / f"{copy + 1}_example{copy}.com.html"
        policy.write_text("|||".join(segments), encoding="utf-8")
        (root / "annotations" / f"{copy + 1}_example{copy}.com.csv").write_text(
            (root / "annotations" / "1_example.com.csv").read_text())
    result = CliRunner().invoke(app, ["train", "--opp115", str(root), "--encoder", str(tiny_encoder), "--epochs", "1",
                                      "--batch-size", "8", "--max-length", "64", "--section-context",
                                      "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    model_dir = tmp_path / "run" / "model"
    assert json.loads((model_dir / "config.json").read_text())["policy_classifier"]["section_context"] is True
    assert json.loads((model_dir / "train_config.json").read_text())["section_context"] is True
    assert PolicyClassifier.from_pretrained(model_dir, device="cpu", precision="fp32").section_context is True
    assert "innermost section heading in front" in (model_dir / "README.md").read_text()


def test_iter_predict_streams_sections_alongside_texts(tiny_model_dir):
    clf = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32")
    clf.section_context = True
    texts = [f"we keep data for {n} days" for n in range(9)]
    sections = [["retention"] if n % 2 else [] for n in range(9)]
    streamed = list(clf.iter_predict(iter(texts), sections=iter(sections), chunk_size=4))
    assert [p.scores for p in streamed] == [p.scores for p in clf.predict(texts, sections=sections)]
    assert len(list(clf.iter_predict(iter(texts), chunk_size=4))) == 9


def test_iter_predict_reports_too_few_sections(tiny_model_dir):
    clf = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32")
    with pytest.raises(ValueError, match="sections for"):
        list(clf.iter_predict(["a", "b", "c"], sections=[["H"]], chunk_size=2))
