"""The cascade: which paragraphs go to the full model, and what the others keep."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.models.base import ParagraphModel
from classifier.models.cascade import CascadeModel, cascade_predictions, mapped


class TableModel(ParagraphModel):
    """Scores looked up by text; counts the texts it was asked about."""

    def __init__(self, table: dict[str, list[float]], thresholds: list[float]) -> None:
        self.labels = ["first_party_collection", "third_party_sharing"]
        self.thresholds = thresholds
        self.table, self.seen = table, []

    def predict_proba(self, texts, *, batch_size=16):
        texts = list(texts)
        self.seen += texts
        return np.array([self.table[t] for t in texts], dtype=np.float32).reshape(len(texts), 2)


FAST = {"sure": [0.9, 0.05], "near": [0.62, 0.1], "low": [0.1, 0.3]}
FULL = {"sure": [0.2, 0.2], "near": [0.8, 0.7], "low": [0.4, 0.9]}


def test_only_rows_near_a_fast_threshold_go_to_the_full_model_and_the_rest_keep_the_fast_decisions():
    fast, full = TableModel(FAST, [0.6, 0.5]), TableModel(FULL, [0.3, 0.45])
    cascade = CascadeModel(fast, full, margin=0.05)
    scores = cascade.predict_proba(["sure", "near", "low"])
    assert full.seen == ["near"] and cascade.last_escalated == pytest.approx(1 / 3)
    np.testing.assert_allclose(scores[1], FULL["near"])  # escalated: the full model's scores
    # kept rows: the fast model's labels under the full model's thresholds
    labels = [p.labels for p in cascade.predict(["sure", "low"])]
    assert labels == [["first_party_collection"], []]
    assert cascade.predict(["sure"], threshold=None)[0].labels == ["first_party_collection"]


def test_the_threshold_map_keeps_order_and_sends_each_fast_threshold_onto_the_full_one():
    p = np.linspace(0, 1, 101)[:, None].repeat(2, axis=1)
    out = mapped(p, np.array([0.6, 0.2]), np.array([0.3, 0.45]))
    assert (np.diff(out, axis=0) >= 0).all() and out[0].tolist() == [0, 0] and np.allclose(out[-1], [1, 1])
    np.testing.assert_allclose(mapped(np.array([[0.6, 0.2]]), np.array([0.6, 0.2]), np.array([0.3, 0.45])),
                               [[0.3, 0.45]])
    assert ((out >= [0.3, 0.45]) == (p >= [0.6, 0.2])).all()


def test_a_rows_result_does_not_depend_on_its_batch_and_matches_the_offline_rule():
    fast, full = TableModel(FAST, [0.6, 0.5]), TableModel(FULL, [0.3, 0.45])
    cascade = CascadeModel(fast, full, margin=0.25)
    together = cascade.predict_proba(["sure", "near", "low"])
    alone = np.vstack([cascade.predict_proba([t]) for t in ("sure", "near", "low")])
    np.testing.assert_array_equal(together, alone)
    offline, up = cascade_predictions(np.array([FAST[t] for t in ("sure", "near", "low")]),
                                      np.array([FULL[t] for t in ("sure", "near", "low")]), np.array([0.6, 0.5]),
                                      np.array([0.3, 0.45]), 0.25)
    assert up.tolist() == [False, True, True]
    np.testing.assert_allclose(together, offline, atol=1e-6)


def test_a_cascade_refuses_models_with_other_labels_and_a_margin_outside_0_1():
    fast = TableModel(FAST, [0.5, 0.5])
    other = TableModel(FULL, [0.5, 0.5])
    other.labels = ["other", "children"]
    with pytest.raises(ValueError, match="same labels"):
        CascadeModel(fast, other, 0.1)
    with pytest.raises(ValueError, match="margin"):
        CascadeModel(fast, TableModel(FULL, [0.5, 0.5]), 1.5)


def _model_with_student(tiny_model_dir, tmp_path, margin: float):
    """A copy of the tiny model with a random student attached (reading the model's tokenizer and embeddings)."""
    import shutil

    from tests.test_student import _random_student

    home = tmp_path / "model"
    shutil.copytree(tiny_model_dir, home)
    student = _random_student(home)
    student.shared, student.margin = True, margin
    student.save_pretrained(home / "student")
    return home


def test_a_model_with_a_student_loads_as_a_cascade_on_cpu_unless_the_full_model_is_asked(tiny_model_dir, tmp_path):
    from classifier.models.base import load_paragraph_model
    from classifier.models.cascade import DeferredModel
    from classifier.models.transformer import PolicyClassifier

    home = _model_with_student(tiny_model_dir, tmp_path, margin=1.0)
    cascade = load_paragraph_model(home, device="cpu", precision="fp32")
    assert isinstance(cascade, CascadeModel) and isinstance(cascade.full, DeferredModel)
    assert not cascade.full.loaded and cascade.margin == 1.0
    full = load_paragraph_model(home, device="cpu", precision="fp32", full=True)
    assert isinstance(full, PolicyClassifier)
    texts = ["We collect your email address.", "We share data with partners."]
    # margin 1 escalates everything: the cascade's scores are the full model's
    np.testing.assert_allclose(cascade.predict_proba(texts), full.predict_proba(texts), atol=1e-6)
    assert cascade.full.loaded and cascade.escalated_rows == 2 and cascade.seen_rows == 2
    assert cascade.thresholds == full.thresholds and cascade.labels == full.labels
    from classifier.models.student import StudentModel

    assert isinstance(load_paragraph_model(home / "student"), StudentModel)  # a student folder alone


def test_a_cascade_that_escalates_nothing_never_imports_torch(tiny_model_dir, tmp_path):
    import json
    import subprocess
    import sys

    home = _model_with_student(tiny_model_dir, tmp_path, margin=0.0)
    script = (
        "import sys, json\n"
        "from classifier.models.base import load_paragraph_model\n"
        f"model = load_paragraph_model({str(home)!r})\n"
        "labels = [p.labels for p in model.predict(['We collect your email address.'])]\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'kind': type(model).__name__, 'labels': labels}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["kind"] == "CascadeModel" and not result["torch"] and len(result["labels"]) == 1


def test_a_student_without_a_margin_is_refused_as_a_cascade(tiny_model_dir, tmp_path):
    import json

    from classifier.models.base import ModelLoadError, load_paragraph_model

    home = _model_with_student(tiny_model_dir, tmp_path, margin=0.1)
    config = json.loads((home / "student" / "config.json").read_text())
    (home / "student" / "config.json").write_text(json.dumps(config | {"cascade_margin": None}))
    with pytest.raises(ModelLoadError, match="no cascade margin"):
        load_paragraph_model(home, device="cpu")
    (home / "student" / "config.json").write_text(json.dumps(config | {"cascade_margin": 3}))
    with pytest.raises(ModelLoadError, match="cascade_margin"):
        load_paragraph_model(home, device="cpu")


def test_a_loaded_cascade_in_fp32_gives_each_paragraph_the_same_result_in_any_batch(tiny_model_dir, tmp_path):
    from classifier.models.base import load_paragraph_model
    from tests.conftest import TOY_ROWS

    home = _model_with_student(tiny_model_dir, tmp_path, margin=0.3)
    cascade = load_paragraph_model(home, device="cpu", precision="fp32")
    texts = [text for text, _ in TOY_ROWS]
    together = cascade.predict_proba(texts, batch_size=4)
    assert 0 < cascade.last_escalated < 1  # some rows each way, so both paths are compared
    alone = np.vstack([cascade.predict_proba([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    reordered = cascade.predict_proba(texts[::-1], batch_size=3)[::-1]
    np.testing.assert_allclose(together, reordered, atol=1e-6)


def test_classify_runs_the_cascade_by_default_and_the_full_model_on_request(tiny_model_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from classifier.cli.app import app

    home = _model_with_student(tiny_model_dir, tmp_path, margin=0.0)  # the student decides every paragraph
    policy = tmp_path / "policy.txt"
    policy.write_text("We collect your email address and name when you register.\n\n"
                      "We share your device data with advertising partners for advertising.\n")
    runs = {}
    for name, extra in (("cascade", []), ("full", ["--full-model"])):
        out = tmp_path / f"{name}.jsonl"
        result = CliRunner().invoke(app, ["classify", str(policy), "--model", str(home), "-o", str(out), *extra])
        assert result.exit_code == 0, result.output
        runs[name] = [json.loads(line)["scores"] for line in out.read_text().splitlines()]
    assert len(runs["cascade"]) == len(runs["full"]) == 2
    assert runs["cascade"] != runs["full"]  # a random student and a random encoder disagree
