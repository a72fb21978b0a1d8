"""Corpus loaders: OPP-115 in its original layout and labelled JSONL, as ``datasets.Dataset``.

Every loader returns rows with at least ``policy`` (str), ``text`` (str, normalised with
:func:`normalize_text`) and ``labels`` (a sequence of ``ClassLabel`` indices; the label names are in
``dataset.features["labels"].feature.names``). Splits are always by policy, never by paragraph.

Corpora that annotate only some categories (MAPP, C3PA, APPSI-139) add ``corpus`` (its id) and ``annotated`` (the
labels each row decides, positives and negatives); :func:`label_mask` reads it, and a row without the column
decides every label.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.labels import LABEL_IDS, OPP115_CATEGORY_TO_ID
from classifier.text.reading import html_to_text, normalize_text

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "CorpusError",
    "default_opp115_dir",
    "default_corpus_dir",
    "infer_label_names",
    "iter_jsonl",
    "label_mask",
    "label_names",
    "load_jsonl",
    "load_opp115",
    "multi_hot",
    "partial_features",
    "restrict_to_corpora",
    "tuning_mask",
    "with_corpus",
]

_OTHER_TYPES = ("Introductory/Generic", "Practice not covered", "Privacy contact information")


class CorpusError(ValueError):
    """A corpus could not be loaded; the message names the file and the reason."""


def default_opp115_dir() -> Path:
    """Return the OPP-115 directory to use when none is given.

    ``$OPP115_DIR`` when set, else ``../shared/opp115`` relative to the working directory or to this checkout.
    """
    env = os.environ.get("OPP115_DIR")
    if env:
        return Path(env)
    candidates = [Path.cwd() / ".." / "shared" / "opp115", Path(__file__).resolve().parents[3] / "shared" / "opp115"]
    for candidate in candidates:
        if (candidate / "sanitized_policies").is_dir():
            return candidate.resolve()
    return candidates[0]


def default_corpus_dir(name: str) -> Path:
    """Where corpus ``name`` (``mapp``, ``c3pa``, ``appsi139``) is when no directory is given: ``$POLICY_CORPORA_DIR``
    or ``../shared/corpora`` (beside the working directory or this checkout), then ``name``."""
    env = os.environ.get("POLICY_CORPORA_DIR")
    if env:
        return Path(env) / name
    candidates = [Path.cwd() / ".." / "shared" / "corpora", Path(__file__).resolve().parents[3] / "shared" / "corpora"]
    for candidate in candidates:
        if (candidate / name).is_dir():
            return (candidate / name).resolve()
    return candidates[0] / name


def partial_features(extra: dict[str, Any] | None = None) -> Any:
    """The features of a partially annotated corpus's rows: schema labels, ``corpus`` and ``annotated``."""
    from datasets import ClassLabel, List, Value

    return _features(LABEL_IDS, {"corpus": Value("string"), "annotated": List(ClassLabel(names=list(LABEL_IDS))),
                                 **(extra or {})})


def with_corpus(dataset: Dataset, corpus: str) -> Dataset:
    """Add ``corpus`` and ``annotated`` (every label) to a fully annotated dataset, so it joins partial ones."""
    from datasets import ClassLabel, List, Value

    names = label_names(dataset)
    dataset = dataset.add_column("corpus", [corpus] * len(dataset), feature=Value("string"))
    return dataset.add_column("annotated", [list(range(len(names)))] * len(dataset),
                              feature=List(ClassLabel(names=names)))


def label_mask(dataset: Dataset) -> Any:
    """Which cells of :func:`multi_hot` are known: an ``(n_rows, n_labels)`` float32 array of 0/1 (all 1 without
    an ``annotated`` column). A masked loss and threshold tuning ignore the zeros."""
    import numpy as np

    if "annotated" not in dataset.column_names:
        return np.ones((len(dataset), len(label_names(dataset))), dtype=np.float32)
    mask = np.zeros((len(dataset), len(label_names(dataset))), dtype=np.float32)
    for row, known in enumerate(dataset["annotated"]):
        mask[row, known] = 1.0
    return mask


