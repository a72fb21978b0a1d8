import json
from pathlib import Path

import numpy as np
import pytest

from classifier.data.corpus import multi_hot
from classifier.evaluation.metrics import report_at_thresholds
from classifier.models.transformer import PolicyClassifier
from classifier.training.config import TrainConfig
from classifier.training.data import split_for_training
from classifier.training.loop import train


def _config(tiny_encoder: Path, toy_jsonl: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(encoder=str(tiny_encoder), jsonl=[str(toy_jsonl)], epochs=2, batch_size=8, learning_rate=1e-3,
                  max_length=32, validation_fraction=0.25, output_dir=str(out), device="cpu", precision="fp32",
                  half=False)
    values.update(overrides)
    return TrainConfig(**values)


def _process_state() -> dict:
    """What library code must leave as it found it in the caller's process."""
    import logging
    import os
    import sys

    import sklearn  # noqa: F401 (scikit-learn sets KMP_* variables when first imported: not ours to restore)
    import torch
    from transformers.utils import logging as hf_logging

    return {"environ": dict(os.environ), "torch_threads": torch.get_num_threads(),
            "logging_disabled": logging.root.manager.disable, "root_filters": list(logging.getLogger().filters),
            "transformers_verbosity": hf_logging.get_verbosity(), "pyplot": "matplotlib.pyplot" in sys.modules}


def test_training_end_to_end_saves_a_self_describing_model(tiny_encoder, toy_jsonl, tmp_path):
    config = _config(tiny_encoder, toy_jsonl, tmp_path / "run", threads=1)
    before = _process_state()
    clf, metrics = train(config, log=lambda line: None)
    assert _process_state() == before  # threads=1 for training only; no environment, logging or plotting state
    model_dir = tmp_path / "run" / "model"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "train_config.json", "metrics.json",
                 "README.md"):
        assert (model_dir / name).is_file(), name
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["id2label"]["0"] == "first_party_collection"
    assert len(saved["policy_classifier"]["thresholds"]) == 11
    assert json.loads((model_dir / "train_config.json").read_text())["epochs"] == 2
    best = max(metrics["history"], key=lambda entry: entry["val_macro_f1"])
    assert metrics["validation"]["epoch"] == best["epoch"]
    assert metrics["validation"]["macro_f1"] == pytest.approx(best["val_macro_f1"])
    # The returned model carries the best epoch's weights and thresholds: rescoring its validation data agrees.
    _, validation = split_for_training(config)
    rescored = report_at_thresholds(multi_hot(validation), clf.predict_proba(validation["text"]), clf.labels,
                                    clf.thresholds)
    assert rescored["macro_f1"] == pytest.approx(metrics["validation"]["macro_f1"], abs=1e-6)
    assert metrics["precision"] == config.precision == "fp32" and metrics["device"] == "cpu"
    assert (tmp_path / "run" / "log.jsonl").read_text().count("\n") == len(metrics["history"])

    texts = ["We share data with partners.", "Contact us."]
    reloaded = PolicyClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")
    np.testing.assert_allclose(reloaded.predict_proba(texts), clf.predict_proba(texts), atol=1e-5)
    assert reloaded.thresholds == pytest.approx(clf.thresholds)


def test_same_config_and_seed_give_the_same_model(tiny_encoder, toy_jsonl, tmp_path):
    first, _ = train(_config(tiny_encoder, toy_jsonl, tmp_path / "a", epochs=1), save=False, log=lambda line: None)
    second, _ = train(_config(tiny_encoder, toy_jsonl, tmp_path / "b", epochs=1), save=False, log=lambda line: None)
    third, _ = train(_config(tiny_encoder, toy_jsonl, tmp_path / "c", epochs=1, seed=99), save=False,
                     log=lambda line: None)
    texts = ["We keep data for two years.", "We encrypt your data."]
    np.testing.assert_array_equal(first.predict_proba(texts), second.predict_proba(texts))
    assert not np.array_equal(first.predict_proba(texts), third.predict_proba(texts))


