"""Training on partially annotated corpora: unknown labels are neither positives nor negatives, corpus weights."""

import random
from pathlib import Path

import numpy as np
import pytest

from classifier.data.corpus import label_mask, load_jsonl, multi_hot, partial_features, with_corpus
from classifier.evaluation.metrics import report_at_thresholds, tune_thresholds
from classifier.labels import LABEL_IDS
from classifier.training.config import TrainConfig
from classifier.training.loop import epoch_rows, train

SHARING = LABEL_IDS.index("third_party_sharing")


def _partial_rows(flip_unknown: bool):
    """Toy rows of a corpus that annotates first- and third-party only; with ``flip_unknown`` every label it does
    not annotate is set to the opposite of what it was (which a masked loss must not see)."""
    from datasets import Dataset

    texts = ["we share your email with advertising partners", "we collect your name and phone number",
             "you can delete your account data", "we keep data for two years"] * 3
    labels = [[1], [0], [], []] * 3
    known = [0, 1]
    rows = {"policy": [f"m{i % 3}" for i in range(len(texts))], "text": texts,
            "labels": [sorted(set(ls) | (set(range(2, 11)) if flip_unknown else set())) for ls in labels],
            "corpus": ["mapp"] * len(texts), "annotated": [known] * len(texts)}
    return Dataset.from_dict(rows, features=partial_features())


def _mixed(toy_jsonl: Path, flip_unknown: bool):
    from datasets import concatenate_datasets

    full = with_corpus(load_jsonl(toy_jsonl), "jsonl").select_columns(["policy", "text", "labels", "corpus",
                                                                        "annotated"])
    return concatenate_datasets([full, _partial_rows(flip_unknown)])


def test_unknown_labels_do_not_move_the_model(tiny_encoder, toy_jsonl, tmp_path):
    """The same run twice, the second with every unknown cell of the partial corpus flipped: identical models."""
    config = TrainConfig(encoder=str(tiny_encoder), jsonl=[str(toy_jsonl)], epochs=2, batch_size=8,
                         learning_rate=1e-3, max_length=32, output_dir=str(tmp_path), device="cpu",
                         precision="fp32", half=False, corpus_weights={"mapp": 1.5})
    texts = ["we share data with partners", "children under age", "we keep your data"]
    validation = with_corpus(load_jsonl(toy_jsonl), "jsonl").select(range(10))
    probs = []
    for flip in (False, True):
        clf, _ = train(config, train_data=_mixed(toy_jsonl, flip), validation_data=validation, save=False,
                       log=lambda line: None)
        probs.append(clf.predict_proba(texts))
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)
    # and flipping a *known* cell does change it: the test can tell
    data = _mixed(toy_jsonl, False)
    moved = data.map(lambda row: {"labels": sorted(set(row["labels"]) ^ {SHARING})} if row["corpus"] == "mapp"
                     else {}, features=data.features)
    clf, _ = train(config, train_data=moved, validation_data=validation, save=False, log=lambda line: None)
    assert np.abs(clf.predict_proba(texts) - probs[0]).max() > 1e-3


def test_tfidf_fits_each_label_on_the_rows_that_decide_it(toy_jsonl):
    from classifier.training.tfidf import fit_tfidf

    texts = ["we share data with partners", "we keep your data for a year", "contact us"]
    plain, flipped = (fit_tfidf(_mixed(toy_jsonl, flip), seed=13) for flip in (False, True))
    np.testing.assert_allclose(plain.predict_proba(texts), flipped.predict_proba(texts), atol=1e-9)
    weighted = fit_tfidf(_mixed(toy_jsonl, False), seed=13, corpus_weights={"mapp": 5.0})
    assert np.abs(weighted.predict_proba(texts) - plain.predict_proba(texts)).max() > 1e-3


def test_epoch_rows_follow_the_corpus_weights():
    corpora = ["a"] * 10 + ["b"] * 20
    assert epoch_rows(corpora, {}, random.Random(0)) == list(range(30))
    assert epoch_rows(corpora, {"a": 1.0, "b": 1}, random.Random(0)) == list(range(30))
    rows = epoch_rows(corpora, {"a": 2.0, "b": 0.25}, random.Random(0))
    assert rows.count(3) == 2 and sum(r < 10 for r in rows) == 20  # every 'a' row twice
    b_rows = [r for r in rows if r >= 10]
    assert len(b_rows) == 5 and len(set(b_rows)) == 5  # a quarter of 'b', without repeats
    assert rows == epoch_rows(corpora, {"a": 2.0, "b": 0.25}, random.Random(0))
    assert set(b_rows) != {r for r in epoch_rows(corpora, {"a": 2.0, "b": 0.25}, random.Random(1)) if r >= 10}


