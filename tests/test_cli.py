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


def test_segment_bad_inputs_one_line_no_traceback(tmp_path: Path):
    binary = tmp_path / "x.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    for path, reason in [(tmp_path / "missing.txt", "no such file"), (binary, "binary")]:
        proc = subprocess.run([sys.executable, "-m", "classifier", "segment", str(path)],
                              capture_output=True, text=True)
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and reason in proc.stderr and "Traceback" not in proc.stderr


def test_labels_command_lists_both_views():
    assert "user_rights" in runner.invoke(app, ["labels", "--scheme", "card"]).stdout
    assert "do_not_track" in runner.invoke(app, ["labels"]).stdout
