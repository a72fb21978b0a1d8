"""The per-policy report: states, evidence, escaping, comparison, the CLI command and the API method."""

from __future__ import annotations

import re

import numpy as np
import pytest

from classifier.labels import LABEL_IDS
from classifier.models.base import ParagraphModel

# keyword -> (label, score): a model whose scores a test can read off the text
_RULES = {"share": ("third_party_sharing", 0.92), "collect": ("first_party_collection", 0.88),
          "retain": ("data_retention", 0.35), "advertis": ("third_party_sharing", 0.6)}


class KeywordModel(ParagraphModel):
    """Scores set by keywords (0.01 otherwise); thresholds 0.5."""

    def __init__(self):
        self.labels = list(LABEL_IDS)
        self.thresholds = [0.5] * len(LABEL_IDS)

    def predict_proba(self, texts, *, batch_size=16):
        out = np.full((len(list(texts)), len(self.labels)), 0.01, dtype=np.float32)
        for row, text in enumerate(texts):
            for keyword, (label, score) in _RULES.items():
                if keyword in text.lower():
                    column = self.labels.index(label)
                    out[row, column] = max(out[row, column], score)
        return out


POLICY = """Privacy Policy

We collect your email address when you register.

We share your data with partners. We also share it with advertisers.

We retain some records.

Contact us at privacy@example.com. <script>alert("x")</script>
"""


@pytest.fixture()
def report():
    from classifier.report.policy import build_report

    model = KeywordModel()
    return build_report(model.classify_document(POLICY), model)


def _state(report, label):
    return next(s for s in [*report.categories, *report.card] if s.label == label)


def test_states_follow_the_documented_rule_with_evidence_best_first(report):
    sharing = _state(report, "third_party_sharing")
    assert (sharing.state, sharing.confidence, sharing.n_paragraphs) == ("covered", 0.92, 1)
    retention = _state(report, "data_retention")
    assert (retention.state, retention.confidence, retention.n_paragraphs) == ("unsure", 0.35, 0)
    assert retention.evidence[0] == next(p.index for p in report.paragraphs if "retain" in p.text)
    dnt = _state(report, "do_not_track")
    assert (dnt.state, dnt.confidence, dnt.evidence) == ("not found", 0.99, ())
    card_sharing = next(s for s in report.card if s.label == "third_party_sharing")
    assert (card_sharing.state, card_sharing.scheme) == ("covered", "card")
    assert next(s for s in report.card if s.label == "retention").state == "unsure"
    assert report.title == "Privacy Policy" and not report.model["calibrated"]


def test_the_html_page_escapes_the_policy_and_every_evidence_link_resolves(report):
    from classifier.report.render import render

    page = render(report, "html")
    assert "<script" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    targets = set(re.findall(r'href="#(p-\d+)"', page))
    anchors = set(re.findall(r'id="(p-\d+)"', page))
    assert targets and targets <= anchors
    assert page.count('class="state covered"') >= 2 and "unsure" in page and "not found" in page
    assert "Third Party Sharing/Collection</span>" in page  # a paragraph names its category in text, not colour only


def test_a_document_with_no_practice_still_gets_a_page_that_says_so():
    from classifier.report.policy import build_report
    from classifier.report.render import render

    model = KeywordModel()
    empty = build_report(model.classify_document("Welcome to our website.\n\nRead our blog."), model)
    assert all(s.state == "not found" for s in empty.categories)
    assert "No privacy practice was found" in render(empty, "html")
    assert "| Third Party Sharing/Collection | not found |" in render(empty, "md")


def test_comparison_names_added_removed_and_changed_categories_with_their_paragraphs():
    from classifier.report.compare import compare_reports
    from classifier.report.policy import build_report
    from classifier.report.render import render

    model = KeywordModel()
    old = build_report(model.classify_document("We collect your name.\n\nWe share your data with partners."), model)
    new = build_report(model.classify_document("We collect your name and address.\n\nWe retain some records."),
                       model)
    comparison = compare_reports(old, new)
    kinds = {c.label: c.kind for c in comparison.changes if c.scheme == "opp115"}
    assert kinds["third_party_sharing"] == "removed" and kinds["first_party_collection"] == "changed"
    assert kinds["data_retention"] == "unchanged"  # unsure in the new text: not "added"
    collection = next(c for c in comparison.changes if c.label == "first_party_collection")
    assert collection.only_old == (0,) and collection.only_new == (0,)
    assert "1 removed (third_party_sharing)" in comparison.headline()
    page = render(comparison, "html")
    assert "We share your data with partners." in page and "removed" in page


def test_the_api_method_gives_html_or_markdown_and_refuses_other_formats():
    model = KeywordModel()
    assert model.report(POLICY).startswith("<!DOCTYPE html>")
    assert model.report(POLICY, format="md").startswith("# Privacy Policy")
    assert "Policy comparison" in model.report(POLICY, compare_with="We collect your name.")
    with pytest.raises(ValueError, match="format must be"):
        model.report(POLICY, format="pdf")


