import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifier.cli.app import app
from classifier.predict.batch import run_batch

runner = CliRunner()


def _policies(tmp_path: Path, n: int = 4) -> Path:
    folder = tmp_path / "policies"
    (folder / "sub").mkdir(parents=True)
    for i in range(n):
        target = folder / ("sub" if i % 2 else "") / f"p{i}.md"
        target.write_text(f"# Policy {i}\n\nWe collect your email address {i}.\n\nWe share data with partners.\n\n"
                          f"Contact us at privacy{i}@example.com.\n")
    (folder / "notes.bin").write_bytes(b"\x00\x01")  # not matched by the default globs
    return folder


def _jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_classify_directory_to_stdout(tmp_path, tiny_model_dir):
    folder = _policies(tmp_path)
    result = runner.invoke(app, ["classify", str(folder), "--model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    rows = _jsonl(result.stdout)
    assert len(rows) == 12 and len({r["source"] for r in rows}) == 4
    assert set(rows[0]) == {"source", "url", "is_policy", "policy_probability", "paragraph", "start", "end", "section",
                            "text", "labels", "scores", "attributes", "retention"}
    assert rows[0]["section"].startswith("Policy")


def test_precision_and_streams_options(tmp_path, tiny_model_dir):
    folder = _policies(tmp_path, n=2)
    outputs = []
    for extra in (["--precision", "fp32", "--streams", "1"], ["--precision", "fp32", "--streams", "2"]):
        result = runner.invoke(app, ["classify", str(folder), "--model", str(tiny_model_dir), *extra])
        assert result.exit_code == 0, result.output
        outputs.append([(r["source"], r["labels"]) for r in _jsonl(result.stdout)])
    assert outputs[0] == outputs[1] and len(outputs[0]) == 6
    bad = runner.invoke(app, ["classify", str(folder), "--model", str(tiny_model_dir), "--precision", "fp64"])
    assert bad.exit_code == 2 and "fp64" in bad.output


def test_classify_stdin_card_scheme_and_threshold(tiny_model_dir):
    text = "We collect your name.\n\nWe keep it for a year.\n"
    result = runner.invoke(app, ["classify", "-", "--model", str(tiny_model_dir), "--scheme", "card",
                                 "--threshold", "0.99"], input=text)
    assert result.exit_code == 0, result.output
    rows = _jsonl(result.stdout)
    assert [r["source"] for r in rows] == ["<stdin>", "<stdin>"]
    assert set(rows[0]["scores"]) == {"first_party_collection", "third_party_sharing", "retention", "user_rights",
                                      "children", "security"}


def test_bad_inputs_are_reported_and_the_batch_goes_on(tmp_path, tiny_model_dir):
    good = tmp_path / "good.txt"
    good.write_text("We collect your email.\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    big = tmp_path / "big.txt"
    big.write_text("x" * 5000)
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classify", str(empty), str(good), str(binary), str(tmp_path / "missing.txt"),
                                 str(big), str(empty_dir), "-o", str(out), "--model", str(tiny_model_dir),
                                 "--max-bytes", "4000"])
    assert result.exit_code == 1
    err = result.stderr
    assert "empty.txt: empty policy" in err and "binary.txt: binary file" in err
    assert "missing.txt: no such file" in err and "big.txt: file too large" in err
    assert "nothing: directory holds no policy files" in err
    assert "Traceback" not in err
    assert {r["source"] for r in _jsonl(out.read_text())} == {str(good)}


def test_a_file_with_no_paragraphs_is_reported_not_silently_skipped(tmp_path, tiny_model_dir):
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"Privacy \xff\xfe\xfa policy \x81\x8d")  # decodes (a legacy code page), no paragraph
    good = tmp_path / "good.txt"
    good.write_text("We collect your email.\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classify", str(junk), str(good), "-o", str(out), "--model", str(tiny_model_dir)])
    assert result.exit_code == 1
    assert "junk.txt: no paragraphs found" in result.stderr and "Traceback" not in result.stderr
    assert {r["source"] for r in _jsonl(out.read_text())} == {str(good)}


def test_missing_or_corrupt_model_exit_3(tmp_path):
    policy = tmp_path / "p.txt"
    policy.write_text("We collect data.\n")
    result = runner.invoke(app, ["classify", str(policy), "--model", str(tmp_path / "nope")])
    assert result.exit_code == 3 and "model directory not found" in result.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (bad / name).write_text("garbage")
    result = runner.invoke(app, ["classify", str(policy), "--model", str(bad)])
    assert result.exit_code == 3 and result.stderr.count("\n") == 1


def test_no_policies_at_all_exits_1(tmp_path, tiny_model_dir):
    result = runner.invoke(app, ["classify", str(tmp_path / "missing"), "--model", str(tiny_model_dir)])
    assert result.exit_code == 1 and "no policies to classify" in result.stderr
    assert result.stderr.count("\n") == 1 and "missing: no such file" in result.stderr  # one line for one bad path


