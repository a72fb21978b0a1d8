import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from classifier.cli.app import app
from classifier.data.agreement import cohen_kappa_report
from classifier.data.corpus import label_names
from classifier.data.seed_corpus import (
    DEFAULT_SEED_CORPUS_DIR,
    load_seed_corpus,
    paragraph_rows,
    read_corpus_rows,
    validate_corpus,
    validate_seed_corpus,
)
from classifier.labels import LABEL_IDS, card_label_ids, to_card


def test_seed_corpus_is_complete_and_valid():
    report = validate_seed_corpus()
    assert report.ok, report.problems
    assert report.n_policies == 5 and report.n_paragraphs == 377


def test_seed_corpus_covers_the_six_card_categories_and_every_paragraph_has_a_label():
    rows = read_corpus_rows()
    assert all(row["labels"] for row in rows)
    card = {label for row in rows for label in to_card(row["labels"])}
    assert card == set(card_label_ids())
    assert all("international_specific_audiences" in row["labels"] for row in rows if "children" in row["labels"])


def test_seed_policies_are_copies_of_the_shared_seeds(seed_files, shared_seeds):
    shared = shared_seeds
    assert [path.name for path in shared] == [path.name for path in seed_files]
    for ours, theirs in zip(seed_files, shared):
        assert ours.read_bytes() == theirs.read_bytes()


def test_load_seed_corpus_dataset():
    ds = load_seed_corpus()
    assert len(ds) == 377 and label_names(ds) == list(LABEL_IDS)
    assert len(set(ds["policy"])) == 5
    assert "**" not in " ".join(ds["text"])


def _copy_corpus(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(DEFAULT_SEED_CORPUS_DIR, target)
    return target


def test_validator_detects_stale_segmentation_bad_labels_and_offsets(tmp_path: Path):
    corpus = _copy_corpus(tmp_path)
    path = corpus / "seed_corpus.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["labels"] = ["sharing"]
    rows[1]["start"] += 1
    rows[2]["labels"] = []
    del rows[5]  # a paragraph no longer covered
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = "\n".join(validate_corpus(corpus).problems)
    assert "unknown label 'sharing'" in problems
    assert "text does not match" in problems
    assert "no label" in problems
    assert "do not match the current segmentation" in problems


def test_validator_detects_a_changed_policy_text(tmp_path: Path):
    corpus = _copy_corpus(tmp_path)
    policy = corpus / "policies" / "001_82bb53a6595ba75f.txt"
    policy.write_text("Inserted heading line\n\n" + policy.read_text(encoding="utf-8"), encoding="utf-8")
    assert not validate_corpus(corpus).ok


def test_cli_data_validate(tmp_path: Path):
    runner = CliRunner()
    ok = runner.invoke(app, ["data", "validate"])
    assert ok.exit_code == 0 and "377 paragraphs" in ok.stdout
    corpus = _copy_corpus(tmp_path)
    (corpus / "seed_corpus.jsonl").write_text('{"policy": "x"}\n')
    bad = runner.invoke(app, ["data", "validate", str(corpus)])
    assert bad.exit_code == 1


def test_paragraph_rows_start_a_new_annotation(tmp_path: Path):
    policy = tmp_path / "mine.md"
    policy.write_text("# Policy\n\nWe collect your email.\n\nWe keep it for a year.\n")
    rows = paragraph_rows(policy)
    assert [r["text"] for r in rows] == ["We collect your email.", "We keep it for a year."]
    assert rows[0]["labels"] == [] and rows[0]["policy"] == "mine.md"


def test_kappa_report():
    first = {1: ["a"], 2: ["b"], 3: ["a", "b"], 4: []}
    same = cohen_kappa_report(first, first, ["a", "b"])
    assert same["overall_kappa"] == 1.0 and same["exact_match"] == 1.0
    other = cohen_kappa_report(first, {1: ["b"], 2: ["a"], 3: [], 4: ["a", "b"]}, ["a", "b"])
    assert other["overall_kappa"] < 0 and other["per_label"]["a"]["agree"] == 0