def test_labels_from_data(tiny_encoder, tmp_path):
    path = tmp_path / "glue.jsonl"
    rows = [{"text": f"row {i} we collect data", "labels": ["alpha" if i % 2 else "beta"], "policy": f"p{i % 6}"}
            for i in range(24)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    clf, _ = train(_config(tiny_encoder, path, tmp_path / "run", jsonl=[str(path)], labels_from_data=True, epochs=1),
                   save=False, log=lambda line: None)
    assert clf.labels == ["alpha", "beta"]


def test_config_is_checked_once(tiny_encoder, toy_jsonl, tmp_path):
    with pytest.raises(ValueError, match="learning_rate"):
        train(_config(tiny_encoder, toy_jsonl, tmp_path, learning_rate=0), save=False)
    with pytest.raises(ValueError, match="no training data"):
        TrainConfig().validate()


def test_training_without_validation_uses_given_thresholds(tiny_encoder, toy_jsonl, tmp_path):
    config = _config(tiny_encoder, toy_jsonl, tmp_path / "all", validation_fraction=0.0, epochs=1,
                     thresholds={"other": 0.3, "children": 0.7})
    clf, metrics = train(config, log=lambda line: None)
    assert clf.thresholds[clf.labels.index("other")] == 0.3
    assert clf.thresholds[clf.labels.index("children")] == 0.7
    assert clf.thresholds[0] == 0.5
    assert metrics["n_validation"] == 0 and len(metrics["history"]) == 1
    assert (tmp_path / "all" / "model" / "model.safetensors").is_file()


class Interrupted(Exception):
    pass


def _interrupt_after_epoch_1(config: TrainConfig, monkeypatch) -> None:
    """Run ``config`` until its first epoch checkpoint is written, then stop it as a crash would."""
    import classifier.training.checkpoint as checkpoint

    real_save = checkpoint.save_checkpoint

    def save_then_die(directory, **kwargs):
        real_save(directory, **kwargs)
        raise Interrupted

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "save_checkpoint", save_then_die)
        with pytest.raises(Interrupted):
            train(config, log=lambda line: None)


def test_interrupted_training_resumes_to_the_same_model(tiny_encoder, toy_jsonl, tmp_path, monkeypatch):
    texts = ["We keep data for two years.", "We encrypt your data."]
    straight, _ = train(_config(tiny_encoder, toy_jsonl, tmp_path / "straight", epochs=3, patience=5),
                        log=lambda line: None)
    config = _config(tiny_encoder, toy_jsonl, tmp_path / "interrupted", epochs=3, patience=5)
    _interrupt_after_epoch_1(config, monkeypatch)
    lines = []
    resumed, metrics = train(config, resume=True, log=lines.append)
    assert any("resuming after epoch 1" in line for line in lines)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]
    np.testing.assert_allclose(resumed.predict_proba(texts), straight.predict_proba(texts), atol=1e-6)
    assert not (tmp_path / "interrupted" / "checkpoint").exists()


def test_resume_refuses_a_changed_config(tiny_encoder, toy_jsonl, tmp_path, monkeypatch):
    _interrupt_after_epoch_1(_config(tiny_encoder, toy_jsonl, tmp_path / "run", epochs=3, patience=5), monkeypatch)
    changed = _config(tiny_encoder, toy_jsonl, tmp_path / "run", epochs=3, patience=5, learning_rate=5e-4,
                      attention_dropout=0.0)
    with pytest.raises(ValueError, match=r"another config \(attention_dropout None -> 0.0, learning_rate 0.001"):
        train(changed, resume=True, log=lambda line: None)
    # where and how fast it runs may change; what it learns may not
    _, metrics = train(_config(tiny_encoder, toy_jsonl, tmp_path / "run", epochs=3, patience=5, device="auto"),
                       resume=True, log=lambda line: None)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]


class _ConstantTeacher:
    """A stand-in teacher that gives every paragraph the same probability for every label."""

    def __init__(self, labels, value: float) -> None:
        self.labels, self.value = list(labels), value

    def predict_proba(self, texts, **_):
        return np.full((len(list(texts)), len(self.labels)), self.value, dtype=np.float32)


def test_distillation_pulls_the_student_towards_its_teacher(tiny_encoder, toy_jsonl, tmp_path):
    from classifier.data.corpus import load_jsonl
    from classifier.labels import LABEL_IDS

    texts = load_jsonl(toy_jsonl)["text"]
    means = {}
    for weight in (0.0, 1.0):
        config = _config(tiny_encoder, toy_jsonl, tmp_path / f"w{weight}", epochs=5, learning_rate=5e-3,
                         validation_fraction=0.0, distill_weight=weight)
        clf, metrics = train(config, save=False, log=lambda line: None,
                             teacher=_ConstantTeacher(LABEL_IDS, 0.0))
        assert metrics["distill_weight"] == weight
        means[weight] = float(clf.predict_proba(texts).mean())
    # a teacher that says "no" to everything, followed fully, leaves the student far less sure than the labels do
    assert means[1.0] < means[0.0] - 0.05, means