def tuning_mask(dataset: Dataset, corpora: Sequence[str] = ()) -> Any:
    """:func:`label_mask` restricted to the rows of some corpora (all rows when ``corpora`` is empty or none of
    the rows is theirs): the cells thresholds are tuned on for a target use."""
    return restrict_to_corpora(label_mask(dataset), dataset, corpora)


def restrict_to_corpora(mask: Any, dataset: Dataset, corpora: Sequence[str] = ()) -> Any:
    """``mask`` (one row per dataset row) with the rows of other corpora zeroed; unchanged when ``corpora`` is
    empty or none of the rows is theirs."""
    import numpy as np

    if corpora and "corpus" in dataset.column_names:
        chosen = np.isin(np.asarray(dataset["corpus"]), list(corpora))
        if chosen.any():
            return mask * chosen[:, None]
    return mask


def _features(names: Sequence[str], extra: dict[str, Any] | None = None) -> Any:
    from datasets import ClassLabel, Features, List, Value

    features = {"policy": Value("string"), "text": Value("string"), "labels": List(ClassLabel(names=list(names)))}
    features.update(extra or {})
    return Features(features)


def label_names(dataset: Dataset) -> list[str]:
    """Return the label names of a dataset made by these loaders."""
    return list(dataset.features["labels"].feature.names)


def multi_hot(dataset: Dataset) -> Any:
    """Return the labels of a dataset as an ``(n_rows, n_labels)`` float32 numpy array of 0/1."""
    import numpy as np

    matrix = np.zeros((len(dataset), len(label_names(dataset))), dtype=np.float32)
    for row, labels in enumerate(dataset["labels"]):
        matrix[row, labels] = 1.0
    return matrix


def _policy_files(root: Path) -> list[tuple[int, str, Path, Path]]:
    policies_dir, annotations_dir = root / "sanitized_policies", root / "annotations"
    if not policies_dir.is_dir() or not annotations_dir.is_dir():
        raise CorpusError(f"{root}: not an OPP-115 directory (needs sanitized_policies/ and annotations/)")
    out = []
    for html in sorted(policies_dir.glob("*.html")):
        match = re.match(r"(\d+)_(.+)$", html.stem)
        if not match:
            continue
        csv_path = annotations_dir / f"{html.stem}.csv"
        if not csv_path.is_file():
            raise CorpusError(f"{csv_path}: annotation file missing for policy {html.name}")
        out.append((int(match.group(1)), html.stem, html, csv_path))
    if not out:
        raise CorpusError(f"{policies_dir}: no policies found")
    return out


