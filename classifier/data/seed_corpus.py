"""Paragraph-level annotated corpora in the seed-corpus layout: loading, building and validation.

A corpus directory holds ``policies/<policy file>`` (the policy texts) and one or more ``*.jsonl`` files with a row
per paragraph::

    {"policy": "000_a4b63d12a38884ef.txt", "index": 0, "start": 0, "end": 412, "section": ["Privacy Policy"],
     "text": "...", "labels": ["first_party_collection"], "note": "optional"}

``start``/``end`` are offsets into ``policies/<policy>`` as read by :func:`read_policy`, and the rows
must be exactly the paragraphs :func:`~classifier.segment.segment_policy` gives today: :func:`validate_corpus`
detects a segmenter change that would leave the annotations stale.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.data.corpus import iter_jsonl
from classifier.labels import LABEL_IDS

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "DEFAULT_SEED_CORPUS_DIR",
    "ValidationReport",
    "load_seed_corpus",
    "paragraph_rows",
    "policy_ids",
    "read_corpus_rows",
    "validate_corpus",
    "validate_seed_corpus",
]

DEFAULT_SEED_CORPUS_DIR = Path(__file__).resolve().parents[2] / "data" / "seed_corpus"


@dataclass
class ValidationReport:
    """Problems found in a corpus (empty when it is valid) and its size."""

    problems: list[str] = field(default_factory=list)
    n_policies: int = 0
    n_paragraphs: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def policy_ids(directories: Iterable[str | os.PathLike[str]]) -> set[str]:
    """The policy ids of one or more corpus directories (to tell seed policies apart in pooled data).

    Raises:
        ValueError: as :func:`read_corpus_rows`.
    """
    return {row["policy"] for directory in directories for row in read_corpus_rows(directory)}


def read_corpus_rows(directory: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Read every row of every ``*.jsonl`` file of a corpus directory, sorted by policy and index.

    Raises:
        ValueError: no JSONL file, or a line that is not a JSON object (file and line named).
    """
    root = Path(directory) if directory is not None else DEFAULT_SEED_CORPUS_DIR
    files = sorted(root.glob("*.jsonl"))
    if not files:
        raise ValueError(f"{root}: no *.jsonl annotation files")
    rows = []
    for path, line_no, row in iter_jsonl(files):
        row["_where"] = f"{path.name}:{line_no}"
        rows.append(row)
    return sorted(rows, key=lambda r: (str(r.get("policy")), int(r.get("index", -1))))


def paragraph_rows(policy_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Segment one policy file into unlabelled corpus rows (the starting point for annotating a new policy)."""
    from classifier.text.reading import read_policy
    from classifier.text.segment import segment_policy

    path = Path(policy_path)
    paragraphs = segment_policy(read_policy(path))
    return [{"policy": path.name, **p.to_dict(), "labels": []} for p in paragraphs]


def validate_corpus(directory: str | os.PathLike[str] | None = None) -> ValidationReport:
    """Check a corpus: offsets match the texts, labels are valid ids, every paragraph has a label, and the rows
    are exactly today's segmentation of every policy (each paragraph covered once, none missing, none extra).

    Returns:
        A :class:`ValidationReport`; ``report.ok`` is True when nothing is wrong.
    """
    from classifier.text.reading import PolicyInputError, read_policy
    from classifier.text.segment import segment_policy

    root = Path(directory) if directory is not None else DEFAULT_SEED_CORPUS_DIR
    report = ValidationReport()
    try:
        rows = read_corpus_rows(root)
    except ValueError as exc:
        report.problems.append(str(exc))
        return report
    by_policy: dict[str, list[dict[str, Any]]] = defaultdict(list)
    valid = set(LABEL_IDS)
    for row in rows:
        where = row["_where"]
        missing = [key for key in ("policy", "index", "start", "end", "text", "labels") if key not in row]
        if missing:
            report.problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        bad = [label for label in row["labels"] if label not in valid]
        if bad:
            report.problems.append(f"{where}: unknown label {bad[0]!r}")
        if not row["labels"]:
            report.problems.append(f"{where}: no label (every paragraph needs one; use 'other' if nothing fits)")
        by_policy[row["policy"]].append(row)
    policy_files = sorted(p.name for p in (root / "policies").glob("*") if p.is_file())
    for name in sorted(set(by_policy) - set(policy_files)):
        report.problems.append(f"policy {name}: annotated but policies/{name} is missing")
    for name in policy_files:
        annotated = by_policy.get(name, [])
        if not annotated:
            report.problems.append(f"policy {name}: no annotated paragraphs")
            continue
        try:
            policy = read_policy(root / "policies" / name)
        except PolicyInputError as exc:
            report.problems.append(f"policy {name}: {exc}")
            continue
        current = segment_policy(policy)
        report.n_policies += 1
        report.n_paragraphs += len(annotated)
        indices = [row["index"] for row in annotated]
        if len(set(indices)) != len(indices):
            report.problems.append(f"policy {name}: duplicated paragraph index")
        for row in annotated:
            if policy.text[row["start"]:row["end"]] != row["text"]:
                report.problems.append(f"{row['_where']}: text does not match policies/{name}[{row['start']}:"
                                       f"{row['end']}]")
        expected = [(p.start, p.end) for p in current]
        found = [(row["start"], row["end"]) for row in annotated]
        if expected != found:
            stale = next((i for i, (a, b) in enumerate(zip(expected, found, strict=False)) if a != b),
                         min(len(expected), len(found)))
            report.problems.append(
                f"policy {name}: annotations do not match the current segmentation ({len(found)} annotated vs "
                f"{len(expected)} segmented paragraphs; first difference at paragraph {stale}); re-align the corpus"
            )
    return report


def validate_seed_corpus() -> ValidationReport:
    """Validate the project's own seed corpus in ``data/seed_corpus``."""
    return validate_corpus(DEFAULT_SEED_CORPUS_DIR)


def load_seed_corpus(directory: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a seed-layout corpus (default: the project's ``data/seed_corpus``) as a ``datasets.Dataset``.

    Columns: ``policy``, ``index``, ``start``, ``end``, ``section``, ``text`` (normalised for the model) and
    ``labels`` (sequence of ``ClassLabel`` over the schema).

    Raises:
        ValueError: unreadable files or an unknown label id.
    """
    from datasets import ClassLabel, Dataset, Features, List, Value

    from classifier.text.reading import normalize_text

    rows = read_corpus_rows(directory)
    index = {label: i for i, label in enumerate(LABEL_IDS)}
    columns: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        unknown = [label for label in row.get("labels", []) if label not in index]
        if unknown:
            raise ValueError(f"{row['_where']}: unknown label {unknown[0]!r}")
        columns["policy"].append(row["policy"])
        columns["index"].append(int(row["index"]))
        columns["start"].append(int(row["start"]))
        columns["end"].append(int(row["end"]))
        columns["section"].append([str(s) for s in row.get("section", [])])
        columns["text"].append(normalize_text(row["text"]))
        columns["labels"].append(sorted(index[label] for label in row.get("labels", [])))
    features = Features({
        "policy": Value("string"), "index": Value("int32"), "start": Value("int32"), "end": Value("int32"),
        "section": List(Value("string")), "text": Value("string"), "labels": List(ClassLabel(names=list(LABEL_IDS))),
    })
    return Dataset.from_dict(dict(columns), features=features)
