"""The attribute schema and OPP-115 attribute gold (issue #29): the majority rule on a hand-made annotation file."""

from __future__ import annotations

import csv
import json

import pytest

from classifier.attributes import ATTRIBUTE_IDS, attribute, value_id
from classifier.data.attributes import load_opp115_attributes, read_attribute_votes


def _annotation(annotator, segment, category, attributes):
    return ["1", "job", annotator, "1", str(segment), category,
            json.dumps({name: {"value": value, "selectedText": "x", "startIndexInSegment": 0,
                               "endIndexInSegment": 1} for name, value in attributes.items()}), "date", "url"]


def _opp115(root, rows, segments=("<p>We collect your email.</p>", "<p>We share it with advertisers.</p>")):
    (root / "annotations").mkdir(parents=True)
    (root / "sanitized_policies").mkdir()
    (root / "sanitized_policies" / "7_example.com.html").write_text("|||".join(segments))
    with open(root / "annotations" / "7_example.com.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return root


def test_value_ids_are_the_snake_case_of_opp115_names():
    assert value_id("IP address and device IDs") == "ip_address_and_device_ids"
    assert value_id("User Profile") == value_id("User profile") == "user_profile"
    assert value_id("Dont use service/feature") == "dont_use_service_feature"
    assert {"personal_information_type", "purpose", "third_party_entity", "choice_type",
            "retention_period"} <= set(ATTRIBUTE_IDS)
    assert "advertising" in attribute("purpose").values and "unspecified" not in attribute("purpose").values
    with pytest.raises(KeyError, match="unknown attribute 'colour'"):
        attribute("colour")


def test_a_value_counts_when_two_annotators_give_it_under_the_same_category(tmp_path):
    share = "Third Party Sharing/Collection"
    rows = [
        # segment 1: advertising from two annotators (counts); marketing from one (does not); the same annotator
        # twice is one vote; Unspecified is never a value
        _annotation("a", 1, share, {"Purpose": "Advertising", "Third Party Entity": "Unnamed third party"}),
        _annotation("b", 1, share, {"Purpose": "Advertising", "Third Party Entity": "Unspecified"}),
        _annotation("c", 1, share, {"Purpose": "Marketing", "Third Party Entity": "Unspecified"}),
        _annotation("c", 1, share, {"Purpose": "Marketing"}),
        # segment 0: contact from three annotators, two under first-party collection (counts there) and one under
        # choice (does not count there); Does from one annotator (does not count)
        _annotation("a", 0, "First Party Collection/Use", {"Personal Information Type": "Contact"}),
        _annotation("b", 0, "User Choice/Control", {"Personal Information Type": "Contact"}),
        _annotation("c", 0, "First Party Collection/Use", {"Personal Information Type": "Contact",
                                                           "Does/Does Not": "Does"}),
    ]
    root = _opp115(tmp_path / "opp", rows)
    votes = read_attribute_votes(root / "annotations" / "7_example.com.csv")
    assert votes[1][("third_party_sharing", "purpose", "marketing")] == {"c"}
    gold = load_opp115_attributes(root)
    assert gold == {("7_example.com", 1): ["third_party_sharing/purpose/advertising"],
                    ("7_example.com", 0): ["first_party_collection/personal_information_type/contact"]}
    assert load_opp115_attributes(root, min_annotators=3) == {}


def test_the_gold_of_the_real_corpus_has_the_attributes_the_issue_names(opp115_dir):
    gold = load_opp115_attributes(opp115_dir)
    stated = {key for keys in gold.values() for key in keys}
    for key in ("first_party_collection/personal_information_type/contact",
                "third_party_sharing/third_party_entity/unnamed_third_party",
                "third_party_sharing/purpose/advertising", "data_retention/retention_period/stated_period",
                "international_specific_audiences/audience_type/children"):
        assert key in stated
    assert not any(key.endswith("/unspecified") for key in stated)


def test_split_key_reads_flat_and_category_keys_and_refuses_what_the_schema_lacks():
    from classifier.attributes import split_key

    assert split_key("purpose/advertising") == (None, "purpose", "advertising")
    assert split_key("third_party_sharing/purpose/advertising") == ("third_party_sharing", "purpose", "advertising")
    for bad in ("purpose", "purpose/colour", "data_security/purpose/advertising", "a/b/c/d"):
        with pytest.raises(ValueError, match="attribute key"):
            split_key(bad)


def test_values_are_given_only_in_paragraphs_with_a_category_they_belong_to():
    import numpy as np

    from classifier.attributes import gate_attributes

    labels = ["first_party_collection", "third_party_sharing", "data_security"]
    keys = ["purpose/advertising", "third_party_sharing/purpose/advertising", "third_party_sharing/purpose/marketing",
            "personal_information_type/location"]
    scores = np.array([[0.6, 0.9, 0.3, 0.8],   # sharing: its own key's higher score wins; marketing under its cut
                       [0.6, 0.9, 0.9, 0.8],   # security only: no category these values belong to
                       [0.7, 0.9, 0.9, 0.2]])  # collection only: the flat key, not the sharing ones
    given = np.array([[False, True, False], [False, False, True], [True, False, False]])
    out = gate_attributes(keys, [0.5, 0.5, 0.5, 0.5], scores, given, labels)
    assert out == [{"purpose": {"advertising": 0.9}, "personal_information_type": {"location": 0.8}}, {},
                   {"purpose": {"advertising": 0.7}}]
    assert list(out[0]) == ["purpose", "personal_information_type"]


def test_a_model_with_attribute_outputs_fills_prediction_attributes_and_retention(tiny_attribute_model_dir):
    from classifier.models.transformer import PolicyClassifier

    model = PolicyClassifier.from_pretrained(tiny_attribute_model_dir, device="cpu", precision="fp32")
    assert model.labels[-1] == "children" and len(model.attribute_keys) == 4
    assert model.predict_proba(["x"]).shape == (1, len(model.labels))
    (prediction,) = model.predict(["We keep your data for two years."])
    assert prediction.labels == ["first_party_collection", "data_retention"]
    # the unnamed third party belongs to sharing, which was not given; the stated period scored near 0
    assert {attr: list(values) for attr, values in prediction.attributes.items()} == {
        "personal_information_type": ["contact"], "purpose": ["advertising"]}
    assert [(p.text, p.duration) for p in prediction.retention] == [("two years", "P2Y")]
    # the card view gates on the same OPP-115 categories
    (card,) = model.predict(["We keep your data for two years."], scheme="card")
    assert card.attributes == prediction.attributes
    # a model without attribute outputs gives none, and quotes retention all the same
    (plain,) = model.predict(["We keep your data for two years."], threshold=1.0)
    assert plain.labels == [] and plain.attributes == {} and plain.retention == ()


def test_a_saved_model_with_attribute_outputs_round_trips_and_bad_keys_are_refused(tiny_attribute_model_dir, tmp_path):
    import json
    import shutil

    from classifier.models.base import ModelLoadError
    from classifier.models.transformer import PolicyClassifier

    model = PolicyClassifier.from_pretrained(tiny_attribute_model_dir, device="cpu", precision="fp32")
    model.attribute_thresholds = [0.25, 0.5, 0.75, 0.9]
    again = PolicyClassifier.from_pretrained(model.save_pretrained(tmp_path / "saved"), device="cpu",
                                             precision="fp32")
    assert (again.attribute_keys, again.attribute_thresholds) == (model.attribute_keys, [0.25, 0.5, 0.75, 0.9])
    config = json.loads((tiny_attribute_model_dir / "config.json").read_text())
    names = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    unknown = [*names[:-1], "purpose/colour"]
    swapped = [*names[:10], names[11], names[10], *names[12:]]  # 'children' after an attribute output
    for outputs, message in ((unknown, "'purpose/colour' is not in the schema"),
                             (swapped, "must come after the categories")):
        broken = tmp_path / f"broken-{len(message)}"
        shutil.copytree(tiny_attribute_model_dir, broken)
        (broken / "config.json").write_text(json.dumps({**config, "id2label": dict(enumerate(outputs))}))
        with pytest.raises(ModelLoadError, match=message):
            PolicyClassifier.from_pretrained(broken, device="cpu", precision="fp32")


def _small_opp115(root, n_policies=8):
    """``n_policies`` three-segment policies, each segment annotated alike by two annotators."""
    (root / "annotations").mkdir(parents=True)
    (root / "sanitized_policies").mkdir()
    segments = ["We collect your email address and name.", "We share your data with advertisers for ads.",
                "We keep your data for two years."]
    for policy in range(n_policies):
        stem = f"{policy + 1}_site{policy}.com"
        (root / "sanitized_policies" / f"{stem}.html").write_text("|||".join(segments))
        rows = []
        for annotator in ("a", "b"):
            rows += [_annotation(annotator, 0, "First Party Collection/Use", {"Personal Information Type": "Contact"}),
                     _annotation(annotator, 1, "Third Party Sharing/Collection",
                                 {"Purpose": "Advertising", "Third Party Entity": "Unnamed third party"}),
                     _annotation(annotator, 2, "Data Retention", {"Retention Period": "Stated Period"})]
        with open(root / "annotations" / f"{stem}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    return root


def test_a_config_with_attributes_builds_their_columns_from_opp115_and_leaves_other_corpora_unknown(tmp_path):
    import numpy as np

    from classifier.attributes import OUTPUT_KEYS
    from classifier.data.attributes import attribute_targets
    from classifier.training.config import TrainConfig
    from classifier.training.data import build_dataset

    root = _small_opp115(tmp_path / "opp", 2)
    data = build_dataset(TrainConfig(opp115=[str(root)], seed_corpus=["data/seed_corpus"], attributes=True))
    targets, known = attribute_targets(data)
    opp = np.asarray(data["corpus"]) == "opp115"
    assert targets.shape == (len(data), len(OUTPUT_KEYS)) and known[opp].all() and not known[~opp].any()
    stated = [[OUTPUT_KEYS[j] for j in np.flatnonzero(row)] for row in targets[opp][:3]]
    assert stated == [["personal_information_type/contact"],
                      ["purpose/advertising", "third_party_entity/unnamed_third_party"],
                      ["retention_period/stated_period"]]
    with pytest.raises(ValueError, match="attributes are learnt from OPP-115"):
        TrainConfig(seed_corpus=["data/seed_corpus"], attributes=True).validate()


def test_training_with_attributes_gives_one_model_with_category_and_attribute_outputs(tiny_encoder, tmp_path):
    from classifier.attributes import OUTPUT_KEYS
    from classifier.models.transformer import PolicyClassifier
    from classifier.training.config import TrainConfig
    from classifier.training.loop import train

    root = _small_opp115(tmp_path / "opp")
    config = TrainConfig(encoder=str(tiny_encoder), opp115=[str(root)], attributes=True, attribute_model="transformer",
                         epochs=2, batch_size=8,
                         learning_rate=1e-3, max_length=32, validation_fraction=0.25, output_dir=str(tmp_path / "run"),
                         device="cpu", precision="fp32", half=False)
    model, metrics = train(config)
    assert model.attribute_keys == list(OUTPUT_KEYS) and len(model.attribute_thresholds) == len(OUTPUT_KEYS)
    assert "purpose/advertising" in metrics["thresholds"]
    assert all("val_attribute_micro_f1" in epoch for epoch in metrics["history"])
    saved = PolicyClassifier.from_pretrained(tmp_path / "run" / "model", device="cpu", precision="fp32")
    assert saved.attribute_keys == list(OUTPUT_KEYS) and saved.predict_proba(["x"]).shape == (1, 11)


def test_crossval_with_attributes_reports_them_beside_the_tfidf_baseline_and_resumes(tiny_encoder, tmp_path):
    from safetensors.numpy import load_file
    from typer.testing import CliRunner

    from classifier.cli.app import app

    root = _small_opp115(tmp_path / "opp")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"encoder": str(tiny_encoder), "opp115": [str(root)], "epochs": 1, "batch_size": 8,
                                  "max_length": 32, "device": "cpu", "precision": "fp32", "half": False,
                                  "attributes": True, "attribute_model": "transformer"}))
    out = tmp_path / "cv"
    command = ["crossval", "--config", str(config), "--model-type", "transformer",
               "--model-type", "tfidf", "--ensemble", "--k", "4", "-o", str(out)]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    reports = json.loads((out / "cv.json").read_text())["attributes"]
    assert list(reports) == ["transformer", "transformer+tfidf", "tfidf_baseline"]
    purpose = reports["tfidf_baseline"]["attributes"]["purpose"]
    assert purpose["paragraph"]["support"] == 8 and purpose["policy"]["support"] == 8  # one per policy
    assert reports["transformer"]["values"]["purpose/advertising"]["support"] == 8
    assert "| purpose (8) |" in (out / "attributes.md").read_text()
    assert load_file(str(out / "oof.safetensors"))["transformer.attribute_probs"].shape == (24, 66)
    resumed = CliRunner().invoke(app, [*command, "--resume"])
    assert resumed.exit_code == 0 and resumed.stderr.count("taken from") == 4
    assert json.loads((out / "cv.json").read_text())["attributes"]["transformer"] == reports["transformer"]

    # the release takes the attribute outputs' thresholds from the same out-of-fold predictions, and says so
    import numpy as np

    from classifier.attributes import OUTPUT_KEYS
    from classifier.data.attributes import attribute_targets
    from classifier.evaluation.folds import oof_thresholds
    from classifier.models.transformer import PolicyClassifier
    from classifier.training.config import TrainConfig
    from classifier.training.data import build_dataset

    model_dir = tmp_path / "model"
    built = CliRunner().invoke(app, ["release", "--config", str(config), "--cv", str(out), "-o", str(model_dir),
                                     "--work-dir", str(tmp_path / "work")])
    assert built.exit_code == 0, built.output
    released = PolicyClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")
    oof = load_file(str(out / "oof.safetensors"))
    targets, known = attribute_targets(build_dataset(TrainConfig.from_json(config)))
    pooled, _ = oof_thresholds(targets, oof["transformer.attribute_probs"], oof["transformer.fold"], known)
    assert released.attribute_keys == list(OUTPUT_KEYS)
    assert np.allclose(released.attribute_thresholds, pooled, atol=1e-4)
    assert "## Attributes (cross-validated)" in (model_dir / "README.md").read_text()


