"""End-to-end tests on the shipped model and the real corpora (marked ``e2e``; CI runs them)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from classifier.models.transformer import DEFAULT_MODEL_DIR

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shipped():
    if not (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        pytest.skip("no shipped model in models/")
    from classifier import PolicyClassifier

    return PolicyClassifier.from_pretrained()


HAND_CHECKED = [
    ("We share your e-mail address and browsing history with advertising partners so they can show you ads.",
     "third_party_sharing"),
    ("We collect your name, phone number and device identifiers when you register an account.",
     "first_party_collection"),
    ("We retain your personal data for no longer than two years after you close your account.", "data_retention"),
    ("We use encryption, firewalls and strict access controls to protect your personal information.",
     "data_security"),
    ("Our services are not directed to children under 13 and we do not knowingly collect their information.",
     "children"),
    ("We may update this privacy policy from time to time and will notify you of material changes by e-mail.",
     "policy_change"),
    ("You can access, correct or delete your personal information at any time in your account settings.",
     "user_access_edit_deletion"),
    ("You may opt out of receiving marketing e-mails by clicking the unsubscribe link in any message.",
     "user_choice_control"),
]


@pytest.mark.parametrize(("text", "label"), HAND_CHECKED)
def test_shipped_model_labels_hand_checked_paragraphs(shipped, text, label):
    assert label in shipped.predict([text])[0].labels


def test_shipped_model_on_a_seed_policy(shipped, seed_files):
    doc = shipped.classify_document(seed_files[4], scheme="card")
    summary = doc.summary()
    assert all(summary[label].covered for label in ("first_party_collection", "third_party_sharing", "children",
                                                    "security", "user_rights"))


def test_cli_classifies_a_real_policy(tmp_path, shipped, seed_files):
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "classifier", "classify", str(seed_files[0]), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().count("\n") == 34


def test_notebooks_execute(shipped, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    eval_dir = tmp_path / "notebook-eval"
    proc = subprocess.run([sys.executable, "-m", "classifier", "evaluate", "--data",
                           str(ROOT / "data" / "seed_corpus"), "-o", str(eval_dir), "--n-boot", "100"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    os.environ["EVAL_DIR"] = str(eval_dir)
    for name in ("quickstart", "evaluation"):
        notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()


def test_the_shipped_model_says_what_a_sharing_paragraph_shares_with_whom_and_why(shipped):
    (prediction,) = shipped.predict(["We share your email address and precise location with advertising partners so "
                                     "they can show you targeted ads."])
    assert "third_party_sharing" in prediction.labels
    assert {"contact", "location"} <= set(prediction.attributes["personal_information_type"])
    assert "advertising" in prediction.attributes["purpose"]
    assert prediction.attributes["third_party_entity"]
    assert len(shipped.attribute_keys) == 66 and shipped.attribute_thresholds == [0.5] * 66