def test_thresholds_and_figures_ignore_unknown_cells():
    y = np.array([[1, 0], [0, 0], [1, 1], [0, 1]], dtype=float)
    probs = np.array([[0.9, 0.1], [0.2, 0.75], [0.8, 0.8], [0.3, 0.9]])
    known = np.array([[1, 1], [1, 0], [1, 1], [1, 1]], dtype=float)  # row 1's second label is unknown
    # unmasked, the 0.75 'negative' pushes the cut above it; masked, it is ignored and 0.5 separates perfectly
    assert tune_thresholds(y, probs)[1] > 0.7
    assert tune_thresholds(y, probs, mask=known) == pytest.approx([0.5, 0.5])
    report = report_at_thresholds(y, probs, ["a", "b"], [0.5, 0.5], mask=known)
    assert report["per_label"]["b"]["precision"] == 1.0 and report["micro_f1"] == 1.0
    assert report_at_thresholds(y, probs, ["a", "b"], [0.5, 0.5])["per_label"]["b"]["precision"] < 1.0


def test_thresholds_can_be_tuned_on_some_corpora_alone(toy_jsonl):
    from classifier.data.corpus import tuning_mask

    data = _mixed(toy_jsonl, flip_unknown=False)
    corpora = np.asarray(data["corpus"])
    np.testing.assert_array_equal(tuning_mask(data), label_mask(data))
    jsonl_only = tuning_mask(data, ["jsonl"])
    assert jsonl_only[corpora == "jsonl"].all() and not jsonl_only[corpora == "mapp"].any()
    np.testing.assert_array_equal(tuning_mask(data, ["c3pa"]), label_mask(data))  # no such rows: all of them


def test_config_checks_corpus_weights_and_partial_split(tiny_encoder):
    base = {"encoder": str(tiny_encoder), "mapp": ["somewhere"]}
    TrainConfig(**base, corpus_weights={"mapp": 0.5, "opp115": 2}).validate()
    with pytest.raises(ValueError, match="corpus_weights: unknown corpus 'mpap'"):
        TrainConfig(**base, corpus_weights={"mpap": 0.5}).validate()
    with pytest.raises(ValueError, match="corpus_weights"):
        TrainConfig(**base, corpus_weights={"mapp": -1}).validate()
    with pytest.raises(ValueError, match="tune_on: unknown corpus 'opp'"):
        TrainConfig(**base, tune_on=["opp"]).validate()
    with pytest.raises(ValueError, match="partial_split"):
        TrainConfig(**base, partial_split="dev").validate()
    with pytest.raises(ValueError, match="labels_from_data works with jsonl data only"):
        TrainConfig(**base, labels_from_data=True).validate()


def test_build_dataset_tags_every_row_with_its_corpus(mapp_dir, toy_jsonl):
    from classifier.training.data import build_dataset

    data = build_dataset(TrainConfig(jsonl=[str(toy_jsonl)], mapp=[str(mapp_dir)]))
    corpora = np.asarray(data["corpus"])
    assert set(corpora) == {"jsonl", "mapp"} and (corpora == "mapp").sum() == 3239  # MAPP's train split
    known = label_mask(data)
    assert known[corpora == "jsonl"].all() and not known[corpora == "mapp"][:, 2:].any()
    assert (multi_hot(data) <= known).all()


def test_a_partial_corpus_is_scored_on_what_it_decides(tiny_classifier):
    from classifier.evaluation.evaluate import comparison, evaluate

    data = _partial_rows(flip_unknown=False)
    result = evaluate(tiny_classifier, data, model_name="tiny", data_name="mapp", n_boot=20)
    view = result.metrics["views"]["opp115"]
    assert view["averaged_over"] == ["first_party_collection", "third_party_sharing"]
    assert set(result.metrics["views"]) == {"opp115"}  # no card or children view on partial labels
    assert not result.y_pred[:, 2:].any()  # the tiny model's bias predicts more, but unknown cells never count
    # the same figures as scoring the two decided columns alone
    from sklearn.metrics import f1_score

    expected = f1_score(result.y_true[:, :2], (result.probs[:, :2] >= np.asarray(result.thresholds[:2])).astype(int),
                        average="micro", zero_division=0)
    assert view["micro_f1"] == pytest.approx(expected)
    again = evaluate(tiny_classifier, data, model_name="tiny2", data_name="mapp", n_boot=20)
    assert comparison(result, again, n_boot=20)["opp115"]["micro_f1"]["diff"] == 0


def _tiny_mapp(root: Path) -> Path:
    """A MAPP-layout directory: four policies (three TRAIN, one TEST) of first- and third-party sentences."""
    lines = [("we collect your email address and name", "['First Party']"),
             ("we share your device data with advertising partners", "['Third Party']"),
             ("we collect location and share it with analytics partners", "['First Party', 'Third Party']"),
             ("contact us with questions", "[]")]
    for sub in ("English_sanitized_policies", "English_consolidation"):
        (root / sub).mkdir(parents=True)
    for n in range(4):
        stem = f"{n}_app{n}"
        (root / "English_sanitized_policies" / f"{stem}.txt").write_text("\n\n".join(t for t, _ in lines) + "\n")
        rows = ["policy id,segment_id,category name,attribute name,value name,policy_type,privacy_policy_link,MAPP_59"]
        rows += [f'{n},{i},"{cats}",[],[],{"TEST" if n == 3 else "TRAIN"},http://x,False'
                 for i, (_, cats) in enumerate(lines, 1)]
        (root / "English_consolidation" / f"{stem}.csv").write_text("\n".join(rows) + "\n")
    return root