def test_csv_and_jsonl_round_trip(tmp_path, tiny_model_dir):
    folder = _policies(tmp_path, 2)
    out_json, out_csv = tmp_path / "o.jsonl", tmp_path / "o.csv"
    model = ["--model", str(tiny_model_dir)]
    assert runner.invoke(app, ["classify", str(folder), "-o", str(out_json), *model]).exit_code == 0
    assert runner.invoke(app, ["classify", str(folder), "-o", str(out_csv), "-f", "csv",
                               "--model", str(tiny_model_dir)]).exit_code == 0
    rows = _jsonl(out_json.read_text())
    table = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == len(table) == 6
    for r, c in zip(rows, table, strict=True):
        assert c["text"] == r["text"] and c["labels"] == ";".join(r["labels"])
        assert float(c["score_other"]) == pytest.approx(r["scores"]["other"])


def test_summary_table(tmp_path, tiny_model_dir):
    folder = _policies(tmp_path, 2)
    result = runner.invoke(app, ["classify", str(folder), "--summary", "--model", str(tiny_model_dir)])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("| policy | paragraphs | first_party_collection") and len(lines) == 4


def test_resume_after_a_torn_write_has_no_duplicates_or_gaps(tmp_path, tiny_classifier):
    folder = _policies(tmp_path, 6)
    inputs = sorted(str(p) for p in folder.rglob("*.md"))
    out = tmp_path / "out.jsonl"
    run_batch(tiny_classifier, inputs[:3], output=out)
    complete = out.read_bytes()
    # simulate a crash in the middle of writing the fourth policy: half a row after the journal's last entry
    with open(out, "ab") as handle:
        handle.write(b'{"source": "half a row')
    result = run_batch(tiny_classifier, inputs, output=out, resume=True)
    assert result.skipped == inputs[:3] and result.done == inputs[3:]
    rows = _jsonl(out.read_text())
    assert out.read_bytes().startswith(complete)
    keys = [(r["source"], r["paragraph"]) for r in rows]
    assert len(keys) == len(set(keys)) == 18
    assert {r["source"] for r in rows} == set(inputs)


def test_resume_after_killed_subprocess(tmp_path, tiny_model_dir):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"p{i:02d}.txt").write_text("\n\n".join(f"We collect item {i}-{j} of your data." for j in range(30)))
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "classifier", "classify", str(folder), "-o", str(out), "--model",
           str(tiny_model_dir), "--device", "cpu", "--batch-size", "4", "--group-size", "30"]  # a policy a group
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    journal = out.with_name(out.name + ".progress")
    while time.time() < deadline and (not journal.exists() or journal.read_text().count("\n") < 3):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = journal.read_text().count("\n")
    assert 0 < finished_before < 40, "the run should be killed part-way"
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    rows = _jsonl(out.read_text())
    keys = [(r["source"], r["paragraph"]) for r in rows]
    assert len(keys) == len(set(keys)) == 40 * 30


def test_policies_are_labelled_in_groups_with_the_same_rows(tmp_path, tiny_classifier, monkeypatch):
    folder = _policies(tmp_path, 5)  # 3 paragraphs each
    inputs = sorted(str(p) for p in folder.rglob("*.md"))
    calls = []
    original = type(tiny_classifier).predict

    def counting_predict(self, texts, **kwargs):
        calls.append(len(texts))
        return original(self, texts, **kwargs)

    monkeypatch.setattr(type(tiny_classifier), "predict", counting_predict)
    outputs = {}
    for group in (1, 7, 1024):
        calls.clear()
        out = tmp_path / f"group{group}.jsonl"
        result = run_batch(tiny_classifier, inputs, output=out, group_paragraphs=group)
        assert result.done == inputs
        outputs[group] = out.read_text()
        # a group closes once it holds at least ``group`` paragraphs
        assert calls == {1: [3] * 5, 7: [9, 6], 1024: [15]}[group]
        journal = [json.loads(line) for line in out.with_name(out.name + ".progress").read_text().splitlines()]
        assert [entry["source"] for entry in journal] == inputs  # each policy journalled whole, in input order
    assert outputs[1] == outputs[7] == outputs[1024]  # fp32: a paragraph's scores do not depend on its batch
    assert [r["source"] for r in _jsonl(outputs[7])] == [s for s in inputs for _ in range(3)]