def test_the_loss_adds_the_attribute_outputs_mean_at_its_weight_beside_the_categories_mean():
    import torch

    from classifier.training.loop import _masked_mean

    losses = torch.tensor([[1.0, 3.0, 10.0, 20.0, 30.0], [5.0, 7.0, 40.0, 50.0, 60.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 1.0, 1.0]])
    categories, attributes = (1 + 3 + 5) / 3, (10 + 30 + 40 + 50 + 60) / 5
    assert _masked_mean(losses, mask).item() == pytest.approx((9 + 190) / 8)  # no attribute outputs: one mean
    assert _masked_mean(losses, mask, 2, 0.2).item() == pytest.approx(categories + 0.2 * attributes)
    assert _masked_mean(losses, mask, 2, 0.0).item() == pytest.approx(categories)


def test_the_tfidf_member_learns_sparse_attribute_outputs_that_round_trip_and_refuses_bad_weights(tmp_path,
                                                                                                  monkeypatch):
    import numpy as np
    from safetensors.numpy import load_file, save_file

    import classifier.models.tfidf as tfidf_module
    from classifier.labels import LABEL_IDS
    from classifier.models.base import ModelLoadError
    from classifier.models.tfidf import TfidfBaseline

    ads = [f"We show ads from advertiser number {i} on partner sites." for i in range(12)]
    email = [f"We collect your email address when you sign up for list {i}." for i in range(12)]
    texts = ads + email
    keys = ["purpose/advertising", "personal_information_type/contact", "retention_period/stated_period"]
    targets = np.zeros((len(texts), 3), dtype=np.float32)
    targets[:12, 0] = targets[12:, 1] = 1
    targets[[0, 12], 2] = 1
    known = np.ones_like(targets)
    known[[0, 12], 2] = 0  # the only rows that state a period are masked: nothing left to learn it from
    y = np.zeros((len(texts), len(LABEL_IDS)), dtype=np.float32)
    y[:12, LABEL_IDS.index("third_party_sharing")] = y[12:, LABEL_IDS.index("first_party_collection")] = 1
    monkeypatch.setattr(tfidf_module, "ATTRIBUTE_TERMS", 40)
    model = TfidfBaseline.fit(texts, y, LABEL_IDS, attributes=(targets, known, keys))

    assert model.attribute_keys == keys and model.attribute_thresholds == [0.5, 0.5, 0.5]
    assert np.count_nonzero(model.attribute_coef, axis=1).tolist() == [40, 40, 0]  # refitted on its 40 strongest
    new = ["Advertisers show ads on partner sites.", "Give us your email address."]
    probs, attributes = model.predict_scores(new)
    assert attributes[0, 0] > 0.5 > attributes[1, 0] and attributes[1, 1] > 0.5 > attributes[0, 1], attributes
    assert (attributes[:, 2] < 0.01).all()
    np.testing.assert_array_equal(probs, model.predict_proba(new))
    dense = TfidfBaseline(keys, model.vocabulary, model.idf, model.attribute_coef, model.attribute_intercept,
                          char_vocabulary=model.char_vocabulary, char_ngrams=model.char_ngrams)
    np.testing.assert_allclose(attributes, dense.predict_proba(new), atol=1e-6)  # the sparse sum is the dense one

    saved = model.save_pretrained(tmp_path / "tfidf")
    again = TfidfBaseline.from_pretrained(saved)
    assert again.attribute_keys == keys
    np.testing.assert_allclose(again.predict_scores(new)[1], attributes, atol=1e-6)
    assert TfidfBaseline.from_pretrained(TfidfBaseline.fit(texts, y, LABEL_IDS).save_pretrained(
        tmp_path / "plain")).predict_scores(new)[1] is None

    tensors = load_file(str(saved / "weights.safetensors"))
    tensors["attribute_indices"][0] = len(tensors["idf"])
    save_file(tensors, str(saved / "weights.safetensors"))
    with pytest.raises(ModelLoadError, match="attribute weights do not fit together"):
        TfidfBaseline.from_pretrained(saved)


