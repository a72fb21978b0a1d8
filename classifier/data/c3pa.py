"""C3PA (Musa et al., EMNLP 2024): expert annotations of the CCPA sections of 400 US policies, as free-text spans
(``classifier.labels.C3PA_MAPPING``).

Layout: ``Annotations/{DB,WS}/<n>.csv`` with ``RANumb,Text,Label`` (one row per annotator, span and label; usually
three annotators per policy, each choosing their own spans). The policies' texts are not in the corpus as shipped
here, so spans cannot be aligned to the project's paragraphs: they are used as they are. Each distinct span of a
policy (whitespace-normalised) is one row whose labels are the union of what any annotator gave it; a span inside
another passes its labels to the larger one (a section about sharing that contains a sentence about sale is about
sale too). Spans under 5 words (headings) or over 3,000 characters (whole sections) are left out. C3PA has no
split of its own: ``split`` takes a fixed 20% of the policies (seed 13) as ``test``.
"""

from __future__ import annotations

import csv
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.data.corpus import CorpusError, default_corpus_dir, partial_features
from classifier.labels import C3PA_MAPPING, LABEL_IDS
from classifier.text.reading import normalize_text

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["MAX_CHARS", "MIN_WORDS", "SPLITS", "load_c3pa", "test_policies"]

SPLITS = ("train", "test", "all")
MIN_WORDS = 5
MAX_CHARS = 3000
TEST_FRACTION = 0.2
SPLIT_SEED = 13


def load_c3pa(root: str | os.PathLike[str] | None = None, *, split: str = "all") -> Dataset:
    """Load C3PA's spans as rows: ``policy`` (``c3pa/DB/1``), ``text``, ``labels``, ``corpus``, ``annotated`` and
    ``split``.

    Raises:
        CorpusError: not a C3PA directory, or a label the mapping does not know.
    """
    from datasets import Dataset, Value

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root_path = Path(root) if root is not None else default_corpus_dir("c3pa")
    files = sorted((root_path / "Annotations").glob("*/*.csv"), key=lambda p: (p.parent.name, int(p.stem)))
    if not files:
        raise CorpusError(f"{root_path}: not a C3PA directory (needs Annotations/DB/*.csv, Annotations/WS/*.csv)")
    held_out = test_policies([_policy_id(path) for path in files])
    rows: dict[str, list[Any]] = defaultdict(list)
    for path in files:
        policy = _policy_id(path)
        part = "test" if policy in held_out else "train"
        if split not in ("all", part):
            continue
        for text, (labels, known) in _spans(path).items():
            for key, value in (("policy", policy), ("text", text), ("labels", labels), ("corpus", "c3pa"),
                               ("annotated", known), ("split", part)):
                rows[key].append(value)
    return Dataset.from_dict(dict(rows), features=partial_features({"split": Value("string")}))


def test_policies(policies: list[str]) -> set[str]:
    """The fixed held-out share of C3PA's policies (by policy, never by span)."""
    ordered = sorted(set(policies))
    random.Random(SPLIT_SEED).shuffle(ordered)
    return set(ordered[:round(len(ordered) * TEST_FRACTION)])


def _policy_id(path: Path) -> str:
    return f"c3pa/{path.parent.name}/{path.stem}"


def _spans(path: Path) -> dict[str, tuple[list[int], list[int]]]:
    """A policy's distinct spans -> (label indices, known label indices)."""
    given: dict[str, set[str]] = defaultdict(set)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for line_no, record in enumerate(csv.DictReader(handle), 2):
            text = normalize_text(record.get("Text") or "")
            if len(text.split()) >= MIN_WORDS and len(text) <= MAX_CHARS:
                if record.get("Label") not in C3PA_MAPPING.table:
                    raise CorpusError(f"{path}:{line_no}: unknown C3PA label {record.get('Label')!r}")
                given[text].add(record["Label"])
    converted = {text: C3PA_MAPPING.convert(names) for text, names in given.items()}
    for inner, (inner_labels, _) in converted.items():
        for outer, (labels, known) in converted.items():
            if inner != outer and inner in outer:
                labels |= inner_labels
                known |= inner_labels
    index = {label: i for i, label in enumerate(LABEL_IDS)}
    return {text: (sorted(index[label] for label in labels), sorted(index[label] for label in known))
            for text, (labels, known) in converted.items() if known}
