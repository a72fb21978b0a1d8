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


def _chromium() -> str:
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium here (CI installs Debian's chromium)")


def _browse(url: str, tmp_path: Path, *, screenshot: Path | None = None) -> str:
    """The DOM a headless Chromium renders for ``url`` (and a screenshot of it)."""
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,2000"]
    if screenshot is not None:
        subprocess.run([*command, f"--screenshot={screenshot}", url], check=True, capture_output=True, timeout=120)
    return subprocess.run([*command, "--dump-dom", url], check=True, capture_output=True, text=True,
                          timeout=120).stdout


def test_a_report_renders_in_a_real_browser_with_working_evidence_links_and_inert_script(shipped, tmp_path):
    import re

    policy = (ROOT / "data/seed_corpus/policies/000_a4b63d12a38884ef.txt").read_text(encoding="utf-8")
    page = tmp_path / "report.html"
    page.write_text(shipped.report(policy + "\n\n<script>document.title='pwned'</script>\n"), encoding="utf-8")
    shot = tmp_path / "report.png"
    dom = _browse(page.as_uri(), tmp_path, screenshot=shot)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    assert "<title>pwned</title>" not in dom and "&lt;script&gt;document.title" in dom
    links, anchors = set(re.findall(r'href="#(p-\d+)"', dom)), set(re.findall(r'id="(p-\d+)"', dom))
    assert len(links) >= 5 and links <= anchors
    assert dom.count('class="state covered"') >= 4 and "Third Party Sharing/Collection" in dom
    assert "scores calibrated per label on out-of-fold predictions" in dom  # the shipped calibration.json
    assert "## Calibration" in (DEFAULT_MODEL_DIR / "README.md").read_text(encoding="utf-8")  # and its card says so


def test_the_service_answers_a_real_browser_and_a_real_client(tmp_path):
    import socket
    import time

    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "classifier", "serve", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.5)
        shot = tmp_path / "form.png"
        form = _browse(f"http://127.0.0.1:{port}/", tmp_path, screenshot=shot)
        assert 'action="/report"' in form and "<textarea" in form and shot.stat().st_size > 5_000
        policy = (ROOT / "data/seed_corpus/policies/000_a4b63d12a38884ef.txt").read_bytes()
        rows = httpx.post(f"http://127.0.0.1:{port}/classify", files={"file": ("policy.txt", policy)}, timeout=120)
        assert rows.status_code == 200 and len(rows.json()["rows"]) > 5
        assert any(r["attributes"] for r in rows.json()["rows"])
        report = httpx.post(f"http://127.0.0.1:{port}/report", data={"text": policy.decode()}, timeout=120)
        assert report.status_code == 200 and "covered" in report.text
    finally:
        server.terminate()
        server.wait(timeout=30)