def test_distillation_refuses_a_teacher_with_other_labels(tiny_encoder, toy_jsonl, tmp_path):
    config = _config(tiny_encoder, toy_jsonl, tmp_path / "run")
    with pytest.raises(ValueError, match="the teacher predicts"):
        train(config, save=False, log=lambda line: None, teacher=_ConstantTeacher(["a", "b"], 0.5))


def test_distillation_from_a_saved_teacher_directory(tiny_encoder, tiny_model_dir, toy_jsonl, tmp_path):
    config = _config(tiny_encoder, toy_jsonl, tmp_path / "run", teacher=str(tiny_model_dir), distill_weight=0.3)
    _, metrics = train(config, log=lambda line: None)
    assert metrics["distill_weight"] == 0.3
    saved = json.loads((tmp_path / "run" / "model" / "train_config.json").read_text())
    assert saved["teacher"] == str(tiny_model_dir) and saved["distill_weight"] == 0.3


def test_crossval_records_each_folds_precision_and_refuses_a_saved_teacher(tiny_encoder, tiny_model_dir,
                                                                          toy_jsonl, tmp_path):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    student = tmp_path / "student.json"
    student.write_text(json.dumps({"encoder": str(tiny_encoder), "epochs": 1, "batch_size": 8, "max_length": 32,
                                   "device": "cpu", "precision": "fp32"}))
    out = tmp_path / "cv"
    common = ["crossval", "--jsonl", str(toy_jsonl), "--model-type", "transformer", "--model-type", "tfidf",
              "--ensemble", "--k", "4", "-o", str(out)]
    result = CliRunner().invoke(app, [*common, "--config", str(student)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "cv.json").read_text())
    models = saved["models"]
    assert list(models) == ["transformer", "tfidf", "transformer+tfidf"]
    # "auto" resolves per machine, so the run records what it trained with
    assert saved["environment"]["precision"] == "fp32" and saved["environment"]["device"] == "cpu"
    assert saved["environment"]["versions"]["torch"]
    assert all(len(entry["micro_f1"]["folds"]) == 4 for entry in models.values())
    # each fold records the precision it was scored in; TF-IDF and the average have none
    assert [fold.get("precision") for fold in models["transformer"]["fold_details"]] == ["fp32"] * 4
    assert all("precision" not in fold for name in ("tfidf", "transformer+tfidf")
               for fold in models[name]["fold_details"])

    # a resumed run that joins a fold scored in another precision (an AMX machine's bf16) says so
    from safetensors import safe_open
    from safetensors.numpy import save_file

    fold2 = out / "folds" / "fold2.safetensors"
    with safe_open(str(fold2), framework="np") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open has no __iter__)
        metadata = handle.metadata()
    summaries = json.loads(metadata["summaries"])
    summaries["transformer"]["precision"] = "bf16-autocast"
    save_file(tensors, str(fold2), metadata=metadata | {"summaries": json.dumps(summaries)})
    resumed = CliRunner().invoke(app, [*common, "--config", str(student), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr.count("taken from") == 4
    assert "warning: transformer's folds were scored in different precisions (bf16-autocast, fp32)" in resumed.stderr
    assert "warning: tfidf" not in resumed.stderr

    leaky = tmp_path / "leaky.json"
    leaky.write_text(json.dumps({"encoder": str(tiny_encoder), "teacher": str(tiny_model_dir)}))
    refused = CliRunner().invoke(app, [*common, "--config", str(leaky)])
    assert refused.exit_code == 2 and "seen every fold's test policies" in refused.output


@pytest.mark.parametrize("fast", [True, False])
def test_training_environment_records_what_auto_precision_resolves_to(monkeypatch, fast):
    import classifier.hardware as hardware
    from classifier.training.config import training_environment

    monkeypatch.setattr(hardware, "bf16_is_fast", lambda device: fast)
    environment = training_environment(TrainConfig(device="cpu", precision="auto"))
    assert environment["precision"] == ("bf16-autocast" if fast else "fp32") and environment["device"] == "cpu"
    assert training_environment(TrainConfig(device="cpu", precision="fp32"))["precision"] == "fp32"
    assert set(training_environment(None)) == {"cpu", "versions"}  # TF-IDF alone: no device, no torch precision


def test_attention_dropout_reaches_the_encoder_and_is_checked(tiny_encoder, toy_jsonl, tmp_path):
    texts = ["We keep data for two years.", "We encrypt your data."]
    probs = {}
    for rate in (None, 0.0, 0.0, 0.5):
        config = _config(tiny_encoder, toy_jsonl, tmp_path / f"run-{rate}", epochs=1, attention_dropout=rate)
        clf, _ = train(config, save=False, log=lambda line: None)
        assert clf.model.config.attention_probs_dropout_prob == (0.1 if rate is None else rate)
        probs.setdefault(rate, []).append(clf.predict_proba(texts))
    # without attention dropout the run stays deterministic; the rate changes what is learnt
    np.testing.assert_array_equal(*probs[0.0])
    assert not np.array_equal(probs[0.0][0], probs[0.5][0])
    assert not np.array_equal(probs[None][0], probs[0.0][0])
    with pytest.raises(ValueError, match="attention_dropout"):
        _config(tiny_encoder, toy_jsonl, tmp_path, attention_dropout=1.0).validate()


def test_attention_dropout_on_an_encoder_without_it_is_one_clear_error(tiny_encoder, toy_jsonl, tmp_path):
    import shutil

    from transformers import GPT2Config, GPT2Model

    other = tmp_path / "gpt2"
    GPT2Model(GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=64)).save_pretrained(other)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_encoder / name, other / name)
    config = _config(other, toy_jsonl, tmp_path / "run", attention_dropout=0.0)
    with pytest.raises(ValueError, match="no attention dropout setting"):
        train(config, save=False, log=lambda line: None)




