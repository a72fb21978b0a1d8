"""Regression tests for the hostile audit (issue #25): no input destroyed, no foreign code run, no duplicated rows,
no hang, no unbounded read, no traceback; one test per defect and its siblings."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifier.cli.app import app
from classifier.models.base import ModelLoadError
from classifier.models.transformer import PolicyClassifier
from classifier.predict.batch import BatchError, OutputLocked, discover_inputs, output_lock, run_batch
from classifier.text.reading import PolicyInputError, read_limited, read_policy

runner = CliRunner()
POLICY = "# Privacy\n\nWe collect your email address.\n\nWe share data with partners.\n"


def _policy(folder: Path, name: str, text: str = POLICY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def _classify(*args: str, model: Path, input: str | None = None):
    return runner.invoke(app, ["classify", *args, "--model", str(model)], input=input)


# 1. -o naming an input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", ["same", "dot", "symlink", "hardlink", "in-dir"])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path, tiny_model_dir, monkeypatch, spelling):
    folder = tmp_path / "policies"
    policy = _policy(folder, "000.txt")
    monkeypatch.chdir(tmp_path)
    inputs, output = [str(policy)], str(policy)
    if spelling == "dot":
        inputs, output = ["policies/000.txt"], "./policies/../policies/000.txt"
    elif spelling == "symlink":
        (tmp_path / "link.txt").symlink_to(policy)
        output = "link.txt"
    elif spelling == "hardlink":
        os.link(policy, tmp_path / "hard.txt")
        output = "hard.txt"
    elif spelling == "in-dir":
        inputs = [str(folder)]
    result = _classify(*inputs, "-o", output, "-f", "csv", model=tiny_model_dir)
    assert result.exit_code == 2, result.output
    assert "is also an input" in result.stderr and result.stderr.count("\n") == 1
    assert policy.read_text() == POLICY
    assert not list(tmp_path.rglob("*.lock")) and not list(tmp_path.rglob("*.progress"))


def test_the_journal_of_an_output_cannot_be_an_input_either(tmp_path, tiny_classifier):
    journal_named = _policy(tmp_path, "out.jsonl.progress")
    with pytest.raises(BatchError, match="also an input"):
        run_batch(tiny_classifier, [str(journal_named)], output=tmp_path / "out.jsonl")


# 2. a model directory that ships code -----------------------------------------------------------------------------
def _evil_model(tmp_path: Path, tiny_model_dir: Path, model_type: str = "evil-bert") -> tuple[Path, Path]:
    evil = tmp_path / "evil-model"
    shutil.copytree(tiny_model_dir, evil)
    marker = tmp_path / "code-ran"
    (evil / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                  "from transformers import BertConfig as EvilConfig\n"
                                  "from transformers import BertForSequenceClassification as EvilModel\n")
    config = json.loads((evil / "config.json").read_text())
    config["model_type"] = model_type
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForSequenceClassification": "evil.EvilModel"}
    (evil / "config.json").write_text(json.dumps(config))
    return evil, marker


def test_a_model_with_its_own_code_is_refused_on_a_terminal_without_a_prompt(tmp_path, tiny_model_dir):
    import pty
    import select

    evil, marker = _evil_model(tmp_path, tiny_model_dir)
    policy = _policy(tmp_path, "p.txt")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "classifier", "classify", str(policy), "--model", str(evil)],
                            stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    seen, deadline = b"", time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            seen += chunk
            if b"[y/N]" in seen:
                os.write(leader, b"y\n")  # what a user would answer; it must never be asked
    proc.wait(timeout=30)
    with contextlib.suppress(OSError):
        seen += os.read(leader, 65536)
    os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert proc.returncode == 3, text
    assert "[y/N]" not in text and "auto_map" in text and "Traceback" not in text
    assert not marker.exists()


@pytest.mark.parametrize("model_type", ["bert", "evil-bert"])
def test_auto_map_is_refused_before_transformers_sees_the_folder(tmp_path, tiny_model_dir, model_type):
    evil, marker = _evil_model(tmp_path, tiny_model_dir, model_type)
    with pytest.raises(ModelLoadError, match="auto_map"):
        PolicyClassifier.from_pretrained(evil)
    tokenizer_only = tmp_path / "tok-evil"
    shutil.copytree(tiny_model_dir, tokenizer_only)
    tokenizer_config = json.loads((tokenizer_only / "tokenizer_config.json").read_text())
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (tokenizer_only / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    with pytest.raises(ModelLoadError, match=r"tokenizer_config\.json: has auto_map"):
        PolicyClassifier.from_pretrained(tokenizer_only)
    assert not marker.exists()


def test_training_refuses_an_encoder_with_its_own_code(tmp_path, tiny_encoder, toy_jsonl):
    from classifier.training.config import TrainConfig
    from classifier.training.loop import train

    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, encoder)
    config = json.loads((encoder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "evil.EvilModel"}
    (encoder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="auto_map"):
        train(TrainConfig(jsonl=[str(toy_jsonl)], encoder=str(encoder), output_dir=str(tmp_path / "run"), epochs=1))


# 3. two runs on one output ----------------------------------------------------------------------------------------
def test_a_second_run_on_a_locked_output_fails_at_once(tmp_path, tiny_model_dir, tiny_classifier):
    policy = _policy(tmp_path / "in", "p.txt")
    out = tmp_path / "out.jsonl"
    with output_lock(out):
        result = _classify(str(policy), "-o", str(out), model=tiny_model_dir)
        assert result.exit_code == 2 and "another run" in result.stderr and "out.jsonl.lock" in result.stderr
        with pytest.raises(OutputLocked):
            run_batch(tiny_classifier, [str(policy)], output=out)
        assert not out.exists()
    assert not (tmp_path / "out.jsonl.lock").exists()  # released and removed
    assert _classify(str(policy), "-o", str(out), model=tiny_model_dir).exit_code == 0


def test_the_lock_is_held_across_processes(tmp_path):
    out = tmp_path / "out.jsonl"
    code = ("import sys, time; from pathlib import Path; from classifier.predict.batch import output_lock\n"
            f"with output_lock(Path({str(out)!r})):\n    print('locked', flush=True); time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLocked, match="lock"), output_lock(out):
            pass
    finally:
        holder.kill()
        holder.wait()
    with output_lock(out):  # the dead holder's lock is gone with it
        pass


# 4. one pathological page -----------------------------------------------------------------------------------------
def test_deeply_nested_html_is_classified_and_the_batch_goes_on(tmp_path, tiny_classifier):
    deep = tmp_path / "a-deep.html"
    deep.write_text("<html><body>" + "<div>" * 200_000 + "We collect your email address." + "</div>" * 200_000)
    good = _policy(tmp_path, "b-good.txt")
    result = run_batch(tiny_classifier, [str(deep), str(good)], output=tmp_path / "out.jsonl")
    assert result.done == [str(deep), str(good)] and not result.failed
    assert "We collect your email address." in read_policy(deep).text


def test_any_error_reading_segmenting_or_labelling_one_input_is_that_inputs_failure(tmp_path, tiny_classifier,
                                                                                     monkeypatch):
    import classifier.text.segment as segment

    files = [_policy(tmp_path, name, POLICY.replace("email", marker)) for name, marker in
             (("a.txt", "email"), ("b.txt", "SEGBOMB"), ("c.txt", "LABELBOMB"), ("d.txt", "name"))]
    real_segment, real_predict = segment.segment_policy, tiny_classifier.predict

    def segment_policy(policy, *args, **kwargs):
        if "SEGBOMB" in policy.text:
            raise RecursionError("maximum recursion depth exceeded")
        return real_segment(policy, *args, **kwargs)

    def predict(texts, *args, **kwargs):
        if any("LABELBOMB" in text for text in texts):
            raise RuntimeError("kernel exploded")
        return real_predict(texts, *args, **kwargs)

    monkeypatch.setattr(segment, "segment_policy", segment_policy)
    monkeypatch.setattr(tiny_classifier, "predict", predict)
    out = tmp_path / "out.jsonl"
    result = run_batch(tiny_classifier, [str(f) for f in files], output=out)
    assert result.done == [str(files[0]), str(files[3])]
    reasons = dict(result.failed)
    assert "RecursionError" in reasons[str(files[1])] and "kernel exploded" in reasons[str(files[2])]
    assert {json.loads(line)["source"] for line in out.read_text().splitlines()} == {str(files[0]), str(files[3])}


# 5. unbounded reads -----------------------------------------------------------------------------------------------
class _Endless(io.RawIOBase):
    """A stream of zeros that never ends, like /dev/zero on stdin; counts what was asked of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b"\0" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


