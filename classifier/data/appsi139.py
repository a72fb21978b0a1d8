"""APPSI-139 (ACL 2026): 12,413 sentences of 139 English app policies, each with one or more of 11 topics
(``classifier.labels.APPSI139_MAPPING``).

Layout: ``train.txt`` and ``dev.txt``, one sentence per line: its tokens joined by commas, a tab, then an 11-dim
multi-hot vector in the order of :data:`classifier.labels.APPSI139_TOPICS`. A comma of the text shows as an empty
token, so ``",,"`` (and ``",,,"``) is read back as ``", "`` and a single ``","`` as a space.

No line says which policy a sentence comes from, and ``dev.txt`` is a sample of sentences of the same policies as
``train.txt`` (259 of its sentences are in ``train.txt`` word for word): training on one and testing on the other
would test on seen policies. So only ``train.txt`` is used, in its order (sentences run policy after policy): its
lines are cut into blocks of 90 (about one policy each: 12,413 sentences / 139 policies), a block standing in for a
policy wherever splits and intervals are by policy; the last 20% of the blocks are the ``test`` split, without the
test sentences that also occur in the training part.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.data.corpus import CorpusError, default_corpus_dir, partial_features
from classifier.labels import APPSI139_MAPPING, APPSI139_TOPICS, LABEL_IDS
from classifier.text.reading import normalize_text

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["BLOCK", "SPLITS", "load_appsi139", "read_sentences"]

SPLITS = ("train", "test", "all")
BLOCK = 90
TEST_FRACTION = 0.2
_COMMAS = re.compile(r",{2,}")


def load_appsi139(root: str | os.PathLike[str] | None = None, *, split: str = "all") -> Dataset:
    """Load APPSI-139's ``train.txt`` as rows: ``policy`` (``appsi139/block-NNN``), ``text``, ``labels``,
    ``corpus``, ``annotated``, ``line`` (from 1) and ``split``.

    Raises:
        CorpusError: a missing file or a malformed line (file and line named).
    """
    from datasets import Dataset, Value

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root_path = Path(root) if root is not None else default_corpus_dir("appsi139")
    sentences = read_sentences(root_path / "train.txt")
    n_blocks = -(-len(sentences) // BLOCK)
    first_test_block = n_blocks - round(n_blocks * TEST_FRACTION)
    seen = {text for i, (text, _) in enumerate(sentences) if i // BLOCK < first_test_block}
    index = {label: i for i, label in enumerate(LABEL_IDS)}
    rows: dict[str, list[Any]] = defaultdict(list)
    for i, (text, topics) in enumerate(sentences):
        part = "test" if i // BLOCK >= first_test_block else "train"
        if split not in ("all", part) or (part == "test" and text in seen):
            continue
        labels, known = APPSI139_MAPPING.convert(topics)
        for key, value in (("policy", f"appsi139/block-{i // BLOCK:03d}"), ("text", text),
                           ("labels", sorted(index[label] for label in labels)), ("corpus", "appsi139"),
                           ("annotated", sorted(index[label] for label in known)), ("line", i + 1),
                           ("split", part)):
            rows[key].append(value)
    return Dataset.from_dict(dict(rows), features=partial_features({"line": Value("int32"),
                                                                     "split": Value("string")}))


def read_sentences(path: Path) -> list[tuple[str, list[str]]]:
    """``(text, topic names)`` of every line of an APPSI-139 file, in order."""
    if not path.is_file():
        raise CorpusError(f"{path}: no such file (an APPSI-139 directory has train.txt)")
    out = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            tokens, sep, vector = line.rstrip("\n").rpartition("\t")
            flags = re.findall(r"[01]", vector)
            if not sep or len(flags) != len(APPSI139_TOPICS):
                raise CorpusError(f"{path}:{line_no}: expected tokens, a tab and an {len(APPSI139_TOPICS)}-dim vector")
            text = normalize_text(_COMMAS.sub("\0", tokens).replace(",", " ").replace("\0", ", "))
            out.append((text, [topic for topic, flag in zip(APPSI139_TOPICS, flags, strict=True) if flag == "1"]))
    return out