def test_report_cli_writes_a_page_a_folder_with_an_index_and_a_comparison(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "a.txt").write_text(POLICY)
    (policies / "b.md").write_text("# Terms\n\nWe share data.\n")
    (policies / "broken.txt").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "no-prose.txt").write_text("ok")
    runner = CliRunner()
    model = ["--model", str(tiny_model_dir)]

    one = runner.invoke(app, ["report", str(policies / "a.txt"), *model])
    assert one.exit_code == 0 and one.stdout.startswith("<!DOCTYPE html>") and "<script" not in one.stdout

    folder = runner.invoke(app, ["report", str(policies), "-o", str(tmp_path / "pages"), *model])
    assert folder.exit_code == 1  # one policy could not be read: reported, the others written
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == ["a.html", "b.html", "index.html"]
    index = (tmp_path / "pages" / "index.html").read_text()
    assert 'href="a.html"' in index and "broken.txt" in index and "error:" in folder.stderr

    compared = runner.invoke(app, ["report", str(policies / "a.txt"), str(policies / "b.md"), "--compare",
                                   "--format", "md", "-o", str(tmp_path / "diff.md"), *model])
    assert compared.exit_code == 0 and (tmp_path / "diff.md").read_text().startswith("# Policy comparison")

    for args, code, message in (([str(policies)], 2, "need -o/--output"),
                                ([str(policies / "broken.txt")], 1, "broken.txt"),
                                ([str(policies / "a.txt"), "--compare"], 2, "two policies"),
                                ([str(tmp_path / "missing.txt")], 1, "missing.txt"),
                                ([str(tmp_path / "no-prose.txt")], 1, "no paragraphs found")):
        result = runner.invoke(app, ["report", *args, *model])
        assert result.exit_code == code and message in result.stderr, (args, result.output)
        assert "Traceback" not in result.output and result.stderr.count("\n") == 1


def test_isotonic_calibration_lowers_the_error_of_overconfident_scores_and_refuses_bad_files(tmp_path):
    from classifier.models.base import ModelLoadError
    from classifier.models.calibration import (
        CalibrationError,
        expected_calibration_error,
        fit_calibration,
        load_calibration,
    )
    from classifier.models.tfidf import TfidfBaseline

    rng = np.random.default_rng(0)
    raw = rng.uniform(size=(4000, 2))
    y = (rng.uniform(size=raw.shape) < raw ** 3).astype(np.float32)  # a score of 0.8 holds about half the time
    calibration = fit_calibration(y[:2000], raw[:2000], ["a", "b"])
    after = calibration.apply(raw[2000:])
    for j in range(2):
        before_error = expected_calibration_error(y[2000:, j], raw[2000:, j])
        assert before_error > 0.15 and expected_calibration_error(y[2000:, j], after[:, j]) < 0.04
    assert calibration.apply_scores({"a": 0.8, "z": 0.3})["z"] == 0.3  # unknown labels kept

    calibration.save(tmp_path)
    again = load_calibration(tmp_path, ["a", "b"])
    np.testing.assert_allclose(again.apply(raw[:50]), calibration.apply(raw[:50]), atol=1e-5)
    with pytest.raises(CalibrationError, match="other labels"):
        load_calibration(tmp_path, ["a", "c"])
    text = (tmp_path / "calibration.json").read_text()
    (tmp_path / "calibration.json").write_text(text.replace('"scores": [', '"scores": [0.9, ', 1))
    with pytest.raises(CalibrationError, match="not increasing"):
        load_calibration(tmp_path, ["a", "b"])

    model = TfidfBaseline.fit(["we share data", "we collect data", "cookies", "retention"] * 3,
                              np.eye(4, len(LABEL_IDS))[[0, 1, 2, 3] * 3], LABEL_IDS)
    directory = model.save_pretrained(tmp_path / "tfidf")
    (directory / "calibration.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="cannot read the calibration"):
        TfidfBaseline.from_pretrained(directory)


def test_calibrate_cli_fits_on_out_of_fold_rows_saves_it_with_the_model_and_the_report_uses_it(toy_jsonl, tmp_path):
    import json

    from typer.testing import CliRunner

    from classifier.cli.app import app
    from classifier.models.tfidf import TfidfBaseline
    from classifier.report.policy import build_report

    runner = CliRunner()
    cv = runner.invoke(app, ["crossval", "--jsonl", str(toy_jsonl), "--model-type", "tfidf", "--k", "4", "-o",
                             str(tmp_path / "cv")])
    assert cv.exit_code == 0, cv.output
    trained = runner.invoke(app, ["train", "--jsonl", str(toy_jsonl), "--model-type", "tfidf", "-o",
                                  str(tmp_path / "run")])
    assert trained.exit_code == 0, trained.output
    model_dir = tmp_path / "run" / "model"
    result = runner.invoke(app, ["calibrate", "--model", str(model_dir), "--cv", str(tmp_path / "cv"), "--entry",
                                 "tfidf", "-o", str(tmp_path / "figures")])
    assert result.exit_code == 0, result.output
    study = json.loads((tmp_path / "figures" / "calibration.json").read_text())
    assert set(study["states"]["overall"]) == {"covered", "unsure", "not found"}
    assert sum(s["n"] for s in study["states"]["overall"].values()) == 8 * len(LABEL_IDS)  # policies x categories
    assert (tmp_path / "figures" / "reliability.png").stat().st_size > 1000
    model = TfidfBaseline.from_pretrained(model_dir)
    assert model.calibration is not None and model.calibration.source["entry"] == "tfidf"
    report = build_report(model.classify_document(POLICY), model)
    assert report.model["calibrated"]

    wrong = runner.invoke(app, ["calibrate", "--model", str(model_dir), "--cv", str(tmp_path / "cv"), "--entry",
                                "transformer"])
    assert wrong.exit_code == 2 and "transformer" in wrong.stderr and "Traceback" not in wrong.output