def test_classify_with_a_saved_tfidf_baseline(tmp_path, toy_jsonl):
    from classifier.data.corpus import label_names, load_jsonl, multi_hot
    from classifier.models.tfidf import TfidfBaseline

    data = load_jsonl(toy_jsonl)
    baseline = TfidfBaseline.fit(data["text"], multi_hot(data), label_names(data))
    model_dir = baseline.save_pretrained(tmp_path / "tfidf")
    folder = _policies(tmp_path, 2)
    result = runner.invoke(app, ["classify", str(folder), "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    rows = _jsonl(result.stdout)
    assert len(rows) == 6 and set(rows[0]["scores"]) == set(baseline.labels)
    expected = baseline.predict_proba([rows[0]["text"]])[0]
    assert rows[0]["scores"] == pytest.approx(dict(zip(baseline.labels, expected.tolist())), abs=1e-4)
    (model_dir / "weights.safetensors").write_bytes(b"not safetensors")
    broken = runner.invoke(app, ["classify", str(folder), "--model", str(model_dir)])
    assert broken.exit_code == 3 and "cannot load TF-IDF baseline" in broken.stderr


def test_parquet_output(tmp_path, tiny_model_dir):
    folder = _policies(tmp_path, 2)
    out = tmp_path / "o.parquet"
    result = runner.invoke(app, ["classify", str(folder), "-o", str(out), "-f", "parquet", "--model",
                                 str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    from datasets import Dataset

    table = Dataset.from_parquet(str(out))
    assert len(table) == 6 and "score_children" in table.column_names


def test_help_lists_commands_and_imports_no_heavy_library():
    proc = subprocess.run([sys.executable, "-m", "classifier", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("classify", "segment", "train", "evaluate", "crossval", "data"):
        assert command in proc.stdout
    probe = ("import sys, classifier.cli.app; "
             "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"


def test_resume_refuses_an_output_without_journal(tmp_path, tiny_model_dir):
    policy = tmp_path / "p.txt"
    policy.write_text("We collect data.\n")
    out = tmp_path / "precious.jsonl"
    out.write_text('{"keep": "me"}\n')
    result = runner.invoke(app, ["classify", str(policy), "-o", str(out), "--resume", "--model", str(tiny_model_dir)])
    assert result.exit_code == 2 and "no progress journal" in result.stderr
    assert out.read_text() == '{"keep": "me"}\n'


def test_atomic_write_replaces_whole_or_leaves_the_old_file(tmp_path, monkeypatch):
    from classifier.files import atomic_write

    target = tmp_path / "metrics.json"
    atomic_write(target, "first\n")
    atomic_write(target, "zweite – ü\n")
    assert target.read_text(encoding="utf-8") == "zweite – ü\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left behind

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write(target, b"third")
    assert target.read_text(encoding="utf-8") == "zweite – ü\n"  # a failed write never tears the old file
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_attributes_and_retention_reach_every_output_format(tmp_path, tiny_attribute_model_dir):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "a.txt").write_text("We keep your email address for 30 days.\n\nWe share it with partners.\n")
    outputs = {fmt: tmp_path / f"o.{fmt}" for fmt in ("jsonl", "csv", "parquet")}
    for fmt, out in outputs.items():
        result = runner.invoke(app, ["classify", str(folder), "-o", str(out), "-f", fmt, "--model",
                                     str(tiny_attribute_model_dir)])
        assert result.exit_code == 0, result.output
    rows = _jsonl(outputs["jsonl"].read_text())
    assert [sorted(r["attributes"]) for r in rows] == [["personal_information_type", "purpose"]] * 2
    assert [[p["text"] for p in r["retention"]] for r in rows] == [["30 days"], []]
    assert rows[0]["retention"][0] == {"start": 31, "end": 38, "text": "30 days", "kind": "stated_period",
                                       "duration": "P30D", "days": 30.0, "bound": None}  # offsets in the paragraph
    table = list(csv.DictReader(io.StringIO(outputs["csv"].read_text())))
    assert table[0]["attributes"] == "personal_information_type=contact;purpose=advertising"
    assert [r["retention"] for r in table] == ["30 days (P30D)", ""]
    from datasets import Dataset

    parquet = Dataset.from_parquet(str(outputs["parquet"]))
    assert parquet[0]["attributes"] == [
        {"attribute": "personal_information_type", "value": "contact", "score": rows[0]["attributes"][
            "personal_information_type"]["contact"]},
        {"attribute": "purpose", "value": "advertising", "score": rows[0]["attributes"]["purpose"]["advertising"]}]
    assert parquet[0]["retention"][0]["duration"] == "P30D" and parquet[1]["retention"] == []


def test_the_summary_format_says_what_each_policy_states(tmp_path, tiny_attribute_model_dir, tiny_model_dir):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "a.txt").write_text("We keep your email address for 30 days.\n")
    result = runner.invoke(app, ["classify", str(folder), "--summary", "--model", str(tiny_attribute_model_dir)])
    assert result.exit_code == 0, result.output
    assert (f"- {folder / 'a.txt'}: collects: contact (¶0); uses it for: advertising (¶0); keeps data: 30 days (¶0)"
            in result.stdout)
    plain = runner.invoke(app, ["classify", str(folder), "--summary", "--model", str(tiny_model_dir)])
    assert plain.exit_code == 0 and "collects:" not in plain.stdout
