import json
from pathlib import Path

import numpy as np
import pytest

from classifier.models.transformer import PolicyClassifier
from classifier.training.loop import TrainConfig, train


def _config(tiny_encoder: Path, toy_jsonl: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(encoder=str(tiny_encoder), jsonl=[str(toy_jsonl)], epochs=2, batch_size=8, learning_rate=1e-3,
                  max_length=32, validation_fraction=0.25, output_dir=str(out), device="cpu", precision="fp32",
                  half=False)
    values.update(overrides)
    return TrainConfig(**values)


def test_training_end_to_end_saves_a_self_describing_model(tiny_encoder, toy_jsonl, tmp_path):
    config = _config(tiny_encoder, toy_jsonl, tmp_path / "run")
    clf, metrics = train(config, log=lambda line: None)
    model_dir = tmp_path / "run" / "model"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "train_config.json", "metrics.json",
                 "README.md"):
        assert (model_dir / name).is_file(), name
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["id2label"]["0"] == "first_party_collection"
    assert len(saved["policy_classifier"]["thresholds"]) == 11
    assert json.loads((model_dir / "train_config.json").read_text())["epochs"] == 2
    assert len(metrics["history"]) >= 1 and 0.0 <= metrics["validation"]["macro_f1"] <= 1.0
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


def test_frozen_probe_script_embeds_in_input_order_and_reports_each_model(tiny_encoder, toy_jsonl, tmp_path,
                                                                           monkeypatch, capsys):
    import runpy

    script = Path(__file__).parents[1] / "training" / "frozen_probe.py"
    probe = runpy.run_path(str(script))  # functions only: main() runs under __main__
    texts = ["We collect your e-mail address.", "Cookies.", "We keep logs for thirty days after you leave."]
    together = probe["embed"](tiny_encoder, texts, max_length=32, batch_size=2)
    alone = np.stack([probe["embed"](tiny_encoder, [t], max_length=32)[0] for t in texts])
    assert together.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)  # length sorting must not reorder the rows

    config = tmp_path / "config.json"

    def run(max_length: int) -> tuple[str, str]:
        config.write_text(json.dumps({"jsonl": [str(toy_jsonl)], "max_length": max_length}))
        monkeypatch.setattr("sys.argv", ["frozen_probe.py", "--encoder", str(tiny_encoder), "--config", str(config),
                                         "--k", "4", "--out", str(tmp_path / "probe")])
        capsys.readouterr()
        probe["main"]()
        captured = capsys.readouterr()
        return captured.out, captured.err

    out, err = run(32)
    assert "embedding 40 paragraphs" in err
    name = tiny_encoder.name
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| tfidf", f"| probe-{name}", f"| tfidf+probe-{name}"]
    assert (tmp_path / "probe" / "oof.safetensors").is_file()
    again_out, again_err = run(32)  # the same texts: embeddings come from the cache, figures are identical
    assert "embedding" not in again_err and again_out == out
    assert "embedding 40 paragraphs" in run(24)[1]  # another max_length: embedded afresh, not the stale cache

def test_threshold_rules_tune_for_pooled_micro_f1_and_fill_empty_rows():
    import runpy

    rules = runpy.run_path(str(Path(__file__).parents[1] / "training" / "threshold_rules.py"))
    # label 0 is frequent and cleanly separated above 0.6; label 1 is rare and its positives sit at 0.3 among
    # negatives at 0.2 and 0.4. Micro-F1 pooled over both is what the tuner maximises.
    truth = np.array([[1, 0]] * 6 + [[0, 1]] * 2 + [[0, 0]] * 4)
    probs = np.array([[0.9, 0.1]] * 6 + [[0.1, 0.3]] * 2 + [[0.1, 0.2]] * 2 + [[0.1, 0.4]] * 2)
    cuts = rules["tune_for_micro"](truth, probs, np.array([0.5, 0.5]), [0, 1])
    predicted = probs >= cuts
    assert rules["pooled_micro_f1"](truth > 0, predicted) == pytest.approx(
        rules["pooled_micro_f1"](truth > 0, probs >= np.array([0.5, 0.25])))  # the best micro-F1 on offer
    # ties go to the cut nearest 0.5; a cut at or below 0.2 would add two false positives
    assert cuts[0] == pytest.approx(0.5) and 0.2 < cuts[1] <= 0.3
    # a row above no threshold takes the label with the highest probability relative to its threshold
    filled = rules["at_least_one"](np.array([[0.4, 0.1], [0.1, 0.2], [0.9, 0.9]]), np.array([0.5, 0.25]), [0, 1])
    assert filled.tolist() == [[True, False], [False, True], [True, True]]