def test_reads_stop_at_max_bytes_plus_one(tmp_path, tiny_classifier, monkeypatch):
    endless = _Endless()
    with pytest.raises(PolicyInputError, match="too large"):
        read_limited(io.BufferedReader(endless), 1000)
    assert endless.read_bytes <= 1001 + io.DEFAULT_BUFFER_SIZE
    stdin = io.TextIOWrapper(io.BufferedReader(_Endless()))
    monkeypatch.setattr(sys, "stdin", stdin)
    result = run_batch(tiny_classifier, ["-"], output=None, max_bytes=5000)
    assert result.failed and "too large" in result.failed[0][1]
    with pytest.raises(PolicyInputError, match="not a regular file"):
        read_policy(Path("/dev/zero"))


def test_a_file_that_grows_past_the_limit_is_not_read_past_it(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("We collect data. " * 10)
    assert read_policy(path, max_bytes=1000).text.startswith("We collect")
    with pytest.raises(PolicyInputError, match="file too large"):
        read_policy(path, max_bytes=100)


# 6. resume against the output -------------------------------------------------------------------------------------
def _finished_run(tmp_path: Path, classifier, n: int = 3) -> tuple[list[str], Path]:
    inputs = [str(_policy(tmp_path / "in", f"p{i}.txt", POLICY + f"\nItem {i}.\n")) for i in range(n)]
    out = tmp_path / "out.jsonl"
    run_batch(classifier, inputs[:2], output=out)
    return inputs, out


@pytest.mark.parametrize("damage", ["deleted", "shortened", "rewritten"])
def test_resume_refuses_an_output_that_disagrees_with_its_journal(tmp_path, tiny_classifier, damage):
    inputs, out = _finished_run(tmp_path, tiny_classifier)
    content = out.read_bytes()
    if damage == "deleted":
        out.unlink()
    elif damage == "shortened":
        out.write_bytes(content[: len(content) // 2])
    else:
        out.write_bytes(content.replace(b"partners", b"PARTNERS"))
    before = out.read_bytes() if out.exists() else None
    with pytest.raises(BatchError, match="cannot resume"):
        run_batch(tiny_classifier, inputs, output=out, resume=True)
    assert (out.read_bytes() if out.exists() else None) == before  # no NUL padding, nothing written


def test_resume_refuses_another_format_and_the_cli_says_so_in_one_line(tmp_path, tiny_model_dir, tiny_classifier):
    inputs, out = _finished_run(tmp_path, tiny_classifier)
    result = _classify(*inputs, "-o", str(out), "-f", "csv", "--resume", model=tiny_model_dir)
    assert result.exit_code == 2 and "records jsonl output, not csv" in result.stderr
    assert result.stderr.count("\n") == 1
    out.unlink()
    result = _classify(*inputs, "-o", str(out), "--resume", model=tiny_model_dir)
    assert result.exit_code == 2 and "is missing" in result.stderr
    assert not out.exists()


def test_an_honest_resume_still_goes_on(tmp_path, tiny_classifier):
    inputs, out = _finished_run(tmp_path, tiny_classifier)
    result = run_batch(tiny_classifier, inputs, output=out, resume=True)
    assert result.skipped == inputs[:2] and result.done == inputs[2:]
    keys = [(r["source"], r["paragraph"]) for r in map(json.loads, out.read_text().splitlines())]
    assert len(keys) == len(set(keys)) == 9


# 7. special files -------------------------------------------------------------------------------------------------
def test_a_fifo_or_device_is_refused_not_waited_on(tmp_path, tiny_model_dir):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    inputs, problems = discover_inputs([str(fifo), "/dev/zero"])
    assert inputs == [] and [reason for _, reason in problems] == ["not a regular file (FIFO, device or socket)"] * 2
    with pytest.raises(PolicyInputError, match="a FIFO"):
        read_policy(fifo)
    good = _policy(tmp_path, "good.txt")
    result = _classify(str(fifo), str(good), model=tiny_model_dir)
    assert result.exit_code == 1 and "pipe.txt: not a regular file" in result.stderr


# 8. a huge policy -------------------------------------------------------------------------------------------------
def test_a_policy_past_the_paragraph_cap_is_a_named_failure(tmp_path, tiny_model_dir):
    huge = _policy(tmp_path, "huge.txt", "\n\n".join(f"We collect item {i} of your data." for i in range(50)))
    good = _policy(tmp_path, "good.txt")
    out = tmp_path / "out.jsonl"
    result = _classify(str(huge), str(good), "-o", str(out), "--max-paragraphs", "20", model=tiny_model_dir)
    assert result.exit_code == 1 and "huge.txt: too many paragraphs: 50 (limit 20" in result.stderr
    assert {json.loads(line)["source"] for line in out.read_text().splitlines()} == {str(good)}


# 9-12, 15. model settings checked at load -------------------------------------------------------------------------
def _edited_model(tmp_path: Path, tiny_model_dir: Path, edit) -> Path:
    edited = tmp_path / "edited"
    shutil.copytree(tiny_model_dir, edited)
    config = json.loads((edited / "config.json").read_text())
    config = edit(config)
    (edited / "config.json").write_text(json.dumps(config))
    return edited


def _set(path: str, value):
    def edit(config):
        keys = path.split(".")
        target = config
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        return config
    return edit


def _threshold(i: int, value):
    def edit(config):
        config["policy_classifier"]["thresholds"][i] = value
        return config
    return edit


@pytest.mark.parametrize(("edit", "named"), [
    (_threshold(0, 5.0), "thresholds[0] is 5.0"),
    (_threshold(3, -1), "thresholds[3] is -1"),
    (_threshold(2, math.nan), "thresholds[2] is nan"),
    (_threshold(1, "0.5"), "thresholds[1] is '0.5'"),
    (_set("policy_classifier.thresholds", [0.5, 0.5]), "list of 11 numbers, got 2"),
    (lambda c: [c], "must hold a JSON object, got a list"),
    (_set("policy_classifier", None), "policy_classifier must be an object, got null"),
    (_set("id2label.3", "made_up_label"), "unknown label id 'made_up_label'"),
    (_set("policy_classifier.max_length", 4096), "max_length is 4096; it must be an integer 8..128"),
    (_set("policy_classifier.max_length", "long"), "max_length is 'long'"),
    (_set("policy_classifier.tfidf_weight", 2), "tfidf_weight is 2"),
    (_set("policy_classifier.section_context", True), "section_context is True"),
    (lambda c: {k: v for k, v in c.items() if k not in ("id2label", "label2id")}, "no id2label"),
    (_set("model_type", "not-a-model"), "model_type 'not-a-model'"),
])
def test_invalid_model_settings_are_refused_at_load_naming_the_field(tmp_path, tiny_model_dir, edit, named):
    edited = _edited_model(tmp_path, tiny_model_dir, edit)
    with pytest.raises(ModelLoadError) as caught:
        PolicyClassifier.from_pretrained(edited, device="cpu", precision="fp32")
    assert named in str(caught.value) and "above report" not in str(caught.value)
    result = _classify(str(_policy(tmp_path, "p.txt")), model=edited)
    assert result.exit_code == 3 and named in result.stderr and result.stderr.count("\n") == 1


def test_custom_labels_load_only_when_asked_and_refuse_the_card_view(tmp_path, tiny_model_dir):
    edited = _edited_model(tmp_path, tiny_model_dir, _set("id2label.3", "made_up_label"))
    custom = PolicyClassifier.from_pretrained(edited, device="cpu", precision="fp32", custom_labels=True)
    assert "made_up_label" in custom.labels and len(custom.predict(["We collect data."])) == 1
    with pytest.raises(ValueError, match="card view"):
        custom.predict(["We collect data."], scheme="card")


def test_a_tfidf_baseline_with_bad_thresholds_is_refused(tmp_path, toy_jsonl):
    from classifier.training.config import TrainConfig
    from classifier.training.tfidf import train_tfidf as train_baseline

    run = tmp_path / "tfidf"
    train_baseline(TrainConfig(jsonl=[str(toy_jsonl)], output_dir=str(run)))
    model = next(path.parent for path in run.rglob("weights.safetensors"))
    config = json.loads((model / "config.json").read_text())
    config["thresholds"][0] = 7
    (model / "config.json").write_text(json.dumps(config))
    result = _classify(str(_policy(tmp_path, "p.txt")), model=model)
    assert result.exit_code == 3 and "thresholds[0] is 7" in result.stderr


# 13. output under a regular file ----------------------------------------------------------------------------------
def test_an_output_under_a_regular_file_is_one_line_before_the_model_loads(tmp_path):
    blocker = _policy(tmp_path, "blocker")
    policy = _policy(tmp_path, "p.txt")
    result = runner.invoke(app, ["classify", str(policy), "-o", str(blocker / "sub" / "out.jsonl"), "--model",
                                 str(tmp_path / "no-model-needed")])
    assert result.exit_code == 2 and "is a file, not a directory" in result.stderr
    assert result.stderr.count("\n") == 1  # before the model: the missing model is not even reported
    result = runner.invoke(app, ["classify", str(policy), "-o", str(tmp_path), "--model", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "is a directory" in result.stderr


# 14, 17. API arguments --------------------------------------------------------------------------------------------
def test_a_lone_string_is_refused_with_a_type_error(tiny_classifier):
    for call in (tiny_classifier.predict, tiny_classifier.predict_proba):
        with pytest.raises(TypeError, match=r"wrap one text in a list"):
            call("one string")
    with pytest.raises(TypeError, match="wrap one text"):
        list(tiny_classifier.iter_predict("one string"))
    with pytest.raises(TypeError, match="text 1 is NoneType"):
        tiny_classifier.predict(["fine", None])


@pytest.mark.parametrize("threshold", [2, -0.1, math.nan, "0.5", True])
def test_out_of_range_thresholds_are_refused_by_the_api(tiny_classifier, threshold):
    with pytest.raises(ValueError, match="threshold must be a number in"):
        tiny_classifier.predict(["We collect data."], threshold=threshold)


@pytest.mark.parametrize("size", [0, -1, 2.5])
def test_batch_sizes_must_be_positive_integers(tiny_classifier, size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        tiny_classifier.predict(["We collect data."], batch_size=size)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        run_batch(tiny_classifier, [], output=None, batch_size=size)


def test_classify_document_of_none_is_a_type_error(tiny_classifier):
    with pytest.raises(TypeError, match="not NoneType"):
        tiny_classifier.classify_document(None)
    with pytest.raises(TypeError, match="not int"):
        read_policy(42)


# 16. file names in the summary table ------------------------------------------------------------------------------
def test_file_names_with_newlines_or_pipes_keep_the_summary_table_whole(tmp_path, tiny_model_dir):
    odd = _policy(tmp_path, "a|b\nc.txt")
    out = tmp_path / "summary.md"
    result = _classify(str(odd), "--summary", "-o", str(out), model=tiny_model_dir)
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and "a\\|b\\nc.txt" in lines[2]
    assert lines[2].count(" | ") == lines[0].count(" | ")


def test_file_names_with_control_characters_stay_on_one_error_line(tmp_path, tiny_model_dir):
    odd = tmp_path / "bad\nname.txt"
    odd.write_text("")
    result = _classify(str(odd), model=tiny_model_dir)
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and "bad\nname" not in result.stderr
    assert lines[0].endswith("bad\\nname.txt: empty policy: no text found") and lines[-1].endswith("bad\\nname.txt")


# signals and full disks -------------------------------------------------------------------------------------------
def test_a_full_disk_has_its_own_exit_code(tmp_path, tiny_model_dir, monkeypatch):
    import errno

    import classifier.predict.batch as batch

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch._Sink, "write", full)
    result = _classify(str(_policy(tmp_path, "p.txt")), "-o", str(tmp_path / "out.jsonl"), model=tiny_model_dir)
    assert result.exit_code == 4 and "No space left on device" in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_interrupt_says_how_to_resume(tmp_path, tiny_model_dir, monkeypatch):
    import classifier.predict.batch as batch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch._BatchRun, "_label", interrupted)
    out = tmp_path / "out.jsonl"
    result = _classify(str(_policy(tmp_path, "p.txt")), "-o", str(out), model=tiny_model_dir)
    assert result.exit_code == 130 and "--resume" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out.jsonl.lock").exists()


def test_training_refuses_a_max_length_past_the_encoders_positions(tmp_path, tiny_encoder, toy_jsonl):
    from classifier.training.config import TrainConfig
    from classifier.training.loop import train

    with pytest.raises(ValueError, match="max_length 256 exceeds the encoder's 128 positions"):
        train(TrainConfig(jsonl=[str(toy_jsonl)], encoder=str(tiny_encoder), output_dir=str(tmp_path / "run"),
                          epochs=1, max_length=256))


def test_a_long_policy_is_labelled_in_bounded_pieces_with_progress(tiny_classifier, monkeypatch):
    from classifier.predict.document import classify_segmented
    from classifier.text.segment import segment_policy

    paragraphs = segment_policy(read_policy("\n\n".join(f"We collect item {i} of your data." for i in range(10))))
    sizes: list[int] = []
    real_predict = tiny_classifier.predict
    monkeypatch.setattr(tiny_classifier, "predict", lambda texts, **kw: sizes.append(len(texts)) or
                        real_predict(texts, **kw))
    seen: list[int] = []
    pieces = classify_segmented(tiny_classifier, [("p", paragraphs)], chunk_size=4, on_labelled=seen.append)[0]
    whole = classify_segmented(tiny_classifier, [("p", paragraphs)])[0]
    assert sizes == [4, 4, 2, 10] and seen == [4, 4, 2]
    assert [p.scores for p in pieces.paragraphs] == [p.scores for p in whole.paragraphs]