def test_by_default_the_tfidf_member_learns_the_attributes_in_crossval_and_release(tiny_encoder, tmp_path):
    from typer.testing import CliRunner

    from classifier.attributes import OUTPUT_KEYS
    from classifier.cli.app import app
    from classifier.models.transformer import PolicyClassifier

    root = _small_opp115(tmp_path / "opp")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"encoder": str(tiny_encoder), "opp115": [str(root)], "epochs": 1, "batch_size": 8,
                                  "max_length": 32, "device": "cpu", "precision": "fp32", "half": False,
                                  "attributes": True}))
    out = tmp_path / "cv"
    result = CliRunner().invoke(app, ["crossval", "--config", str(config), "--model-type", "transformer",
                                      "--model-type", "tfidf", "--ensemble", "--k", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    reports = json.loads((out / "cv.json").read_text())["attributes"]
    assert list(reports) == ["tfidf", "transformer+tfidf", "tfidf_baseline"]  # the head learnt none
    assert reports["tfidf"]["attributes"]["purpose"]["paragraph"]["support"] == 8

    model_dir = tmp_path / "model"
    built = CliRunner().invoke(app, ["release", "--config", str(config), "--cv", str(out), "-o", str(model_dir),
                                     "--work-dir", str(tmp_path / "work")])
    assert built.exit_code == 0, built.output
    released = PolicyClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")
    assert len(released.outputs) == 11 and released.attribute_keys == list(OUTPUT_KEYS)
    assert released.attribute_thresholds == [0.5] * len(OUTPUT_KEYS)
    _, attributes = released.predict_scores(["We share your data with advertisers for ads.",
                                             "We keep your data for two years."])
    advertising = list(OUTPUT_KEYS).index("purpose/advertising")
    assert attributes.shape == (2, len(OUTPUT_KEYS)) and attributes[0, advertising] > 0.5 > attributes[1, advertising]
    assert "## Attributes (cross-validated)" in (model_dir / "README.md").read_text()


def test_release_attributes_gives_a_released_model_attribute_outputs_and_leaves_its_categories(tiny_encoder,
                                                                                                tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from classifier.attributes import OUTPUT_KEYS
    from classifier.cli.app import app
    from classifier.models.transformer import PolicyClassifier

    root = _small_opp115(tmp_path / "opp")
    recipe = {"encoder": str(tiny_encoder), "opp115": [str(root)], "epochs": 1, "batch_size": 8, "max_length": 32,
              "device": "cpu", "precision": "fp32", "half": False}
    plain, with_attributes = tmp_path / "plain.json", tmp_path / "attributes.json"
    plain.write_text(json.dumps(recipe))
    with_attributes.write_text(json.dumps({**recipe, "attributes": True}))
    runner = CliRunner()
    for config, out, types in ((plain, "cv", ["transformer", "tfidf"]), (with_attributes, "cv-attr", ["tfidf"])):
        flags = [flag for name in types for flag in ("--model-type", name)]
        result = runner.invoke(app, ["crossval", "--config", str(config), *flags, "--ensemble", "--k", "4",
                                     "-o", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    model_dir = tmp_path / "model"
    built = runner.invoke(app, ["release", "--config", str(plain), "--cv", str(tmp_path / "cv"), "-o",
                                str(model_dir), "--work-dir", str(tmp_path / "work")])
    assert built.exit_code == 0, built.output
    (model_dir / "detector.json").write_text("{}")  # a detector fitted for the model is kept beside it
    texts = ["We share your data with advertisers for ads.", "We keep your data for two years."]
    before = PolicyClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")
    assert before.attribute_keys == [] and before.predict_scores(texts)[1] is None

    result = runner.invoke(app, ["release-attributes", "--model", str(model_dir), "--cv", str(tmp_path / "cv-attr"),
                                 "-o", str(model_dir)])
    assert result.exit_code == 0, result.output
    after = PolicyClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")
    probs, attributes = after.predict_scores(texts)
    np.testing.assert_array_equal(probs, before.predict_scores(texts)[0])
    assert after.attribute_keys == list(OUTPUT_KEYS) and attributes.shape == (2, len(OUTPUT_KEYS))
    assert (model_dir / "detector.json").read_text() == "{}"
    assert "## Attributes (cross-validated)" in (model_dir / "README.md").read_text()

    refused = runner.invoke(app, ["release-attributes", "--model", str(model_dir), "--cv", str(tmp_path / "cv"),
                                  "-o", str(tmp_path / "other")])
    assert refused.exit_code == 2 and "not a cross-validation of" in refused.stderr
    assert "Traceback" not in refused.output and not (tmp_path / "other").exists()