def test_transfer_table_trains_each_scenario_and_goes_on_after_an_interruption(toy_jsonl, tmp_path):
    from classifier.evaluation.transfer import scenarios, transfer_table
    from classifier.training.tfidf import fit_tfidf_config

    mapp = _tiny_mapp(tmp_path / "mapp")
    config = TrainConfig(jsonl=[str(toy_jsonl)], mapp=[str(mapp)], validation_fraction=0.25)
    assert [(s.name, s.corpora) for s in scenarios(config)] == [
        ("jsonl", ("jsonl",)), ("all", ("jsonl", "mapp")), ("all but mapp", ("jsonl",))]
    trained = []

    def fit(settings):
        trained.append(settings.mapp)
        return fit_tfidf_config(settings)[0]

    table = transfer_table(config, tmp_path / "out", fit, n_boot=20, log=lambda line: None)
    assert trained == [[], [str(mapp)], []]
    scores = table["scenarios"]["all"]["scores"]["mapp-test"]
    assert scores["averaged_over"] == ["first_party_collection", "third_party_sharing"] and scores["n_policies"] == 1
    assert "| all | " in (tmp_path / "out" / "transfer.md").read_text()
    # a rerun takes the saved scenarios and trains nothing; a changed setting retrains
    trained.clear()
    again = transfer_table(config, tmp_path / "out", fit, n_boot=20, log=lambda line: None)
    assert trained == [] and again["scenarios"] == table["scenarios"]
    from dataclasses import replace

    transfer_table(replace(config, seed=14), tmp_path / "out", fit, n_boot=20, log=lambda line: None)
    assert len(trained) == 3
    trained.clear()
    only = transfer_table(config, tmp_path / "only", fit, n_boot=20, only=["all"], log=lambda line: None)
    assert list(only["scenarios"]) == ["all"] and len(trained) == 1
    both = transfer_table(config, tmp_path / "only", fit, n_boot=20, only=["jsonl"], log=lambda line: None)
    assert list(both["scenarios"]) == ["jsonl", "all"] and len(trained) == 2  # the saved one is shown, not retrained
    with pytest.raises(ValueError, match="no scenario 'everything'"):
        transfer_table(config, tmp_path / "only", fit, only=["everything"], log=lambda line: None)
    with pytest.raises(ValueError, match="partial_split must be 'train'"):
        transfer_table(replace(config, partial_split="all"), tmp_path / "out", fit, log=lambda line: None)


def test_release_tunes_the_shipped_thresholds_on_the_recipes_target_corpora(tiny_encoder, toy_jsonl, tmp_path):
    """A recipe with ``tune_on`` ships thresholds tuned on those corpora's out-of-fold rows, not on every corpus."""
    import json

    from safetensors.numpy import load_file
    from typer.testing import CliRunner

    from classifier import PolicyClassifier
    from classifier.cli.app import app
    from classifier.data.corpus import tuning_mask
    from classifier.evaluation.folds import oof_thresholds
    from classifier.training.data import build_dataset

    mapp = _tiny_mapp(tmp_path / "mapp")
    settings = {"encoder": str(tiny_encoder), "jsonl": [str(toy_jsonl)], "mapp": [str(mapp)], "tune_on": ["jsonl"],
                "epochs": 1, "batch_size": 8, "max_length": 32, "device": "cpu", "precision": "fp32", "half": False}
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(settings))
    cv, model = tmp_path / "cv", tmp_path / "model"
    crossval = CliRunner().invoke(app, ["crossval", "--config", str(recipe), "--model-type", "transformer",
                                        "--model-type", "tfidf", "--ensemble", "--k", "3", "-o", str(cv)])
    assert crossval.exit_code == 0, crossval.output
    built = CliRunner().invoke(app, ["release", "--config", str(recipe), "--cv", str(cv), "--work-dir",
                                     str(tmp_path / "work"), "-o", str(model)])
    assert built.exit_code == 0, built.output

    data = build_dataset(TrainConfig(**settings))
    oof = load_file(str(cv / "oof.safetensors"))
    probs, folds = oof["transformer+tfidf.probs"], oof["transformer+tfidf.fold"]
    on_target, _ = oof_thresholds(multi_hot(data), probs, folds, tuning_mask(data, ["jsonl"]))
    on_all, _ = oof_thresholds(multi_hot(data), probs, folds, label_mask(data))
    assert on_target != on_all  # the MAPP rows move the first- and third-party thresholds when they count
    released = PolicyClassifier.from_pretrained(model, device="cpu", precision="fp32")
    assert released.thresholds == pytest.approx(on_target, abs=1e-6)
