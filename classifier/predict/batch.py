"""Batch classification of many policy files with incremental, atomic, resumable output.

Policies are labelled in groups (one model call over about a thousand paragraphs of several policies runs twice as
fast as one call per policy), but rows are written file by file, in input order: all rows of one policy go out in a
single write followed by ``fsync``, and only then
is the policy recorded in the progress journal (``<output>.progress``, one JSON line per finished policy with the
output size after it). On ``resume`` the output is cut back to the size recorded for the last finished policy, so
a crash mid-write leaves neither a half-written row nor a partial policy, and finished policies are skipped.
Parquet output is written the same way, one part file per labelled group, merged at the end
(:mod:`classifier.predict.parquet_parts`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.files import atomic_write
from classifier.labels import Scheme, label_ids
from classifier.models.base import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from classifier.models.base import ParagraphModel
    from classifier.predict.detector import PolicyDetector
    from classifier.predict.document import ClassifiedDocument
    from classifier.predict.parquet_parts import ParquetParts
    from classifier.text.segment import Paragraph

__all__ = [
    "DEFAULT_GLOBS",
    "DEFAULT_GROUP_PARAGRAPHS",
    "DEFAULT_MAX_PARAGRAPHS",
    "DEFAULT_MAX_SECONDS",
    "BatchError",
    "BatchResult",
    "OutputFormat",
    "OutputLocked",
    "check_output_path",
    "collect_pages",
    "NO_PARAGRAPHS",
    "discover_inputs",
    "document_rows",
    "driver_run",
    "failures_path",
    "read_url_table",
    "output_lock",
    "run_batch",
]

# what every interface says of a page that reads as text but holds nothing a reader would call a paragraph
NO_PARAGRAPHS = "no paragraphs found: the text is too short or not prose"

DEFAULT_GLOBS = ("*.txt", "*.md", "*.markdown", "*.html", "*.htm", "*.xhtml", "*.pdf")
STDIN = "-"
# Paragraphs labelled per model call, across policies: 1,024 ran at 356 paragraphs/s on 2 cores against 330 for
# 512 and 370 for 2,048 (90 OPP-115 policies), while a crash re-does at most that much work.
DEFAULT_GROUP_PARAGRAPHS = 1024
# Paragraphs one policy may have: the longest of the 10,000 DMOZ pages has far fewer; a file past this is a log, a
# dump or an attack, and is named as a failure rather than labelled for hours.
DEFAULT_MAX_PARAGRAPHS = 20_000
# Seconds one page may take to read and segment: the slowest of the 10,000 DMOZ pages takes well under one; a page
# past this is pathological (a regex's worst case, a giant table) and becomes a named failure instead of a stall.
DEFAULT_MAX_SECONDS = 30.0


class OutputFormat(str, Enum):
    """The output formats: rows as JSONL, CSV or Parquet, or a per-policy Markdown summary table."""

    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    summary = "summary"


@dataclass
class BatchResult:
    """What a batch run did: files classified, skipped (resumed) and failed (``(path, reason)``), and those read
    only after a repair (``(path, what)``: NUL bytes dropped, stray bytes decoded; see ``PolicyText.recovered``)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    recovered: list[tuple[str, str]] = field(default_factory=list)
    not_policies: list[str] = field(default_factory=list)  # judged not a privacy policy by the detector
    paragraphs: int = 0


def discover_inputs(
    paths: Iterable[str], globs: Iterable[str] = DEFAULT_GLOBS
) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand files, directories (recursive, matching ``globs``) and ``-`` into a sorted, de-duplicated list.

    Returns:
        ``(inputs, problems)``: problems name missing paths and directories holding no policy file.
    """
    inputs: list[str] = []
    problems: list[tuple[str, str]] = []
    for raw in paths:
        if raw == STDIN:
            inputs.append(STDIN)
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted({str(p) for pattern in globs for p in path.rglob(pattern) if p.is_file()})
            if not found:
                problems.append((raw, f"directory holds no policy files matching {', '.join(globs)}"))
            inputs.extend(found)
        elif path.is_file():
            inputs.append(str(path))
        elif path.exists():  # a FIFO would block the run until a writer came; a device never ends
            problems.append((raw, "not a regular file (FIFO, device or socket)"))
        else:
            problems.append((raw, "no such file or directory"))
    return list(dict.fromkeys(inputs)), problems


def document_rows(document: ClassifiedDocument, source: str, page: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The output rows of a classified document, one per paragraph (the JSONL schema of ``classify``; ``page``:
    the page's ``is_policy`` and ``policy_probability``)."""
    for paragraph in document.paragraphs:
        yield {"source": source, "url": document.url, **page, "paragraph": paragraph.index, "start": paragraph.start,
               "end": paragraph.end,
               "section": " > ".join(paragraph.section), "text": paragraph.text, "labels": paragraph.labels,
               "scores": paragraph.scores, "attributes": paragraph.attributes,
               "retention": [asdict(period) for period in paragraph.retention]}