def test_neighbour_stack_reads_neighbours_within_a_policy_only():
    import runpy

    stack = runpy.run_path(str(Path(__file__).parents[1] / "training" / "neighbour_stack.py"))
    policies = np.array(["a", "a", "a", "b", "b"])
    probs = np.array([[0.5], [0.9], [0.1], [0.8], [0.2]])
    odds = np.log(probs[:, 0] / (1 - probs[:, 0]))
    own = stack["context_features"](probs, policies, 0, "none")
    assert own.shape == (5, 1) and np.allclose(own[:, 0], odds)
    near = stack["context_features"](probs, policies, 0, "neighbours")
    # previous / next log-odds, zero across a policy boundary, where the first / last flags are set
    assert np.allclose(near[:, 1], [0, odds[0], odds[1], 0, odds[3]])
    assert np.allclose(near[:, 2], [odds[1], odds[2], 0, odds[4], 0])
    assert near[:, 3].tolist() == [1, 0, 0, 1, 0] and near[:, 4].tolist() == [0, 0, 1, 0, 1]
    whole = stack["context_features"](probs, policies, 0, "policy")
    assert np.allclose(whole[:, 5], [0.5, 0.5, 0.5, 0.5, 0.5]) and np.allclose(whole[:, 6], [0, 0.5, 1, 0, 1])
    # policies in reading order, not sorted: the position still counts from each policy's own first row
    reordered = stack["context_features"](probs, np.array(["z", "z", "z", "b", "b"]), 0, "policy")
    assert np.allclose(reordered[:, 6], [0, 0.5, 1, 0, 1])
    # a label no training row carries keeps its prior instead of failing the fit
    truth = np.array([[1, 0], [0, 0], [1, 0], [0, 0], [1, 0]])
    train = np.array([True, True, True, False, False])
    out = stack["fit_predict"]([near, near], truth, train, ~train, 1.0)
    assert out.shape == (2, 2) and (out[:, 1] == 0).all() and ((out[:, 0] > 0) & (out[:, 0] < 1)).all()


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


def test_soft_labels_are_the_training_targets(tiny_encoder, toy_jsonl, tmp_path):
    from classifier.data.corpus import load_jsonl

    data = load_jsonl(toy_jsonl)
    zeros = data.add_column("targets", [[0.0] * 11] * len(data))
    means = {}
    for name, rows, soft in (("labels", data, False), ("ignored", zeros, False), ("soft", zeros, True)):
        config = _config(tiny_encoder, toy_jsonl, tmp_path / name, epochs=5, learning_rate=5e-3,
                         validation_fraction=0.0, soft_labels=soft)
        clf, _ = train(config, train_data=rows, save=False, log=lambda line: None)
        means[name] = float(clf.predict_proba(data["text"]).mean())
    # all-zero soft targets, where the rows' labels say yes, leave the model far less sure; without soft_labels
    # a targets column is ignored (same seed, same model)
    assert means["soft"] < means["labels"] - 0.05, means
    assert means["ignored"] == means["labels"]
    with pytest.raises(ValueError, match="no targets column"):
        train(_config(tiny_encoder, toy_jsonl, tmp_path / "x", soft_labels=True), train_data=data, save=False,
              log=lambda line: None)


def test_soft_labels_config_builds_vote_shares_for_opp115_only(opp115_dir, toy_jsonl, tmp_path):
    from classifier.data.corpus import load_opp115, multi_hot, vote_shares
    from classifier.training.loop import build_dataset

    with pytest.raises(ValueError, match="soft_labels needs OPP-115"):
        build_dataset(TrainConfig(jsonl=[str(toy_jsonl)], soft_labels=True))
    data = build_dataset(TrainConfig(opp115=[str(opp115_dir)], jsonl=[str(toy_jsonl)], soft_labels=True))
    targets = np.asarray(data["targets"])
    n_opp = len(load_opp115(opp115_dir))
    np.testing.assert_allclose(targets[:n_opp], vote_shares(load_opp115(opp115_dir, with_votes=True)), rtol=1e-6)
    np.testing.assert_array_equal(targets[n_opp:], multi_hot(data)[n_opp:])
    assert sorted(data.column_names) == ["labels", "policy", "targets", "text"]
    plain = build_dataset(TrainConfig(opp115=[str(opp115_dir)], jsonl=[str(toy_jsonl)]))
    assert "targets" not in plain.column_names and plain["labels"] == data["labels"]


