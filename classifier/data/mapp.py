"""MAPP, English part (Arora et al., LREC 2022): app and website policies segmented one segment per line, labelled
with OPP-115's first- and third-party categories only (``classifier.labels.MAPP_MAPPING``).

Layout: ``English_sanitized_policies/<id>_<app>.txt`` (one segment per non-empty line) and
``English_consolidation/<id>_<app>.csv`` (one row per segment, in order: ``category name`` as a Python list
literal, ``policy_type`` TRAIN or TEST, the corpus's own split by policy).
"""

from __future__ import annotations

import ast
import csv
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.data.corpus import CorpusError, default_corpus_dir, partial_features
from classifier.labels import LABEL_IDS, MAPP_MAPPING
from classifier.text.reading import normalize_text

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["SPLITS", "load_mapp"]

SPLITS = ("train", "test", "all")


def load_mapp(root: str | os.PathLike[str] | None = None, *, split: str = "all") -> Dataset:
    """Load MAPP's English segments as rows: ``policy`` (``mapp/<file stem>``), ``text``, ``labels``, ``corpus``,
    ``annotated`` (first and third party only), ``segment_id`` (from 1) and ``split``.

    Args:
        root: the corpus directory (default ``../shared/corpora/mapp``).
        split: ``train`` or ``test`` (the corpus's own split by policy), or ``all``.

    Raises:
        CorpusError: not a MAPP directory, a policy whose segments and label rows disagree, or an unknown label.
    """
    from datasets import Dataset, Value

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root_path = Path(root) if root is not None else default_corpus_dir("mapp")
    texts_dir, labels_dir = root_path / "English_sanitized_policies", root_path / "English_consolidation"
    if not texts_dir.is_dir() or not labels_dir.is_dir():
        raise CorpusError(f"{root_path}: not a MAPP directory (needs English_sanitized_policies/ and "
                          "English_consolidation/)")
    rows: dict[str, list[Any]] = defaultdict(list)
    for labels_path in sorted(labels_dir.glob("*.csv")):
        for row in _policy_rows(texts_dir / f"{labels_path.stem}.txt", labels_path):
            if split == "all" or row["split"] == split:
                for key, value in row.items():
                    rows[key].append(value)
    if not rows:
        raise CorpusError(f"{labels_dir}: no segments")
    return Dataset.from_dict(dict(rows), features=partial_features({"segment_id": Value("int32"),
                                                                     "split": Value("string")}))


def _policy_rows(text_path: Path, labels_path: Path) -> list[dict[str, Any]]:
    """One policy's segments with their labels; checks that the label rows follow the segments one to one."""
    if not text_path.is_file():
        raise CorpusError(f"{text_path}: policy text missing for {labels_path.name}")
    segments = [line for line in text_path.read_text(encoding="utf-8").split("\n") if line.strip()]
    with labels_path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    if len(records) != len(segments):
        raise CorpusError(f"{labels_path}: {len(records)} label rows for {len(segments)} segments")
    index = {label: i for i, label in enumerate(LABEL_IDS)}
    out = []
    for number, (segment, record) in enumerate(zip(segments, records, strict=True), 1):
        if int(record["segment_id"]) != number:
            raise CorpusError(f"{labels_path}: segment {record['segment_id']} where {number} was expected")
        try:
            labels, known = MAPP_MAPPING.convert(ast.literal_eval(record["category name"]))
        except (ValueError, SyntaxError, KeyError) as exc:
            raise CorpusError(f"{labels_path}: segment {number}: unreadable category {exc}") from None
        text = normalize_text(segment)
        if text:
            out.append({"policy": f"mapp/{labels_path.stem}", "text": text,
                        "labels": sorted(index[label] for label in labels), "corpus": "mapp",
                        "annotated": sorted(index[label] for label in known), "segment_id": number,
                        "split": record["policy_type"].strip().lower()})
    return out