def test_release_builds_the_model_from_a_config_and_its_crossvalidation(tiny_encoder, toy_jsonl, tmp_path):
    """The release command end to end on the tiny model: crossval of a recipe, then release of the same recipe."""
    from safetensors.numpy import load_file
    from typer.testing import CliRunner

    from classifier.cli.app import app
    from classifier.data.corpus import label_names, load_jsonl
    from classifier.evaluation.folds import oof_thresholds

    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"encoder": str(tiny_encoder), "jsonl": [str(toy_jsonl)], "epochs": 1,
                                  "batch_size": 8, "max_length": 32, "device": "cpu", "precision": "fp32",
                                  "half": False}))
    cv, model = tmp_path / "cv", tmp_path / "release" / "model"
    crossval = CliRunner().invoke(app, ["crossval", "--config", str(recipe), "--model-type", "transformer",
                                        "--model-type", "tfidf", "--ensemble", "--k", "4", "-o", str(cv)])
    assert crossval.exit_code == 0, crossval.output
    args = ["release", "--config", str(recipe), "--cv", str(cv), "--work-dir", str(tmp_path / "work")]
    built = CliRunner().invoke(app, [*args, "-o", str(model)])
    assert built.exit_code == 0, built.output
    assert "released" in built.stderr

    # the shipped thresholds are the pooled out-of-fold thresholds of the averaged entry
    data = load_jsonl(toy_jsonl)
    oof = load_file(str(cv / "oof.safetensors"))
    pooled, _ = oof_thresholds(multi_hot(data), oof["transformer+tfidf.probs"], oof["transformer+tfidf.fold"])
    released = PolicyClassifier.from_pretrained(model, device="cpu", precision="fp32")
    assert released.labels == label_names(data)
    assert released.thresholds == pytest.approx(pooled, abs=1e-6)
    assert released.tfidf is not None and released.tfidf_weight == 0.5
    metrics = json.loads((model / "metrics.json").read_text())
    cv_record = json.loads((cv / "cv.json").read_text())
    assert metrics["cross_validation_entry"] == "transformer+tfidf"
    assert (metrics["cross_validation"]["models"]["transformer+tfidf"]["micro_f1"]
            == cv_record["models"]["transformer+tfidf"]["micro_f1"])
    assert json.loads((model / "train_config.json").read_text())["validation_fraction"] == 0.0
    assert "## Cross-validated figures (4-fold by policy" in (model / "README.md").read_text()
    assert released.predict(["We share data with partners."])[0].scores

    # --resume reuses the finished training run of the same config: a release rebuilt around a new TF-IDF member
    rebuilt = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "rebuilt"), "--resume"])
    assert rebuilt.exit_code == 0 and "reusing the finished training run" in rebuilt.stderr
    again = PolicyClassifier.from_pretrained(tmp_path / "rebuilt", device="cpu", precision="fp32")
    assert again.tfidf_weight == 0.5 and (tmp_path / "rebuilt" / "model.safetensors").read_bytes() == (
        model / "model.safetensors").read_bytes()

    # a release of another recipe than the one cross-validated is refused, and the model stays as it was
    before = (model / "model.safetensors").read_bytes()
    other = CliRunner().invoke(app, [*args, "-o", str(model), "--set", "learning_rate=0.5"])
    assert other.exit_code == 2 and "another recipe" in other.stderr and "learning_rate" in other.stderr
    assert (model / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in model.parent.iterdir()) == ["model"]  # no staging folder left beside it


