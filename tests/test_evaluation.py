import json
import statistics

import numpy as np
import pytest
from sklearn.metrics import f1_score, hamming_loss, precision_recall_fscore_support

from classifier.data.corpus import label_names, load_jsonl, multi_hot
from classifier.evaluation.evaluate import bootstrap_f1, card_matrix, counts_by_policy, evaluate, paired_bootstrap
from classifier.evaluation.metrics import multilabel_report, report_at_thresholds, tune_thresholds
from classifier.labels import LABEL_IDS, OPP115_IDS
from classifier.models.base import ModelLoadError


def _random(n=300, k=6, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    pred = np.where(rng.random((n, k)) < 0.8, y, 1 - y)
    return y, pred


def test_metrics_equal_scikit_learn():
    y, pred = _random()
    labels = [f"l{i}" for i in range(6)]
    report = multilabel_report(y, pred, labels)
    assert report["micro_f1"] == pytest.approx(f1_score(y, pred, average="micro"))
    assert report["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert report["weighted_f1"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert report["hamming_loss"] == pytest.approx(hamming_loss(y, pred))
    assert report["exact_match"] == pytest.approx((y == pred).all(1).mean())
    p, r, f, s = precision_recall_fscore_support(y, pred, zero_division=0)
    assert report["per_label"]["l3"] == pytest.approx({"precision": p[3], "recall": r[3], "f1": f[3],
                                                       "support": s[3]})
    subset = multilabel_report(y, pred, labels, average_over=["l0", "l1"])
    assert subset["macro_f1"] == pytest.approx(f1_score(y[:, :2], pred[:, :2], average="macro"))


def test_bootstrap_contains_point_and_shrinks_with_more_policies():
    widths = []
    for n_policies in (10, 200):
        y, pred = _random(n=n_policies * 10, seed=n_policies)
        policies = [f"p{i // 10}" for i in range(len(y))]
        _, counts = counts_by_policy(y, pred, policies)
        ci = bootstrap_f1(counts, n_boot=500, seed=1)
        micro = f1_score(y, pred, average="micro")
        assert ci["micro_f1"][0] <= micro <= ci["micro_f1"][1]
        assert ci["macro_f1"][0] <= f1_score(y, pred, average="macro") <= ci["macro_f1"][1]
        widths.append(ci["micro_f1"][1] - ci["micro_f1"][0])
    assert widths[1] < widths[0] / 2


def test_paired_bootstrap_detects_a_better_model():
    y, pred = _random(n=1000, seed=3)
    policies = [f"p{i // 10}" for i in range(len(y))]
    worse = np.where(np.random.default_rng(4).random(y.shape) < 0.2, 1 - pred, pred)
    _, a = counts_by_policy(y, worse, policies)
    _, b = counts_by_policy(y, pred, policies)
    result = paired_bootstrap(a, b, n_boot=500)
    assert result["micro_f1"]["diff"] > 0 and result["micro_f1"]["ci"][0] > 0
    assert result["micro_f1"]["p_b_not_better"] < 0.01
    same = paired_bootstrap(a, a, n_boot=100)
    assert same["macro_f1"]["diff"] == 0


def test_card_matrix_merges_user_rights():
    y = np.zeros((2, len(LABEL_IDS)), dtype=int)
    y[0, LABEL_IDS.index("user_choice_control")] = 1
    y[1, LABEL_IDS.index("other")] = 1
    card = card_matrix(y, list(LABEL_IDS))
    assert card[0].tolist() == [0, 0, 0, 1, 0, 0] and card[1].sum() == 0


def test_tune_thresholds_finds_the_separating_cut():
    y = np.array([[1], [1], [0], [0]])
    probs = np.array([[0.9], [0.7], [0.3], [0.2]])
    cut = tune_thresholds(y, probs)[0]
    assert 0.3 < cut <= 0.7
    assert tune_thresholds(np.zeros((3, 1)), np.ones((3, 1)))[0] == 0.5


@pytest.fixture()
def toy_eval_data(tmp_path, toy_jsonl):
    return load_jsonl(toy_jsonl)


def test_evaluate_is_deterministic_and_report_renders(tiny_classifier, toy_eval_data, tmp_path):
    from classifier.evaluation.report import load_evaluation, write_evaluation

    first = evaluate(tiny_classifier, toy_eval_data, model_name="tiny", data_name="toy", n_boot=50)
    second = evaluate(tiny_classifier, toy_eval_data, model_name="tiny", data_name="toy", n_boot=50)
    assert json.dumps(first.metrics, sort_keys=True) == json.dumps(second.metrics, sort_keys=True)
    views = first.metrics["views"]
    assert set(views) == {"opp115", "card", "children"}
    assert views["opp115"]["averaged_over"] == list(OPP115_IDS)
    assert views["opp115"]["micro_f1"] == pytest.approx(
        f1_score(first.y_true[:, :10], first.y_pred[:, :10], average="micro", zero_division=0))
    out = write_evaluation(tmp_path / "eval", [first])
    for name in ("metrics.json", "report.md", "errors.jsonl", "f1_per_label.png", "pr_curves_tiny_toy.png",
                 "confusion_tiny_toy.png"):
        assert (out / name).is_file(), name
    assert "| tiny | toy | opp115 |" in (out / "report.md").read_text()
    assert load_evaluation(out)["results"][0]["n_paragraphs"] == len(toy_eval_data)
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert errors and {"label", "kind", "score", "policy", "text"} <= set(errors[0])


def test_evaluate_cli_side_by_side(tiny_model_dir, toy_jsonl, tmp_path):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    result = CliRunner().invoke(app, ["evaluate", "--data", str(toy_jsonl), "--model", str(tiny_model_dir),
                                      "--model", str(tiny_model_dir), "-o", str(tmp_path / "ev"), "--json",
                                      str(tmp_path / "m.json"), "--n-boot", "50", "--no-plots"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert len(metrics["results"]) == 2 and len(metrics["comparisons"]) == 1
    assert metrics["comparisons"][0]["opp115"]["micro_f1"]["diff"] == 0
    bad = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path / "nope.jsonl"), "--model", str(tiny_model_dir)])
    assert bad.exit_code == 1 and "nope.jsonl" in bad.stderr


def test_evaluation_without_matplotlib_writes_no_plots_and_says_so(tiny_model_dir, toy_jsonl, tmp_path,
                                                                   monkeypatch):
    from typer.testing import CliRunner

    import classifier.evaluation.report as report
    from classifier.cli.app import app

    monkeypatch.setattr(report, "plots_available", lambda: False)
    result = CliRunner().invoke(app, ["evaluate", "--data", str(toy_jsonl), "--model", str(tiny_model_dir),
                                      "-o", str(tmp_path / "ev"), "--n-boot", "20"])
    assert result.exit_code == 0, result.output
    assert "no plots: matplotlib is not installed" in result.stderr
    assert (tmp_path / "ev" / "report.md").is_file() and not list((tmp_path / "ev").glob("*.png"))
    with pytest.raises(ModuleNotFoundError, match="plots"):
        report.write_evaluation(tmp_path / "ev2", [], plots=True)
    assert not (tmp_path / "ev2").exists()


def test_tfidf_baseline_fit_save_load(toy_eval_data, tmp_path):
    from classifier.data.corpus import label_names, multi_hot
    from classifier.models.tfidf import TfidfBaseline

    model = TfidfBaseline.fit(toy_eval_data["text"], multi_hot(toy_eval_data), label_names(toy_eval_data))
    model.thresholds = [0.4] * len(model.labels)
    path = model.save_pretrained(tmp_path / "tfidf")
    assert not list(path.glob("*.pkl"))
    loaded = TfidfBaseline.from_pretrained(path)
    texts = ["We keep your data for two years and then delete it.", "Contact us at privacy@example.com."]
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert loaded.predict(texts)[0].labels[0] == "data_retention"
    assert TfidfBaseline.is_baseline_dir(path) and not TfidfBaseline.is_baseline_dir(tmp_path)
    half = TfidfBaseline.from_pretrained(model.save_pretrained(tmp_path / "half", half=True))
    weights_size = [(d / "weights.safetensors").stat().st_size for d in (tmp_path / "half", path)]
    assert weights_size[0] < 0.8 * weights_size[1]
    np.testing.assert_allclose(half.predict_proba(texts), model.predict_proba(texts), atol=2e-3)
    for name in ("char_vocab.json", "vocab.json"):  # either vocabulary pointing past the weights
        vocabulary = json.loads((path / name).read_text())
        (path / name).write_text(json.dumps({**vocabulary, "stray term": len(loaded.idf) + 5}))
        with pytest.raises(ModelLoadError, match="do not fit together"):
            TfidfBaseline.from_pretrained(path)
        (path / name).write_text(json.dumps(vocabulary))
    (path / "char_vocab.json").unlink()
    with pytest.raises(ModelLoadError, match="cannot load"):
        TfidfBaseline.from_pretrained(path)


def test_tfidf_prediction_matches_scikit_learn_without_importing_it(toy_eval_data):
    import subprocess
    import sys

    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    from classifier.data.corpus import label_names, multi_hot
    from classifier.models.tfidf import _VECTORIZER, TfidfBaseline, _char_vectorizer
    from classifier.text.reading import normalize_text

    model = TfidfBaseline.fit(toy_eval_data["text"], multi_hot(toy_eval_data), label_names(toy_eval_data))
    assert model.char_ngrams == (2, 5) and len(model.char_vocabulary) > len(model.vocabulary)
    texts = ["We keep your data data data for two years.", "", "!!! ?", "Café DATA, naïve résumé: we keep it",
             "**We** share your data with _partners_ and keep your data", "a b c d", "x",
             "we\tshare\n\nyour  data 😀 with 第三方 partners", "Üser data ǅ ﬁle"]
    words = TfidfVectorizer(vocabulary=model.vocabulary, **_VECTORIZER)
    words.idf_ = model.idf[: len(model.vocabulary)]
    chars = TfidfVectorizer(vocabulary={g: i - len(model.vocabulary) for g, i in model.char_vocabulary.items()},
                            **_char_vectorizer(model.char_ngrams))
    chars.idf_ = model.idf[len(model.vocabulary):]
    normalized = [normalize_text(t) for t in texts]
    features = hstack([words.transform(normalized), chars.transform(normalized)]).tocsr()
    expected = features @ model.coef.T + model.intercept
    np.testing.assert_allclose(model._logits(texts)[0], expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model._logits(texts, chunk=2)[0], expected, rtol=0, atol=1e-10)
    # a fresh process predicting with a saved baseline never imports scikit-learn or scipy (a second of start-up)
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from classifier.models.tfidf import TfidfBaseline\n"
        "model = TfidfBaseline(['a'], {'we': 0, 'we keep': 1}, np.ones(3), np.ones((1, 3)), np.zeros(1),\n"
        "                      char_vocabulary={' we': 2}, char_ngrams=(2, 5))\n"
        "print(model.predict_proba(['We keep it']).tolist())\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('sklearn', 'scipy')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[1] == "[]"
    # three blocks of one term each, each block normalised to 1: logit 1 + 1 (word block has 2 terms, each 1/sqrt 2)
    assert json.loads(out.split("\n")[0])[0][0] == pytest.approx(1 / (1 + np.exp(-(2 / np.sqrt(2) + 1))), abs=1e-4)


def test_tfidf_word_only_and_old_saved_baselines(toy_eval_data, tmp_path):
    from classifier.data.corpus import label_names, multi_hot
    from classifier.models.tfidf import TfidfBaseline

    y, labels = multi_hot(toy_eval_data), label_names(toy_eval_data)
    model = TfidfBaseline.fit(toy_eval_data["text"], y, labels, char_ngrams=None)
    assert model.char_ngrams is None and model.coef.shape[1] == len(model.vocabulary)
    path = model.save_pretrained(tmp_path / "words")
    assert not (path / "char_vocab.json").exists()
    # baselines saved before character n-grams have no char_vectorizer entry: they load as word-only models
    config = json.loads((path / "config.json").read_text())
    del config["char_vectorizer"]
    (path / "config.json").write_text(json.dumps(config))
    loaded = TfidfBaseline.from_pretrained(path)
    assert loaded.char_ngrams is None
    np.testing.assert_allclose(loaded.predict_proba(toy_eval_data["text"]), model.predict_proba(toy_eval_data["text"]),
                               atol=1e-6)
    with pytest.raises(ValueError, match="char_ngrams"):
        TfidfBaseline.fit(toy_eval_data["text"], y, labels, char_ngrams=(1, 4))


def test_crossval_tfidf_by_policy(toy_jsonl):
    from classifier.evaluation.crossval import cross_validate, tfidf_trainer
    from classifier.evaluation.folds import summarize_folds

    data = load_jsonl(toy_jsonl)
    results = cross_validate(data, {"tfidf": tfidf_trainer()}, k=4, validation_fraction=0.2, log=lambda line: None)
    folds = results["tfidf"]["folds"]
    assert len(folds) == 4 and sum(f["n_paragraphs"] for f in folds) == len(data)
    summary = summarize_folds(folds)
    assert summary["micro_f1"]["folds"] == [f["micro_f1"] for f in folds]
    assert summary["micro_f1"]["mean"] == pytest.approx(np.mean([f["micro_f1"] for f in folds]))
    # Each fold is scored on its own policies only: the held-out rows' micro-F1 recomputed from the out-of-fold
    # probabilities at that fold's thresholds.
    entry = results["tfidf"]
    y = multi_hot(data)
    for k, fold in enumerate(folds, 1):
        rows = np.flatnonzero(entry["fold"] == k)
        report = report_at_thresholds(y[rows], entry["probs"][rows], label_names(data), entry["thresholds"][rows[0]])
        assert report["micro_f1"] == pytest.approx(fold["micro_f1"])


def test_crossval_resumes_from_the_folds_it_finished(toy_jsonl, tmp_path):
    from datasets import ClassLabel

    from classifier.evaluation.crossval import cross_validate, tfidf_trainer

    data = load_jsonl(toy_jsonl)
    fits = {"a": tfidf_trainer(), "b": tfidf_trainer(c=1.0)}
    calls: list[str] = []

    def trainers(stop_at: int | None = None) -> dict:
        def wrap(name):
            def fit(train, validation):
                calls.append(name)
                if len(calls) == stop_at:
                    raise KeyboardInterrupt
                return fits[name](train, validation)
            return fit
        return {name: wrap(name) for name in fits}

    common = {"k": 4, "validation_fraction": 0.2, "ensemble": ["a", "b"], "log": lambda line: None,
              "fold_dir": tmp_path / "folds", "settings": {"b": {"c": 1.0}}}
    with pytest.raises(KeyboardInterrupt):  # in fold 3, after two whole folds
        cross_validate(data, trainers(stop_at=5), **common)
    assert sorted(p.name for p in (tmp_path / "folds").iterdir()) == ["fold1.safetensors", "fold2.safetensors"]

    calls.clear()
    resumed = cross_validate(data, trainers(), resume=True, **common)
    assert calls == ["a", "b", "a", "b"]  # folds 3 and 4 only
    whole = cross_validate(data, fits, **(common | {"fold_dir": None}))
    for name in ("a", "b", "a+b"):
        np.testing.assert_allclose(resumed[name]["probs"], whole[name]["probs"], atol=1e-6)
        np.testing.assert_array_equal(resumed[name]["thresholds"], whole[name]["thresholds"])
        np.testing.assert_array_equal(resumed[name]["fold"], whole[name]["fold"])
        assert resumed[name]["folds"] == json.loads(json.dumps(whole[name]["folds"]))

    # folds saved under other settings or folds are refused before anything is trained
    calls.clear()
    with pytest.raises(ValueError, match="other settings of b"):
        cross_validate(data, trainers(), resume=True, **(common | {"settings": {"b": {"c": 10.0}}}))
    with pytest.raises(ValueError, match="other fold_seed"):
        cross_validate(data, trainers(), resume=True, seed=14, **common)
    labels_feature = data.features["labels"]  # the same label indices under other names
    renamed = data.cast_column("labels", type(labels_feature)(
        ClassLabel(names=[f"x{i}" for i in range(len(labels_feature.feature.names))])))
    assert renamed["labels"] == data["labels"]
    with pytest.raises(ValueError, match="other labels"):
        cross_validate(renamed, trainers(), resume=True, **common)
    (tmp_path / "folds" / "fold4.safetensors").write_bytes(b"")  # a fold file cut short
    with pytest.raises(ValueError, match=r"fold4\.safetensors is not a readable fold file"):
        cross_validate(data, trainers(), resume=True, **common)
    assert calls == []
    # without resume, a new run discards them
    with pytest.raises(KeyboardInterrupt):
        cross_validate(data, trainers(stop_at=1), **common)
    assert list((tmp_path / "folds").iterdir()) == []


def test_crossval_cli_writes_summary_report_and_oof(toy_jsonl, tmp_path):
    from safetensors.numpy import load_file
    from typer.testing import CliRunner

    from classifier.cli.app import app

    out = tmp_path / "cv"
    result = CliRunner().invoke(app, ["crossval", "--jsonl", str(toy_jsonl), "--model-type", "tfidf", "--k", "4",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    cv = json.loads((out / "cv.json").read_text())
    entry = cv["models"]["tfidf"]
    assert len(entry["micro_f1"]["folds"]) == 4 and "data_out_of_fold" in entry
    assert len(entry["data_folds"]["fold_details"]) == 4
    assert "precision" not in cv["environment"] and cv["environment"]["cpu"]  # no transformer trained
    arrays = load_file(str(out / "oof.safetensors"))
    assert arrays["tfidf.probs"].shape == (40, len(LABEL_IDS)) and set(arrays["tfidf.fold"].tolist()) == {1, 2, 3, 4}
    assert (out / "report.md").is_file()
    modes = {path.name: path.stat().st_mode & 0o777 for path in (out / "oof.safetensors", *(out / "folds").iterdir())}
    assert set(modes.values()) == {(out / "cv.json").stat().st_mode & 0o777}, modes  # not safetensors' 0600

    # --from-oof rebuilds the same figures from the saved predictions and keeps the record of the training machine
    cv["environment"] = {"cpu": "the machine that trained the folds"}
    (out / "cv.json").write_text(json.dumps(cv))
    rebuilt = CliRunner().invoke(app, ["crossval", "--jsonl", str(toy_jsonl), "--model-type", "tfidf",
                                       "-o", str(out), "--from-oof"])  # no --k: the saved folds say 4
    assert rebuilt.exit_code == 0, rebuilt.output
    again = json.loads((out / "cv.json").read_text())
    assert again["environment"] == {"cpu": "the machine that trained the folds"}
    assert again["settings"]["k"] == 4 and again["settings"]["fold_seed"] == 13
    assert again["models"]["tfidf"]["micro_f1"] == entry["micro_f1"]

    # --resume takes the saved folds (all four here) and trains nothing; other folds are one line and exit 2
    assert sorted(p.name for p in (out / "folds").iterdir()) == [f"fold{n}.safetensors" for n in range(1, 5)]
    args = ["crossval", "--jsonl", str(toy_jsonl), "--model-type", "tfidf", "-o", str(out), "--resume"]
    resumed = CliRunner().invoke(app, [*args, "--k", "4"])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr.count("taken from") == 4
    assert json.loads((out / "cv.json").read_text())["models"]["tfidf"]["micro_f1"] == entry["micro_f1"]
    refused = CliRunner().invoke(app, [*args, "--k", "3"])
    assert refused.exit_code == 2 and "other k" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_oof_thresholds_nested_ignore_their_own_fold():
    from classifier.evaluation.folds import oof_thresholds
    from classifier.evaluation.metrics import tune_thresholds

    rng = np.random.default_rng(0)
    y = (rng.random((120, 3)) < 0.3).astype(np.float32)
    probs = np.clip(0.6 * y + 0.4 * rng.random((120, 3)), 0, 1).astype(np.float32)
    folds = np.repeat(np.arange(1, 5), 30)
    pooled, nested = oof_thresholds(y, probs, folds)
    assert pooled == tune_thresholds(y, probs)
    flipped = y.copy()
    flipped[folds == 1] = 1 - flipped[folds == 1]  # fold 1's labels must not move fold 1's thresholds
    _, nested_flipped = oof_thresholds(flipped, probs, folds)
    np.testing.assert_array_equal(nested[folds == 1], nested_flipped[folds == 1])
    assert not np.array_equal(nested[folds == 2], nested_flipped[folds == 2])
    np.testing.assert_allclose(nested[folds == 3][0], tune_thresholds(y[folds != 3], probs[folds != 3]))


def test_oof_entry_averages_members_the_run_did_not_average():
    from classifier.evaluation.folds import oof_entry

    folds = np.array([1, 1, 2, 2], dtype=np.int32)
    results = {name: {"probs": np.full((4, 2), value, dtype=np.float32), "thresholds": np.full((4, 2), 0.4),
                      "fold": folds, "folds": [{}]}
               for name, value in (("teacher", 0.9), ("transformer", 0.5), ("tfidf", 0.2))}
    assert oof_entry(results, "tfidf") is results["tfidf"]  # a run's own entry keeps its fold thresholds
    averaged = oof_entry(results, "teacher+tfidf")
    np.testing.assert_allclose(averaged["probs"], 0.55)
    assert averaged["thresholds"] is None  # no validation predictions to have tuned them on
    np.testing.assert_array_equal(averaged["fold"], folds)
    for unknown in ("teacher+mpnet", "mpnet", "teacher+"):
        with pytest.raises(KeyError, match="has teacher, transformer, tfidf"):
            oof_entry(results, unknown)


def test_read_oof_entry_averages_across_runs_on_the_same_rows_only(tmp_path):
    from dataclasses import asdict

    from classifier.evaluation.folds import read_oof_entry, save_oof
    from classifier.training.config import TrainConfig

    def run(name, value, folds, jsonl=("a.jsonl",)):
        directory = tmp_path / name
        directory.mkdir()
        settings = asdict(TrainConfig(jsonl=list(jsonl), labels_from_data=True)) | {"k": 2, "fold_seed": 13}
        (directory / "cv.json").write_text(json.dumps({"settings": settings,
                                                       "models": {"transformer": {"fold_details": []}}}))
        save_oof(str(directory / "oof.safetensors"),
                 {"transformer": {"probs": np.full((4, 2), value, dtype=np.float32),
                                  "thresholds": np.full((4, 2), 0.5, dtype=np.float32),
                                  "fold": np.asarray(folds, dtype=np.int32)}})
        return directory

    a, b = run("a", 0.8, [1, 1, 2, 2]), run("b", 0.2, [1, 1, 2, 2])
    settings, entry = read_oof_entry(a, "transformer")
    assert settings.jsonl == ["a.jsonl"]
    np.testing.assert_allclose(entry["probs"], 0.8)
    _, averaged = read_oof_entry(a, "other+transformer", [("other", b, "transformer")])
    np.testing.assert_allclose(averaged["probs"], 0.5)
    for also, message in (([("x", run("c", 0.2, [1, 2, 1, 2]), "transformer")], "not the same rows and folds"),
                          ([("x", run("d", 0.2, [1, 1, 2, 2], ["d.jsonl"]), "transformer")], "not the same rows"),
                          ([("x", b, "teacher")], "no model 'teacher'"),
                          ([("x", tmp_path / "missing", "transformer")], "no crossval run")):
        with pytest.raises(ValueError, match=message):
            read_oof_entry(a, "x+transformer", also)
    (b / "oof.safetensors").unlink()  # a run that kept only its cv.json
    with pytest.raises(ValueError, match="no crossval run with out-of-fold predictions"):
        read_oof_entry(b, "transformer")


def _cv_record(tmp_path, name, macro, sizes=((18, 500), (19, 520)), fold_seed=13, extra=None):
    folds = [{"micro_f1": m, "macro_f1": m, "n_policies": p, "n_paragraphs": n, **(extra or {}),
              "per_label_f1": {"children": m, "other": 0.5}} for m, (p, n) in zip(macro, sizes, strict=True)]
    record = {"settings": {"k": len(folds), "fold_seed": fold_seed}, "environment": {"precision": name},
              "models": {"transformer": {"opp115_folds": {"fold_details": folds}}}}
    directory = tmp_path / name
    directory.mkdir()
    (directory / "cv.json").write_text(json.dumps(record))
    return directory


def test_compare_folds_pairs_runs_on_the_same_folds_and_refuses_others(tmp_path):
    from classifier.evaluation.folds import compare_folds, read_cv_record

    a = read_cv_record(_cv_record(tmp_path, "bf16", [0.70, 0.80], extra={"children_f1": 0.9}))
    b = read_cv_record(_cv_record(tmp_path, "fp32", [0.75, 0.79]))
    result = compare_folds(a, b, "transformer")
    assert result["mean_difference"]["macro_f1"] == pytest.approx(0.02)
    assert result["b_better"]["macro_f1"] == 1 and result["folds"][0]["macro_f1"] == (0.70, 0.75)
    assert result["per_label_difference"] == pytest.approx({"children": 0.02, "other": 0.0})
    assert "children_f1" not in result["mean_difference"]  # only figures both runs have

    other_split = read_cv_record(_cv_record(tmp_path, "other", [0.7, 0.8], sizes=((18, 500), (19, 521))))
    with pytest.raises(ValueError, match="different folds"):
        compare_folds(a, other_split, "transformer")
    with pytest.raises(ValueError, match="different folds"):
        compare_folds(a, read_cv_record(_cv_record(tmp_path, "seed7", [0.7, 0.8], fold_seed=7)), "transformer")
    with pytest.raises(KeyError):
        compare_folds(a, b, "tfidf")
    for name, text in (("empty.json", "{}"), ("list.json", "[1, 2]")):
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match="no cross-validation"):
            read_cv_record(tmp_path / name)


def test_model_card_shows_reference_runs_on_the_same_folds_only(tmp_path):
    from classifier.evaluation.folds import read_cv_record
    from classifier.training.modelcard import cv_reference, render_card

    def with_means(directory):
        record = read_cv_record(directory)
        folds = record["models"]["transformer"]["opp115_folds"]
        for metric in ("micro_f1", "macro_f1"):
            values = [f[metric] for f in folds["fold_details"]]
            folds[metric] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values), "folds": values}
        return record

    own = with_means(_cv_record(tmp_path, "own", [0.70, 0.80]))
    mpnet = with_means(_cv_record(tmp_path, "mpnet", [0.72, 0.84]))
    reference = cv_reference("MPNet-base", "runs/mpnet", mpnet, "transformer", own, "transformer")
    assert reference["opp115_folds"]["macro_f1"]["mean"] == pytest.approx(0.78)
    assert "fold_details" not in reference["opp115_folds"]

    labels = ["other", "children"]
    metrics = {"thresholds": {"other": 0.5, "children": 0.5}, "cross_validation": own,
               "cross_validation_references": [reference]}
    card = render_card(labels, {"epochs": 8}, metrics)
    assert "| MPNet-base (`transformer` of `runs/mpnet`) | 0.780 ± 0.085 | 0.780 ± 0.085 | n/a |" in card
    assert "MPNet-base" not in render_card(labels, {"epochs": 8}, {**metrics, "cross_validation_references": []})

    other_split = read_cv_record(_cv_record(tmp_path, "other", [0.7, 0.8], sizes=((18, 500), (19, 521))))
    with pytest.raises(ValueError, match="different folds"):
        cv_reference("other", "runs/other", other_split, "transformer", own, "transformer")
    with pytest.raises(ValueError, match="no model 'teacher'"):
        cv_reference("MPNet-base", "runs/mpnet", mpnet, "teacher", own, "transformer")