def test_cross_validation_hands_soft_targets_to_the_trainers(toy_jsonl):
    from classifier.data.corpus import load_jsonl, multi_hot
    from classifier.evaluation.crossval import cross_validate, tfidf_trainer

    data = load_jsonl(toy_jsonl)
    data = data.add_column("targets", (multi_hot(data) * 0.5).tolist())
    fit, seen = tfidf_trainer(), []

    def recording(train_part, validation_part):
        seen.append((np.asarray(train_part["targets"]), multi_hot(train_part)))
        return fit(train_part, validation_part)

    cross_validate(data, {"tfidf": recording}, k=3, validation_fraction=0.2, log=lambda line: None)
    assert len(seen) == 3
    for targets, labels in seen:
        np.testing.assert_allclose(targets, labels * 0.5)


def test_cli_soft_labels_without_opp115_is_one_clear_error(tiny_encoder, toy_jsonl, tmp_path):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    result = CliRunner().invoke(app, ["train", "--jsonl", str(toy_jsonl), "--encoder", str(tiny_encoder),
                                      "-o", str(tmp_path / "run"), "--soft-labels"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "soft_labels needs OPP-115 data" in result.output
    assert not (tmp_path / "run" / "model").exists()
    baseline = CliRunner().invoke(app, ["train", "--opp115", "x", "--model-type", "tfidf", "--soft-labels", "-o",
                                        str(tmp_path / "tfidf")])
    assert baseline.exit_code != 0 and "transformer only" in baseline.output and "Traceback" not in baseline.output
    # --no-soft-labels switches off what a config file switched on
    config = tmp_path / "soft.json"
    config.write_text(json.dumps({"jsonl": [str(toy_jsonl)], "soft_labels": True, "validation_fraction": 0.25}))
    refused = CliRunner().invoke(app, ["train", "--config", str(config), "--model-type", "tfidf", "-o",
                                       str(tmp_path / "t1")])
    assert refused.exit_code != 0 and "transformer only" in refused.output
    switched_off = CliRunner().invoke(app, ["train", "--config", str(config), "--no-soft-labels", "--model-type",
                                            "tfidf", "-o", str(tmp_path / "t2")])
    assert switched_off.exit_code == 0, switched_off.output
    assert (tmp_path / "t2" / "model").is_dir()


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


def test_crossval_trains_a_teacher_per_fold_and_refuses_a_saved_one(tiny_encoder, tiny_model_dir, toy_jsonl,
                                                                    tmp_path):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    student = tmp_path / "student.json"
    student.write_text(json.dumps({"encoder": str(tiny_encoder), "epochs": 1, "batch_size": 8, "max_length": 32,
                                   "device": "cpu", "precision": "fp32"}))
    teacher = tmp_path / "teacher.json"
    teacher.write_text(json.dumps({"encoder": str(tiny_encoder), "epochs": 2, "batch_size": 8, "max_length": 32,
                                   "device": "cpu", "precision": "fp32", "seed": 7}))
    out = tmp_path / "cv"
    common = ["crossval", "--jsonl", str(toy_jsonl), "--model-type", "transformer", "--model-type", "tfidf",
              "--ensemble", "--k", "4", "--out", str(out)]
    result = CliRunner().invoke(app, [*common, "--config", str(student), "--teacher-config", str(teacher)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "cv.json").read_text())
    models = saved["models"]
    assert list(models) == ["teacher", "transformer", "tfidf", "transformer+tfidf"]
    # "auto" resolves per machine, so the run records what it trained with
    assert saved["environment"]["precision"] == "fp32" and saved["environment"]["device"] == "cpu"
    assert saved["environment"]["teacher"] == {"device": "cpu", "precision": "fp32"}
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
    resumed = CliRunner().invoke(app, [*common, "--config", str(student), "--teacher-config", str(teacher),
                                       "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr.count("taken from") == 4
    assert "warning: transformer's folds were scored in different precisions (bf16-autocast, fp32)" in resumed.stderr
    assert "warning: teacher" not in resumed.stderr

    leaky = tmp_path / "leaky.json"
    leaky.write_text(json.dumps({"encoder": str(tiny_encoder), "teacher": str(tiny_model_dir)}))
    refused = CliRunner().invoke(app, [*common, "--config", str(leaky)])
    assert refused.exit_code == 2 and "seen every fold's test policies" in refused.output


@pytest.mark.parametrize("fast", [True, False])
def test_training_environment_records_what_auto_precision_resolves_to(monkeypatch, fast):
    import classifier.models.transformer as model_module
    from classifier.training.loop import training_environment

    monkeypatch.setattr(model_module, "_bf16_is_fast", lambda device: fast)
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


def test_crossval_keeps_each_folds_teacher_and_loads_it_for_the_next_student(tiny_encoder, toy_jsonl, tmp_path):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    configs = {}
    for name, extra in (("student", {}), ("student-w25", {"distill_weight": 0.25}), ("teacher", {"seed": 7}),
                        ("teacher-seed8", {"seed": 8})):
        configs[name] = tmp_path / f"{name}.json"
        configs[name].write_text(json.dumps({"encoder": str(tiny_encoder), "epochs": 1, "batch_size": 8,
                                             "max_length": 32, "device": "cpu", "precision": "fp32"} | extra))
    teachers = tmp_path / "teachers"

    def crossval(student: str, teacher: str, out: str, data: Path = toy_jsonl) -> tuple[object, dict]:
        result = CliRunner().invoke(app, ["crossval", "--jsonl", str(data), "--model-type", "transformer",
                                          "--k", "4", "--out", str(tmp_path / out), "--config", str(configs[student]),
                                          "--teacher-config", str(configs[teacher]), "--teacher-dir", str(teachers)])
        assert result.exit_code == 0, result.output
        return result, json.loads((tmp_path / out / "cv.json").read_text())["models"]

    first, first_models = crossval("student", "teacher", "cv1")
    assert first.stderr.count("teacher: saved to") == 4 and "loaded from" not in first.stderr
    saved = sorted(teachers.glob("teacher-*"))
    assert len(saved) == 4 and not list(teachers.glob(".*"))  # no temporary directory left behind
    assert {path.stat().st_mode & 0o777 for path in saved} == {teachers.stat().st_mode & 0o777}  # not mkdtemp's 0700
    provenance = json.loads((saved[0] / "train_config.json").read_text())
    assert provenance["seed"] == 7 and "jsonl" not in provenance and len(provenance["fold_data"]) == 64

    # another student on the same folds: the teachers are loaded, not trained, and teach the same
    second, second_models = crossval("student-w25", "teacher", "cv2")
    assert second.stderr.count("teacher: loaded from") == 4 and "saved to" not in second.stderr
    assert second_models["teacher"]["micro_f1"]["folds"] == first_models["teacher"]["micro_f1"]["folds"]
    from classifier.evaluation.crossval import load_oof

    first_probs, second_probs = (load_oof(tmp_path / out)["teacher"]["probs"] for out in ("cv1", "cv2"))
    np.testing.assert_array_equal(first_probs, second_probs)
    assert len(list(teachers.glob("teacher-*"))) == 4

    # one paragraph changed, same config and folds: the three folds that train or validate on it need new
    # teachers; the fold that tests on it keeps its teacher, whose training and validation rows are unchanged
    rows = toy_jsonl.read_text().splitlines()
    edited = json.loads(rows[0])
    edited["text"] += " We may update this paragraph."
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join([json.dumps(edited), *rows[1:]]) + "\n")
    fourth, _ = crossval("student", "teacher", "cv-changed", data=changed)
    assert fourth.stderr.count("teacher: saved to") == 3 and fourth.stderr.count("teacher: loaded from") == 1
    assert len(list(teachers.glob("teacher-*"))) == 7

    # a teacher trained otherwise is another teacher: trained and kept beside the first ones
    third, _ = crossval("student", "teacher-seed8", "cv3")
    assert third.stderr.count("teacher: saved to") == 4
    assert len(list(teachers.glob("teacher-*"))) == 11

    alone = CliRunner().invoke(app, ["crossval", "--jsonl", str(toy_jsonl), "--model-type", "transformer",
                                     "--teacher-dir", str(teachers), "--out", str(tmp_path / "cv4")])
    assert alone.exit_code == 2 and "give both" in alone.output