def test_crossval_combine_joins_members_of_separate_runs_and_scores_their_average(tiny_encoder, toy_jsonl, tmp_path):
    """A member cross-validated again (say TF-IDF with new settings) joins the other's saved run on the same folds."""
    import numpy as np
    from safetensors.numpy import load_file
    from typer.testing import CliRunner

    from classifier.cli.app import app

    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"encoder": str(tiny_encoder), "jsonl": [str(toy_jsonl)], "epochs": 1,
                                  "batch_size": 8, "max_length": 32, "device": "cpu", "precision": "fp32"}))
    runs = {}
    for kind in ("transformer", "tfidf"):
        runs[kind] = tmp_path / kind
        result = CliRunner().invoke(app, ["crossval", "--config", str(recipe), "--model-type", kind, "--k", "4",
                                          "-o", str(runs[kind])])
        assert result.exit_code == 0, result.output
    out = tmp_path / "joined"
    joined = CliRunner().invoke(app, ["crossval", "--config", str(recipe), "--combine",
                                      f"transformer={runs['transformer']}", "--combine", f"tfidf={runs['tfidf']}",
                                      "--ensemble", "-o", str(out)])
    assert joined.exit_code == 0, joined.output
    record = json.loads((out / "cv.json").read_text())
    assert list(record["models"]) == ["transformer", "tfidf", "transformer+tfidf"]
    assert len(record["models"]["transformer+tfidf"]["micro_f1"]["folds"]) == 4
    oof = load_file(str(out / "oof.safetensors"))
    mine = load_file(str(runs["tfidf"] / "oof.safetensors"))
    assert np.array_equal(oof["tfidf.probs"], mine["tfidf.probs"])
    assert np.allclose(oof["transformer+tfidf.probs"], (oof["transformer.probs"] + oof["tfidf.probs"]) / 2)
    # another recipe, or other folds, are refused with one line
    other = CliRunner().invoke(app, ["crossval", "--config", str(recipe), "--set", "epochs=2", "--combine",
                                     f"tfidf={runs['tfidf']}", "-o", str(tmp_path / "x")])
    assert other.exit_code == 2 and "cross-validated another recipe (epochs differ)" in other.output
    refolded = tmp_path / "tfidf-refolded"
    assert CliRunner().invoke(app, ["crossval", "--config", str(recipe), "--model-type", "tfidf", "--k", "4",
                                    "--fold-seed", "7", "-o", str(refolded)]).exit_code == 0
    clash = CliRunner().invoke(app, ["crossval", "--config", str(recipe), "--combine",
                                     f"transformer={runs['transformer']}", "--combine", f"tfidf={refolded}",
                                     "-o", str(tmp_path / "y")])
    assert clash.exit_code == 2 and "folds differ" in clash.output


def test_resume_takes_a_field_added_since_the_run_started_at_its_default(tmp_path):
    from dataclasses import replace

    from classifier.training.config import TrainConfig, check_resumable, learning_settings

    config = TrainConfig(opp115=["x"])
    saved = {k: v for k, v in learning_settings(config).items() if k != "attributes"}  # an older run's file
    (tmp_path / "train_config.json").write_text(json.dumps(saved))
    check_resumable(tmp_path / "train_config.json", config)
    with pytest.raises(ValueError, match=r"attributes None -> True"):
        check_resumable(tmp_path / "train_config.json", replace(config, attributes=True))


def test_tfidf_keeps_the_most_frequent_terms_of_each_block_up_to_its_cap():
    import numpy as np

    from classifier.models.tfidf import TfidfBaseline

    texts = ["we collect your email", "we share your email with partners", "we keep data for two years",
             "you can delete your data", "we collect cookies"] * 2
    y = np.array([[1, 0], [0, 1], [0, 0], [0, 0], [1, 0]] * 2)
    capped = TfidfBaseline.fit(texts, y, ["first_party_collection", "third_party_sharing"], max_features=5)
    assert len(capped.vocabulary) == 5 and len(capped.char_vocabulary) == 5
    assert {"we", "your"} <= set(capped.vocabulary)  # the commonest words stay (max_df drops none here)
    full = TfidfBaseline.fit(texts, y, ["first_party_collection", "third_party_sharing"], max_features=None)
    assert len(full.vocabulary) > 5 and capped.predict_proba(texts).shape == (10, 2)