def _csv_block(rows: list[dict[str, Any]], labels: tuple[str, ...], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(["source", "url", "is_policy", "policy_probability", "paragraph", "start", "end", "section",
                         "text", "labels", "attributes", "retention", *[f"score_{label}" for label in labels]])
    for row in rows:
        writer.writerow([row["source"], row["url"] or "", _csv_value(row["is_policy"]),
                         _csv_value(row["policy_probability"]), row["paragraph"], row["start"], row["end"],
                         row["section"], row["text"],
                         ";".join(row["labels"]), _csv_attributes(row["attributes"]),
                         ";".join(period["text"] + (f" ({period['duration']})" if period["duration"] else "")
                                  for period in row["retention"]),
                         *[row["scores"][label] for label in labels]])
    return buffer.getvalue()


def _csv_attributes(attributes: dict[str, dict[str, float]]) -> str:
    """``purpose=advertising|analytics_research;third_party_entity=unnamed_third_party`` (values by score)."""
    return ";".join(f"{attr}={'|'.join(values)}" for attr, values in attributes.items())


def _csv_value(value: Any) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


class BatchError(ValueError):
    """A batch run refused before it changed anything: its output clashes with an input, or a resume finds an
    output that disagrees with its journal. The message is one line for the user."""


class OutputLocked(BatchError):
    """Another run holds the lock on this output."""


@dataclass(frozen=True)
class _JournalEntry:
    source: str
    size: int
    tail: str | None  # digest of the output's last bytes when the entry was written (absent in older journals)
    fmt: str | None
    part: str | None = None  # Parquet output: the part file holding the policy's rows
    page: dict[str, Any] | None = None  # url, paragraphs, the detector's verdict: what a corpus report reads
    part_size: int | None = None  # Parquet: how many policies the part holds (a part journalled in full has them all)

    def to_json(self) -> str:
        fields = {"source": self.source, "size": self.size, "format": self.fmt, "tail": self.tail, "part": self.part,
                  "page": self.page, "part_size": self.part_size}
        return json.dumps({key: value for key, value in fields.items() if value is not None})


def _read_journal(journal: Path) -> list[_JournalEntry]:
    entries: list[_JournalEntry] = []
    if journal.exists():
        for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                entries.append(_JournalEntry(str(entry["source"]), int(entry["size"]), entry.get("tail"),
                                             entry.get("format"), entry.get("part"), entry.get("page"),
                                             entry.get("part_size")))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                break  # a torn last line: the policy it names is redone
    return entries


def _rewrite_journal(journal: Path, entries: list[_JournalEntry]) -> None:
    """Rewrite a journal from the entries read, so that a torn last line (a kill mid-write) does not hide the
    entries a resumed run appends after it."""
    if not journal.exists():
        return
    atomic_write(journal, "".join(entry.to_json() + "\n" for entry in entries))


_TAIL_BYTES = 4096


def _tail_digest(handle: Any, size: int) -> str:
    """A digest of the ``_TAIL_BYTES`` bytes that end at ``size``: what a resume checks the output against."""
    start = max(0, size - _TAIL_BYTES)
    handle.seek(start)
    digest = hashlib.sha256(handle.read(size - start)).hexdigest()[:16]
    handle.seek(0, os.SEEK_END)
    return digest


def _check_resumable(output: Path, journal: Path, entries: list[_JournalEntry], fmt: str) -> int:
    """The output size to keep on resume, after checking that the output is the one the journal describes.

    Raises:
        BatchError: the output is missing, shorter than the journal says, ends otherwise than journalled, or was
            written in another format.
    """
    if not entries:
        if output.exists() and output.stat().st_size > 0:
            raise BatchError(f"cannot resume: {output} has no progress journal ({journal.name}) with a finished "
                             "policy; it was not written by a batch run, so it is left untouched")
        return 0
    last = entries[-1]
    formats = {entry.fmt for entry in entries if entry.fmt is not None}
    if formats and formats != {fmt}:
        raise BatchError(f"cannot resume: {journal.name} records {', '.join(sorted(formats))} output, not {fmt}")
    if not output.exists():
        raise BatchError(f"cannot resume: {output} is missing but {journal.name} records {len(entries)} finished "
                         f"policies; delete {journal.name} to start again")
    size = output.stat().st_size
    if size < last.size:
        raise BatchError(f"cannot resume: {output} is {size:,} bytes but {journal.name} records {last.size:,}; "
                         f"it was changed since; delete {journal.name} to start again")
    if last.tail is not None:
        with open(output, "rb") as handle:
            if _tail_digest(handle, last.size) != last.tail:
                raise BatchError(f"cannot resume: {output} does not end where {journal.name} says its last policy "
                                 f"({last.source}) ended; it was changed since; delete {journal.name} to start again")
    return last.size


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``output`` (and its progress journal) for a run: ``<output>.lock``, removed after.

    A second run on the same output fails at once instead of interleaving its rows with the first one's.

    Raises:
        OutputLocked: another process holds the lock.
    """
    import fcntl

    lock_path = output.with_name(output.name + ".lock")
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLocked(f"{output} is being written by another run (lock {lock_path} is held); wait for it "
                               "to finish or stop it") from None
        try:  # the holder before us may have removed the file after we opened it: lock the file on disk
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


def check_output_path(output: Path, inputs: Iterable[str]) -> None:
    """Refuse an output (or its journal, lock or temporary file) that is, or resolves to, one of the inputs.

    Called before anything is created or truncated, and before the model loads.

    Raises:
        BatchError: the output would overwrite an input, or sits under a path that is not a directory.
    """
    own = [output, *(output.with_name(output.name + suffix) for suffix in (".progress", ".lock")),
           output.with_name(f".{output.name}.tmp")]
    targets = {_identity(path): path for path in own}
    for source in inputs:
        if source == STDIN:
            continue
        key = _identity(Path(source))
        if key in targets:
            raise BatchError(f"output {targets[key]} is also an input ({source}); "
                             "choose an output outside the policies being classified")
    for parent in [output.parent, *output.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise BatchError(f"cannot write {output}: {parent} is a file, not a directory")
            break
    if output.is_dir():
        raise BatchError(f"cannot write {output}: it is a directory")


def _identity(path: Path) -> tuple[Any, ...]:
    """The same key for two names of one file (symlinks, ``./``, hard links); the resolved path for a new one."""
    try:
        info = path.stat()
        return ("inode", info.st_dev, info.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


def summary_markdown(summaries: list[tuple[str, dict[str, Any]]], scheme: Scheme) -> str:
    """A Markdown table: one row per policy, one column per category (paragraph count, or blank if absent)."""
    labels = label_ids(scheme)
    judged = any(info.get("is_policy") is not None for _, info in summaries)
    head = "| policy | is a policy (probability) " if judged else "| policy "
    lines = [head + "| paragraphs | " + " | ".join(labels) + " |",
             "| --- |" + (" --- |" if judged else "") + " --- |" + " --- |" * len(labels)]
    for source, info in summaries:
        cells = [str(info["counts"][label]) if info["counts"][label] else "–" for label in labels]
        verdict = (f" {'yes' if info['is_policy'] else 'no'} ({info['policy_probability']:.2f}) |" if judged else "")
        lines.append(f"| {_markdown_cell(source)} |{verdict} {info['paragraphs']} | " + " | ".join(cells) + " |")
    said = [(source, info["says"]) for source, info in summaries if info.get("says")]
    if said:
        lines += ["", "What each policy says (¶ n: the paragraph that says it):", ""]
        lines += [f"- {_markdown_cell(source)}: {says}" for source, says in said]
    return "\n".join(lines) + "\n"


def _statements(rows: list[dict[str, Any]], scheme: Scheme) -> str:
    """What a policy says (:meth:`ClassifiedDocument.statements`) from its rows; empty when nothing is stated."""
    from classifier.predict.document import ClassifiedDocument, ClassifiedParagraph
    from classifier.text.retention import RetentionPeriod

    paragraphs = [ClassifiedParagraph(index=r["paragraph"], text=r["text"], start=r["start"], end=r["end"],
                                      section=(), labels=r["labels"], scores=r["scores"],
                                      attributes=r.get("attributes", {}),
                                      retention=tuple(RetentionPeriod(**p) for p in r.get("retention", ())))
                  for r in rows]
    statements = ClassifiedDocument(None, paragraphs, scheme).statements()
    return statements.sentence() if statements else ""


def _markdown_cell(text: str) -> str:
    """A file name as one Markdown table cell: ``|`` and backslashes escaped, line breaks written as ``\\n``."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "\\r").replace("\n", "\\n"))


def run_batch(
    classifier: ParagraphModel,
    inputs: list[str],
    *,
    output: Path | None,
    fmt: OutputFormat | str = OutputFormat.jsonl,
    scheme: Scheme = Scheme.opp115,
    threshold: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    resume: bool = False,
    read_stdin: Callable[[], bytes] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    on_progress: Callable[[str, int], None] | None = None,
    max_bytes: int | None = None,
    group_paragraphs: int = DEFAULT_GROUP_PARAGRAPHS,
    max_paragraphs: int = DEFAULT_MAX_PARAGRAPHS,
    lock: bool = True,
    on_labelled: Callable[[int], None] | None = None,
    detector: PolicyDetector | None = None,
    policies_only: bool = False,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    urls: dict[str, str] | None = None,
    strip_boilerplate: bool = False,
) -> BatchResult:
    """Classify policies, writing each policy's rows as soon as its group of policies is labelled.

    Args:
        classifier: the model.
        inputs: file paths, or ``-`` for stdin.
        output: the output file; ``None`` writes JSONL or CSV to stdout (no resume). Held under an exclusive lock
            (``<output>.lock``) for the run.
        fmt: ``jsonl``, ``csv``, ``parquet`` (in parts as it goes, one file at the end; resumable) or ``summary``
            (Markdown table, at the end).
        resume: skip policies recorded as finished in ``<output>.progress`` and keep their rows, after checking
            that the output is the one the journal describes.
        on_error: called with ``(source, reason)`` for each policy that fails (unreadable, too large, no
            paragraphs, or any error while reading, segmenting or labelling it); the batch goes on.
        on_progress: called with ``(source, n_paragraphs)`` after each policy.
        max_bytes: the most bytes read from one input (default 20 MB); never more than this plus one is read.
        group_paragraphs: policies are labelled together until their paragraphs reach this many (one model call).
        max_paragraphs: a policy with more paragraphs than this is named as a failure, not labelled.
        on_labelled: called with a count of paragraphs each time the model has labelled a bounded piece (progress
            inside a long policy).
        lock: take the output's lock here; ``False`` when the caller already holds :func:`output_lock`.
        detector: a privacy-policy detector (:mod:`classifier.predict.detector`): every row then carries its page's
            ``policy_probability`` and ``is_policy``, and pages judged not a policy are listed in the result.
        policies_only: write no rows for pages the detector judges not a policy (they still count as done).
        max_seconds: a page that takes longer to read and segment is named as a failure (``None``: no limit).
        urls: each input's URL, by input path (see :func:`read_url_table`); else a ``<page>.url`` sidecar file,
            else the page's own first line (``PolicyText.url``).
        strip_boilerplate: blank each page's menus, footers and banners before segmenting
            (:mod:`classifier.text.boilerplate`).

    Returns:
        A :class:`BatchResult`.

    Raises:
        BatchError: the output is also an input, is locked by another run, or disagrees with its journal on
            resume; nothing was written then.
        ValueError: a non-positive size or a threshold outside [0, 1], or ``policies_only`` without a detector.
    """
    from classifier.models.base import check_batch_size, check_threshold
    from classifier.text.reading import DEFAULT_MAX_BYTES

    for name, value in (("batch_size", batch_size), ("group_paragraphs", group_paragraphs),
                        ("max_paragraphs", max_paragraphs), ("max_bytes", max_bytes or 1)):
        check_batch_size(value, name)
    check_threshold(threshold)
    if policies_only and detector is None:
        raise ValueError("--policies-only needs a policy detector beside the model (policy-classifier fit-detector)")
    fmt = OutputFormat(fmt).value  # a plain string from here on: it is written to the journal
    run = _BatchRun(classifier, fmt=fmt, scheme=scheme, threshold=threshold, batch_size=batch_size,
                    on_error=on_error, on_progress=on_progress, max_bytes=max_bytes or DEFAULT_MAX_BYTES,
                    max_paragraphs=max_paragraphs, read_stdin=read_stdin)
    run.on_labelled = on_labelled
    run.configure(detector=detector, policies_only=policies_only, max_seconds=max_seconds, urls=urls,
                  strip_boilerplate=strip_boilerplate)
    if output is None:
        return run.classify(inputs, group_paragraphs, sink=_Sink.stdout(fmt))
    check_output_path(output, inputs)
    with output_lock(output) if lock else contextlib.nullcontext():
        sink = _Sink.open(output, fmt, resume, run.labels)
        try:
            run.classify(inputs, group_paragraphs, sink=sink)
        finally:
            sink.close()
        sink.finish()
        run.write_collected(output)
        _write_failures(output, run.result.failed)
    return run.result


class _Sink:
    """Where streamed rows go: stdout, or an output file with its progress journal (see the module docstring)."""

    def __init__(self, handle: Any, output: Path | None, fmt: str, finished: set[str], tail: bytes,
                 parts: ParquetParts | None = None) -> None:
        self.handle, self.output, self.fmt, self.finished, self.tail = handle, output, fmt, finished, tail
        self.parts = parts
        self.journal = output.with_name(output.name + ".progress") if output is not None else None
        self.need_header = fmt == OutputFormat.csv and (output is None or handle.tell() == 0)

    @classmethod
    def stdout(cls, fmt: str) -> _Sink:
        if fmt == OutputFormat.parquet:
            raise ValueError("parquet output needs -o/--output")
        return cls(sys.stdout.buffer if fmt in (OutputFormat.jsonl, OutputFormat.csv) else None, None, fmt, set(),
                   b"")

    @classmethod
    def open(cls, output: Path, fmt: str, resume: bool, labels: tuple[str, ...] = ()) -> _Sink:
        """Open the output for a run: checked and cut back to its last finished policy on resume, else emptied."""
        journal = output.with_name(output.name + ".progress")
        if fmt == OutputFormat.parquet:
            return cls._open_parquet(output, journal, resume, labels)
        if fmt not in (OutputFormat.jsonl, OutputFormat.csv):
            return cls(None, output, fmt, set(), b"")
        finished: set[str] = set()
        if resume:
            entries = _read_journal(journal)
            size = _check_resumable(output, journal, entries, fmt)
            finished = {entry.source for entry in entries}
            if output.exists():
                with open(output, "r+b") as out:  # drop whatever follows the last finished policy
                    out.truncate(size)
            _rewrite_journal(journal, entries)
        else:
            journal.unlink(missing_ok=True)
            output.write_bytes(b"")
        handle = open(output, "a+b")  # noqa: SIM115 - held across the run, closed by close()
        tail = b""
        if handle.tell():
            handle.seek(max(0, handle.tell() - _TAIL_BYTES))
            tail = handle.read()
        return cls(handle, output, fmt, finished, tail)

    @classmethod
    def _open_parquet(cls, output: Path, journal: Path, resume: bool, labels: tuple[str, ...]) -> _Sink:
        from classifier.predict.parquet_parts import ParquetParts

        parts = ParquetParts(output, labels, journal)
        entries = _read_journal(journal) if resume else None
        if entries is not None:
            formats = {entry.fmt for entry in entries if entry.fmt is not None}
            if formats and formats != {OutputFormat.parquet.value}:
                raise BatchError(f"cannot resume: {journal.name} records {', '.join(sorted(formats))} output, "
                                 "not parquet")
            if not entries and output.exists() and output.stat().st_size > 0:
                raise BatchError(f"cannot resume: {output} has no progress journal ({journal.name}) with a "
                                 "finished policy; it was not written by a batch run, so it is left untouched")
        return cls(None, output, OutputFormat.parquet.value, parts.start(entries), b"", parts)

    @property
    def streaming(self) -> bool:
        return self.handle is not None

    def flush(self) -> None:
        """After a labelled group: Parquet writes its pending policies as one part (the streams write at once)."""
        if self.parts is not None:
            self.parts.flush()

    def finish(self) -> None:
        """After the whole run: Parquet merges its parts into the output."""
        if self.parts is not None:
            self.parts.merge()

    def write(self, source: str, block: bytes, page: dict[str, Any] | None = None) -> None:
        """Write one policy's rows whole, then (to a file) record it, with ``page``, in the journal."""
        self.handle.write(block)
        self.handle.flush()
        if self.journal is None:
            return
        os.fsync(self.handle.fileno())
        self.tail = (self.tail + block)[-_TAIL_BYTES:]
        entry = _JournalEntry(source, self.handle.tell(), hashlib.sha256(self.tail).hexdigest()[:16], self.fmt,
                              page=page)
        with open(self.journal, "a", encoding="utf-8") as log:
            log.write(entry.to_json() + "\n")
            log.flush()
            os.fsync(log.fileno())

    def close(self) -> None:
        if self.handle is not None and self.output is not None:
            self.handle.close()


class _BatchRun:
    """One pass over the inputs: read, segment, label in groups, write; each policy's failure is its own."""

    def __init__(self, classifier: ParagraphModel, *, fmt: str, scheme: Scheme, threshold: float | None,
                 batch_size: int, on_error: Callable[[str, str], None] | None,
                 on_progress: Callable[[str, int], None] | None, max_bytes: int, max_paragraphs: int,
                 read_stdin: Callable[[], bytes] | None) -> None:
        self.classifier, self.fmt, self.scheme, self.threshold = classifier, fmt, scheme, threshold
        self.batch_size, self.on_error, self.on_progress = batch_size, on_error, on_progress
        self.max_bytes, self.max_paragraphs, self.read_stdin = max_bytes, max_paragraphs, read_stdin
        self.labels = label_ids(scheme)
        self.on_labelled: Callable[[int], None] | None = None
        self.detector: PolicyDetector | None = None
        self.policies_only = False
        self.max_seconds: float | None = DEFAULT_MAX_SECONDS
        self.url_map: dict[str, str] = {}
        self.strip_boilerplate = False
        self.result = BatchResult()
        self.summaries: list[tuple[str, dict[str, Any]]] = []
        self.urls: dict[str, str | None] = {}  # each read policy's URL until its rows are written

    def classify(self, inputs: list[str], group_paragraphs: int, *, sink: _Sink) -> BatchResult:
        # Policies are read and segmented one by one but labelled in groups: one model call over ~1,000 paragraphs
        # of several policies runs about twice as fast as one call per policy. Each policy is still written, and
        # journalled, whole and in input order, so a crash loses at most the unwritten group.
        group: list[tuple[str, list[Paragraph]]] = []
        for source in inputs:
            if source in sink.finished:
                self.result.skipped.append(source)
                continue
            paragraphs = self._segmented(source)
            if paragraphs is None:
                continue
            group.append((source, paragraphs))
            if sum(len(paragraphs) for _, paragraphs in group) >= group_paragraphs:
                self._label(group, sink)
                group = []
        if group:
            self._label(group, sink)
        if self.fmt == OutputFormat.summary and sink.output is None:
            sys.stdout.write(summary_markdown(self.summaries, self.scheme))
        return self.result

    def configure(self, *, detector: PolicyDetector | None = None, policies_only: bool = False,
                  max_seconds: float | None = DEFAULT_MAX_SECONDS, urls: dict[str, str] | None = None,
                  strip_boilerplate: bool = False) -> None:
        """The page-level options of :func:`run_batch` (see there)."""
        self.detector, self.policies_only, self.max_seconds = detector, policies_only, max_seconds
        self.url_map, self.strip_boilerplate = dict(urls or {}), strip_boilerplate

    def fail(self, source: str, reason: str) -> None:
        """Record one page's failure and report it; the run goes on."""
        self.result.failed.append((source, reason))
        if self.on_error:
            self.on_error(source, reason)

    def _segmented(self, source: str) -> list[Paragraph] | None:
        """A policy's paragraphs, or ``None`` after naming its failure (any error reading or segmenting it)."""
        from classifier.text.reading import PolicyInputError, read_limited, read_policy
        from classifier.text.segment import segment_policy

        try:
            if source == STDIN:
                raw: bytes | Path = (self.read_stdin() if self.read_stdin
                                     else read_limited(sys.stdin.buffer, self.max_bytes))
            else:
                raw = Path(source)
            with _time_limit(self.max_seconds):
                policy = read_policy(raw, max_bytes=self.max_bytes)
                if self.strip_boilerplate:
                    from classifier.text.boilerplate import strip_boilerplate

                    policy = strip_boilerplate(policy)
                paragraphs = segment_policy(policy)
            if not paragraphs:  # text, but nothing a reader would call a paragraph: say so, write no rows
                raise PolicyInputError(NO_PARAGRAPHS)
            if len(paragraphs) > self.max_paragraphs:
                raise PolicyInputError(f"too many paragraphs: {len(paragraphs):,} (limit {self.max_paragraphs:,}, "
                                       "--max-paragraphs)")
        except PolicyInputError as exc:
            self.fail(source, str(exc))
            return None
        except Exception as exc:  # one pathological page must not stop a crawl: it becomes that page's failure
            self.fail(source, f"cannot read or segment: {error_line(exc)}")
            return None
        self.urls[source] = self._url_of(source, policy.url)
        if policy.recovered:
            self.result.recovered.append((source, policy.recovered))
        return paragraphs

    def _url_of(self, source: str, from_text: str | None) -> str | None:
        """A page's URL: from the ``--urls`` table, else a ``<page>.url`` sidecar file, else the page itself."""
        if source in self.url_map:
            return self.url_map[source]
        sidecar = Path(source + ".url")
        if source != STDIN and sidecar.is_file():
            with contextlib.suppress(OSError, UnicodeDecodeError):
                line = sidecar.read_text(encoding="utf-8").strip().splitlines()
                if line and line[0].strip():
                    return line[0].strip()
        return from_text

    def _label(self, group: list[tuple[str, list[Paragraph]]], sink: _Sink) -> None:
        """Label a group in one call and write it; if the call fails, label its policies one by one."""
        from classifier.predict.document import classify_segmented

        def label(members: list[tuple[str, list[Paragraph]]]) -> list[ClassifiedDocument]:
            # the detector reads the OPP-115 view; a card run converts each page after it (the same labels)
            scheme = Scheme.opp115 if self.detector is not None else self.scheme
            return classify_segmented(self.classifier, members, scheme=scheme, batch_size=self.batch_size,
                                      threshold=self.threshold, on_labelled=self.on_labelled)

        try:
            documents = label(group)
        except Exception as exc:
            if len(group) == 1:
                self.fail(group[0][0], f"cannot label: {error_line(exc)}")
                return
            for member in group:
                self._label([member], sink)
            return
        for (source, _), document in zip(group, documents, strict=True):
            self._finish(source, document, sink)
        sink.flush()

    def _finish(self, source: str, document: ClassifiedDocument, sink: _Sink) -> None:
        """Turn one classified policy into its rows and its journal record, and write them."""
        document.url = self.urls.pop(source, None)
        document, page = self._judged(source, document)
        skip = self.policies_only and page["is_policy"] is False
        rows = [] if skip else list(document_rows(document, "<stdin>" if source == STDIN else source, page))
        self.emit(source, rows, {"url": document.url, "paragraphs": len(document.paragraphs), **page}, sink)

    def emit(self, source: str, rows: list[dict[str, Any]], page: dict[str, Any], sink: _Sink) -> None:
        """Write one policy's rows (then its journal entry, with ``page``) and report it; the Ray engine's driver
        calls this with the rows its workers made."""
        self.result.done.append(source)
        self.result.paragraphs += len(rows)
        if sink.streaming:
            if self.fmt == OutputFormat.jsonl:
                block = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            else:
                block = _csv_block(rows, self.labels, sink.need_header)
                sink.need_header = False
            sink.write(source, block.encode("utf-8"), page)
        elif sink.parts is not None:
            sink.parts.add(source, rows, page)
        else:
            counts = {label: sum(label in r["labels"] for r in rows) for label in self.labels}
            self.summaries.append((rows[0]["source"] if rows else source,
                                   {"paragraphs": len(rows), "counts": counts,
                                    "is_policy": page.get("is_policy"),
                                    "policy_probability": page.get("policy_probability"),
                                    "says": _statements(rows, self.scheme)}))
        if self.on_progress:
            self.on_progress(source, len(rows))

    def _judged(self, source: str, document: ClassifiedDocument) -> tuple[ClassifiedDocument, dict[str, Any]]:
        """The detector's verdict on a page (``None`` values without one), and the page in the run's view."""
        if self.detector is None:
            return document, {"is_policy": None, "policy_probability": None}
        from classifier.predict.document import in_card_view

        probability = self.detector.probability(document)
        verdict = self.detector.is_policy(probability)
        if not verdict:
            self.result.not_policies.append(source)
        if self.scheme is Scheme.card:
            document = in_card_view(document)
        return document, {"is_policy": verdict, "policy_probability": round(probability, 4)}

    def write_collected(self, output: Path) -> None:
        """Write what is written at the end (the summary table), atomically."""
        if self.fmt == OutputFormat.summary:
            atomic_write(output, summary_markdown(self.summaries, self.scheme))


class _CollectingSink(_Sink):
    """A Ray worker's sink: each policy's JSONL rows and journal record kept in memory for the driver."""

    def __init__(self) -> None:
        super().__init__(None, None, OutputFormat.jsonl.value, set(), b"")
        self.pages: dict[str, dict[str, Any]] = {}

    @property
    def streaming(self) -> bool:
        return True

    def write(self, source: str, block: bytes, page: dict[str, Any] | None = None) -> None:
        rows = [json.loads(line) for line in block.decode("utf-8").splitlines()]
        self.pages[source] = {"rows": rows, "page": page or {}}


def collect_pages(classifier: ParagraphModel, sources: list[str], *, scheme: str = "opp115",
                  threshold: float | None = None, batch_size: int = DEFAULT_BATCH_SIZE, max_bytes: int | None = None,
                  max_paragraphs: int = DEFAULT_MAX_PARAGRAPHS, policies_only: bool = False,
                  detector: PolicyDetector | None = None, max_seconds: float | None = DEFAULT_MAX_SECONDS,
                  urls: dict[str, str] | None = None, strip_boilerplate: bool = False) -> dict[str, dict[str, Any]]:
    """Read, segment and label pages as :func:`run_batch` does, into memory: per source ``rows`` and ``page``, or
    ``failure`` (the reason), and ``recovered`` (a repair). What a Ray worker runs on its batch of pages."""
    from classifier.text.reading import DEFAULT_MAX_BYTES

    run = _BatchRun(classifier, fmt=OutputFormat.jsonl.value, scheme=Scheme(scheme), threshold=threshold,
                    batch_size=batch_size, on_error=None, on_progress=None,
                    max_bytes=max_bytes or DEFAULT_MAX_BYTES, max_paragraphs=max_paragraphs, read_stdin=None)
    run.configure(detector=detector, policies_only=policies_only, max_seconds=max_seconds, urls=urls,
                  strip_boilerplate=strip_boilerplate)
    sink = _CollectingSink()
    run.classify(sources, DEFAULT_GROUP_PARAGRAPHS, sink=sink)
    pages: dict[str, dict[str, Any]] = {source: dict(page) for source, page in sink.pages.items()}
    for source, reason in run.result.failed:
        pages[source] = {"failure": reason}
    for source, what in run.result.recovered:
        pages.setdefault(source, {})["recovered"] = what
    return pages


@contextlib.contextmanager
def driver_run(output: Path, inputs: list[str], *, fmt: OutputFormat | str = OutputFormat.jsonl,
               scheme: Scheme = Scheme.opp115, threshold: float | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
               resume: bool = False, max_bytes: int | None = None, max_paragraphs: int = DEFAULT_MAX_PARAGRAPHS,
               policies_only: bool = False, max_seconds: float | None = DEFAULT_MAX_SECONDS, lock: bool = True,
               on_error: Callable[[str, str], None] | None = None,
               on_progress: Callable[[str, int], None] | None = None,
               **unused: Any) -> Iterator[tuple[_BatchRun, _Sink, list[str]]]:
    """The writing half of a batch run, for an engine that labels elsewhere (Ray): the output checked, locked and
    opened (cut back on resume), a run without a model to :meth:`_BatchRun.emit` rows through, and the inputs still
    to do. On a clean exit the output is finished (Parquet merged, summary and failures written)."""
    from classifier.models.base import check_threshold
    from classifier.text.reading import DEFAULT_MAX_BYTES

    check_threshold(threshold)
    fmt = OutputFormat(fmt).value
    if fmt == OutputFormat.summary:
        raise ValueError("the Ray engine writes rows (jsonl, csv, parquet), not the summary table")
    check_output_path(output, inputs)
    with output_lock(output) if lock else contextlib.nullcontext():
        run = _BatchRun(None, fmt=fmt, scheme=scheme, threshold=threshold, batch_size=batch_size,  # type: ignore[arg-type]
                        on_error=on_error, on_progress=on_progress, max_bytes=max_bytes or DEFAULT_MAX_BYTES,
                        max_paragraphs=max_paragraphs, read_stdin=None)
        run.configure(policies_only=policies_only, max_seconds=max_seconds)
        sink = _Sink.open(output, fmt, resume, run.labels)
        todo = [source for source in inputs if source not in sink.finished]
        run.result.skipped = [source for source in inputs if source in sink.finished]
        try:
            yield run, sink, todo
            sink.flush()
        finally:
            sink.close()
        sink.finish()
        _write_failures(output, run.result.failed)


def read_url_table(path: str | Path, inputs: list[str]) -> dict[str, str]:
    """A CSV of page URLs (columns ``path`` or ``source``, and ``url``), keyed by the inputs they name: a path in the
    table matches an input equal to it or ending with it after a ``/``.

    Raises:
        ValueError: the file has no such columns.
    """
    import posixpath

    def normal(name: str) -> str:
        return posixpath.normpath(name.replace(os.sep, "/")).lstrip("/")

    with open(path, encoding="utf-8-sig", newline="") as handle:  # -sig: a spreadsheet's CSV starts with a BOM
        reader = csv.DictReader(handle)
        key = next((name for name in ("path", "source") if name in (reader.fieldnames or [])), None)
        if key is None or "url" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: a URL table needs a path (or source) column and a url column")
        table = {normal(row[key]): row["url"] for row in reader if row.get(key) and row.get("url")}
    by_input: dict[str, str] = {}
    claimed: dict[str, str] = {}
    for source in inputs:
        parts = normal(source).split("/")
        tail = next((t for t in ("/".join(parts[i:]) for i in range(len(parts))) if t in table), None)
        if tail is None:
            continue
        if tail in claimed:  # "index.txt" in the table, and two inputs end with it: which one is meant?
            raise ValueError(f"{path}: {tail!r} matches more than one input ({claimed[tail]}, {source}); give "
                             "a longer path")
        claimed[tail], by_input[source] = source, table[tail]
    return by_input


def failures_path(output: Path) -> Path:
    """``<output>.failures.jsonl``: the pages the last run over this output could not classify, and why (a resumed
    run retries every unfinished page, so the last run's list is the whole list)."""
    return output.with_name(output.name + ".failures.jsonl")


def _write_failures(output: Path, failed: list[tuple[str, str]]) -> None:
    atomic_write(failures_path(output), "".join(json.dumps({"source": source, "reason": reason},
                                                            ensure_ascii=False) + "\n" for source, reason in failed))


class _PageTimeout(BaseException):
    """Not an ``Exception``: a reader's ``except Exception`` fallback (lxml to html.parser, say) must not swallow it."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``PolicyInputError`` when the block runs past ``seconds`` (a timer signal: only in the main thread of
    a Unix process; elsewhere, a Ray worker thread say, the block runs unguarded)."""
    import signal
    import threading

    from classifier.text.reading import PolicyInputError

    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _PageTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _PageTimeout:
        raise PolicyInputError(f"took over {seconds:g} s to read and segment (--max-seconds)") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)


def error_line(exc: BaseException) -> str:
    """An unexpected error as one short line for a failure report: its type and the start of its message."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