def load_opp115(
    root: str | os.PathLike[str] | None = None,
    *,
    min_annotators: int = 2,
    other_subtypes: bool = False,
    keep_unlabeled: bool = True,
    with_votes: bool = False,
) -> Dataset:
    """Load OPP-115 (original layout) as one row per segment.

    Args:
        root: the corpus directory (``sanitized_policies/``, ``annotations/``); default :func:`default_opp115_dir`.
        min_annotators: a category counts for a segment when at least this many distinct annotators gave it:
            2 is the usual majority vote, 1 gives union labels.
        other_subtypes: replace ``other`` by its three subtypes ``other_introductory_generic``,
            ``other_practice_not_covered``, ``other_privacy_contact_information`` (the 12-label PrivacyGLUE task;
            ``children`` is then left out).
        keep_unlabeled: keep segments that reached no label.
        with_votes: add ``annotators`` (everyone who annotated the policy) and ``votes`` (for each label, in label
            order, the annotators who gave it to the segment), for agreement studies.

    Returns:
        A ``Dataset`` with ``policy``, ``policy_id``, ``segment_id``, ``text``, ``labels``, ``section`` (the heading
        path the segment sits under: its own inline heading, else the last one seen earlier in the policy) and
        ``body`` (the text without the segment's own headings, as the project's segmenter would give it).

    Raises:
        CorpusError: the directory is not laid out like OPP-115 or a file is malformed.
    """
    from datasets import Dataset, List, Value

    root_path = Path(root) if root is not None else default_opp115_dir()
    names = _opp115_label_names(other_subtypes)
    rows: dict[str, list[Any]] = defaultdict(list)
    for policy_id, stem, html_path, csv_path in _policy_files(root_path):
        votes, annotators = _read_votes(csv_path, names, other_subtypes)
        segments = html_path.read_text(encoding="utf-8", errors="replace").split("|||")
        for row in _segment_rows(segments, votes, names, min_annotators, keep_unlabeled):
            row.update(policy=stem, policy_id=policy_id)
            if with_votes:
                row.update(annotators=sorted(annotators),
                           votes=[sorted(votes.get(row["segment_id"], {}).get(label, ())) for label in names])
            for key, value in row.items():
                rows[key].append(value)
    extra = {"annotators": List(Value("string")), "votes": List(List(Value("string")))} if with_votes else {}
    features = _features(names, {"policy_id": Value("int32"), "segment_id": Value("int32"),
                                 "section": List(Value("string")), "body": Value("string"), **extra})
    columns = ["policy", "policy_id", "segment_id", "text", "section", "body", "labels", *extra]
    return Dataset.from_dict({key: rows[key] for key in columns}, features=features)


def _opp115_label_names(other_subtypes: bool) -> list[str]:
    if not other_subtypes:
        return list(LABEL_IDS)
    return [label for label in LABEL_IDS if label not in {"other", "children"}] + [
        "other_" + re.sub(r"\W+", "_", subtype.lower()).strip("_") for subtype in _OTHER_TYPES]


_Votes = dict[int, dict[str, set[str]]]


def _read_votes(csv_path: Path, names: list[str], other_subtypes: bool) -> tuple[_Votes, set[str]]:
    """A policy's annotation file as ``{segment: {label: annotators who gave it}}``, and everyone who annotated it.

    ``children`` is an ``International and Specific Audiences`` annotation whose audience is children; with
    ``other_subtypes`` an ``Other`` annotation counts for its subtype instead.
    """
    subtype_ids = dict(zip(_OTHER_TYPES, names[-3:], strict=True)) if other_subtypes else {}
    votes: _Votes = defaultdict(lambda: defaultdict(set))
    annotators: set[str] = set()
    with csv_path.open(encoding="utf-8", newline="") as handle:
        for line_no, record in enumerate(csv.reader(handle), 1):
            if len(record) < 7:
                raise CorpusError(f"{csv_path}:{line_no}: expected 9 columns, got {len(record)}")
            annotator, segment, category = record[2], int(record[4]), record[5]
            annotators.add(annotator)
            if category not in OPP115_CATEGORY_TO_ID:
                raise CorpusError(f"{csv_path}:{line_no}: unknown category {category!r}")
            try:
                attributes = json.loads(record[6])
            except json.JSONDecodeError:
                raise CorpusError(f"{csv_path}:{line_no}: attributes are not JSON") from None
            label = OPP115_CATEGORY_TO_ID[category]
            if other_subtypes and label == "other":
                subtype = attributes.get("Other Type", {}).get("value")
                if subtype in subtype_ids:
                    votes[segment][subtype_ids[subtype]].add(annotator)
                continue
            votes[segment][label].add(annotator)
            if (not other_subtypes and label == "international_specific_audiences"
                    and attributes.get("Audience Type", {}).get("value") == "Children"):
                votes[segment]["children"].add(annotator)
    return votes, annotators


