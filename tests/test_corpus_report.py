"""The corpus report of a batch run (issue #28): figures checked against a hand computation."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("duckdb")

from classifier.report.corpus import CorpusReportError, build_corpus_report, write_corpus_report

# four pages in two folders: which categories each covers, and the detector's verdict
PAGES = {
    "crawl/catA/a1.txt": ([["first_party_collection"], ["third_party_sharing", "first_party_collection"]], True),
    "crawl/catA/a2.txt": ([["first_party_collection"], ["other"], ["data_security"]], True),
    "crawl/catB/b1.txt": ([["other"]], False),
    "crawl/catB/b2.txt": ([["third_party_sharing"]], True),
}


def _output(tmp_path, fmt="jsonl"):
    rows = [{"source": source, "url": None, "is_policy": verdict, "policy_probability": 0.9 if verdict else 0.1,
             "paragraph": i, "start": 0, "end": 10, "section": "", "text": "x" * (10 + i), "labels": labels}
            for source, (paragraphs, verdict) in PAGES.items() for i, labels in enumerate(paragraphs)]
    out = tmp_path / f"out.{fmt}"
    if fmt == "jsonl":
        out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        import csv

        with out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({**r, "labels": ";".join(r["labels"]), "is_policy": str(r["is_policy"]).lower()}
                             for r in rows)
    (tmp_path / f"out.{fmt}.failures.jsonl").write_text('{"source": "crawl/catB/b3.txt", "reason": "binary file"}\n')
    return out


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_shares_by_folder_match_a_hand_count(tmp_path, fmt):
    report = build_corpus_report(_output(tmp_path, fmt), n_boot=200)
    assert report["pages"] == 4 and report["group_sizes"] == {"all": 4, "catA": 2, "catB": 2}
    share = {name: {label: v["share"] for label, v in cov.items()} for name, cov in report["coverage"].items()}
    # first party: a1, a2 of 4; third party: a1, b2; security: a2; other: a2, b1
    assert share["all"]["first_party_collection"] == 0.5 and share["all"]["third_party_sharing"] == 0.5
    assert share["all"]["data_security"] == 0.25 and share["catA"]["first_party_collection"] == 1.0
    assert share["catB"]["first_party_collection"] == 0.0 and share["catB"]["third_party_sharing"] == 0.5
    interval = report["coverage"]["all"]["data_security"]
    assert 0 <= interval["low"] <= 0.25 <= interval["high"] <= 1
    assert report["paragraphs_per_policy"]["values"] == [2, 3, 1, 1]  # a1, a2, b1, b2: sources in order
    assert report["not_policies"] == ["crawl/catB/b1.txt"] and report["failed"][0]["reason"] == "binary file"


def test_policies_only_drops_the_pages_judged_not_policies(tmp_path):
    report = build_corpus_report(_output(tmp_path), policies_only=True, n_boot=100)
    assert report["pages_counted"] == 3 and report["group_sizes"]["catB"] == 1
    assert report["coverage"]["catB"]["third_party_sharing"]["share"] == 1.0


def test_the_report_is_written_as_markdown_json_and_plots(tmp_path):
    written = write_corpus_report(build_corpus_report(_output(tmp_path), n_boot=100), tmp_path / "report")
    names = sorted(p.name for p in written)
    assert "report.md" in names and "report.json" in names
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| first_party_collection | 50% [" in text and "crawl/catB/b3.txt | binary file" in text
    assert "| data_retention | 0% [0%, 0%]" in text  # a category no page covers is shown, at 0%
    import importlib.util

    if importlib.util.find_spec("matplotlib") is not None:  # the plots need the plots/report extra
        assert {"coverage.png", "coverage.svg", "paragraphs.svg"} <= set(names)
        assert "![coverage.svg](coverage.svg)" in text


def test_bad_outputs_and_groupings_are_one_error_line(tmp_path):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    with pytest.raises(CorpusReportError, match="no column 'domain'"):
        build_corpus_report(_output(tmp_path), group_by="domain")
    (tmp_path / "notes.txt").write_text("hello")
    result = CliRunner().invoke(app, ["corpus-report", str(tmp_path / "notes.txt"), "-o", str(tmp_path / "r")])
    assert result.exit_code == 1 and "not a classify output" in result.stderr and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["corpus-report", str(tmp_path / "missing.parquet")])
    assert result.exit_code == 1 and "no such file" in result.stderr
    result = CliRunner().invoke(app, ["corpus-report", str(tmp_path)])
    assert result.exit_code == 1 and "not a file" in result.stderr


def test_a_real_run_in_parquet_with_policies_only_still_lists_its_skipped_pages(tmp_path, tiny_classifier):
    from classifier.predict.batch import run_batch
    from classifier.predict.detector import PolicyDetector

    folder = tmp_path / "crawl" / "catA"
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"p{i}.txt").write_text(f"https://x{i}.example/privacy\nWe collect your email address {i}.\n\n"
                                          "We share it with partners.\n")
    # a detector that judges by size alone: the page with the fewest words is not a policy
    detector = PolicyDetector(features=["log_words"], mean=[0.0], scale=[1.0], weights=[1.0], bias=-2.2)
    (folder / "p2.txt").write_text("https://x2.example/\nHello there.\n\nWelcome to our shop.\n")
    out = tmp_path / "out.parquet"
    run_batch(tiny_classifier, sorted(str(p) for p in folder.glob("*.txt")), output=out, fmt="parquet",
              detector=detector, policies_only=True)
    report = build_corpus_report(out, n_boot=50)
    assert report["pages"] == 3 and report["not_policies"] == [str(folder / "p2.txt")]
    assert report["judged"] == 3
