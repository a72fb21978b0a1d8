import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from classifier.cli.app import app

runner = CliRunner()


def test_segment_jsonl(seed_files):
    result = runner.invoke(app, ["segment", str(seed_files[1]), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    text = seed_files[1].read_text(encoding="utf-8")
    assert len(rows) > 10
    assert all(text[r["start"]:r["end"]] == r["text"] for r in rows)


def test_segment_text_output_shows_sections(seed_files):
    result = runner.invoke(app, ["segment", str(seed_files[0])])
    assert result.exit_code == 0
    assert "§ Privacy Policy > 1.How We Collect" in result.stdout


def test_segment_writes_to_output_like_stdout(seed_files, tmp_path: Path):
    printed = runner.invoke(app, ["segment", str(seed_files[2]), "-f", "jsonl"])
    out = tmp_path / "paragraphs.jsonl"
    written = runner.invoke(app, ["segment", str(seed_files[2]), "-f", "jsonl", "-o", str(out)])
    assert printed.exit_code == written.exit_code == 0 and written.stdout == ""
    assert out.read_text(encoding="utf-8") == printed.stdout
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left beside it
    unwritable = runner.invoke(app, ["segment", str(seed_files[2]), "-o", str(tmp_path / "missing" / "p.txt")])
    assert unwritable.exit_code == 4 and unwritable.stderr.startswith("error: ") and "cannot write" in unwritable.stderr


def test_crossval_takes_data_seed_and_settings_from_its_config(toy_jsonl, tmp_path: Path):
    config = tmp_path / "recipe.json"
    config.write_text(json.dumps({"jsonl": [str(toy_jsonl)], "seed": 7}))
    out = tmp_path / "cv"
    result = runner.invoke(app, ["crossval", "--config", str(config), "--model-type", "tfidf", "--k", "4",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output  # the config's data lists are used: not "no training data"
    settings = json.loads((out / "cv.json").read_text())["settings"]
    assert settings["jsonl"] == [str(toy_jsonl)] and settings["seed"] == 7 and settings["fold_seed"] == 13
    again = runner.invoke(app, ["crossval", "--config", str(config), "--model-type", "tfidf", "--k", "4",
                                "--seed", "8", "-o", str(tmp_path / "cv8")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "cv8" / "cv.json").read_text())["settings"]["seed"] == 8
    # a resumed run with another training seed does not take the saved folds
    resumed = runner.invoke(app, ["crossval", "--config", str(config), "--model-type", "tfidf", "--k", "4",
                                  "--seed", "8", "-o", str(out), "--resume"])
    assert resumed.exit_code == 2 and "settings of tfidf" in resumed.stderr


def test_segment_bad_inputs_one_line_no_traceback(tmp_path: Path):
    binary = tmp_path / "x.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    scraps = tmp_path / "scraps.txt"
    scraps.write_bytes(b"caf\xe9\xff\xfe")
    for path, reason in [(tmp_path / "missing.txt", "no such file"), (binary, "binary"), (scraps, "no paragraphs")]:
        proc = subprocess.run([sys.executable, "-m", "classifier", "segment", str(path)],
                              capture_output=True, text=True)
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and reason in proc.stderr and "Traceback" not in proc.stderr


def test_labels_command_lists_both_views():
    assert "user_rights" in runner.invoke(app, ["labels", "--scheme", "card"]).stdout
    assert "do_not_track" in runner.invoke(app, ["labels"]).stdout