def _segment_rows(segments: list[str], votes: _Votes, names: list[str], min_annotators: int,
                  keep_unlabeled: bool) -> Iterator[dict[str, Any]]:
    """One row per non-empty segment: its text, heading path, body and majority labels."""
    heading: list[str] = []
    for segment_id, raw in enumerate(segments):
        markdown = html_to_text(raw) if raw.strip() else ""
        text = normalize_text(markdown)
        if not text:
            continue
        body, own_heading = _split_heading(markdown)
        heading = own_heading or heading  # a segment without a heading sits under the last one seen
        seg_votes = votes.get(segment_id, {})
        labels = [names.index(label) for label in names if len(seg_votes.get(label, ())) >= min_annotators]
        if labels or keep_unlabeled:
            yield {"segment_id": segment_id, "text": text, "section": heading, "body": body or text,
                   "labels": labels}


def _split_heading(markdown: str) -> tuple[str, list[str]]:
    """Split an OPP-115 segment into its text without headings and the heading path of its first paragraph."""
    from classifier.text.segment import segment_text

    paragraphs = segment_text(markdown)
    own = next((list(p.section) for p in paragraphs if p.section), [])
    return normalize_text(" ".join(p.text for p in paragraphs)), own


def load_jsonl(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    names: Sequence[str] | None = None,
) -> Dataset:
    """Load labelled JSONL files: one object per line with ``text`` and ``labels`` (a list of label ids).

    ``policy`` (or ``doc_id``) names the document a row comes from; without it the file name is used, so
    splits by policy stay honest. Other keys are ignored.

    Args:
        paths: one file or several.
        names: the label set. ``None`` means the project schema (:data:`classifier.labels.LABEL_IDS`);
            pass ``"data"``-derived names with :func:`infer_label_names` for another label set.

    Raises:
        CorpusError: missing file, invalid JSON, missing ``text``/``labels`` or a label outside ``names``
            (the message gives file and line).
    """
    from datasets import Dataset

    files = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    label_set = list(names) if names is not None else list(LABEL_IDS)
    index = {label: i for i, label in enumerate(label_set)}
    rows: dict[str, list[Any]] = defaultdict(list)
    for path, line_no, record in iter_jsonl(files):
        text, labels = record.get("text"), record.get("labels")
        if not isinstance(text, str) or not isinstance(labels, list):
            raise CorpusError(f"{path}:{line_no}: each row needs a 'text' string and a 'labels' list")
        unknown = [label for label in labels if label not in index]
        if unknown:
            raise CorpusError(f"{path}:{line_no}: unknown label {unknown[0]!r} (known: {', '.join(label_set)})")
        rows["policy"].append(str(record.get("policy") or record.get("doc_id") or path.stem))
        rows["text"].append(normalize_text(text))
        rows["labels"].append(sorted({index[label] for label in labels}))
    if not rows:
        raise CorpusError(f"no rows in {', '.join(map(str, files))}")
    return Dataset.from_dict(dict(rows), features=_features(label_set))


def infer_label_names(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """Return the sorted set of label ids used in labelled JSONL files (for label sets other than the schema)."""
    files = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    found: set[str] = set()
    for path, line_no, record in iter_jsonl(files):
        labels = record.get("labels")
        if not isinstance(labels, list):
            raise CorpusError(f"{path}:{line_no}: 'labels' must be a list")
        found.update(map(str, labels))
    return sorted(found)


def iter_jsonl(files: Sequence[Path]) -> Iterable[tuple[Path, int, dict[str, Any]]]:
    """Yield ``(path, line number, object)`` for every non-blank line of JSONL files.

    Raises:
        CorpusError: a missing file, invalid JSON or a line that is not an object (file and line named).
    """
    for path in files:
        if not path.is_file():
            raise CorpusError(f"{path}: no such file")
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(f"{path}:{line_no}: invalid JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise CorpusError(f"{path}:{line_no}: each line must be a JSON object")
                yield path, line_no, record
