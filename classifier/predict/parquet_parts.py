"""Parquet output written as the batch goes: bounded memory, resumable after a kill, one file at the end.

A Parquet file cannot be appended to, so each labelled group of policies is written as one part file in
``<output>.parts/`` (atomically), and only then are its policies recorded in the progress journal (the same
``<output>.progress`` as for JSONL and CSV, with the part's name). At the end the parts are streamed, one row group
each, into the output (written to a temporary file and renamed), the journal is rewritten to say that the output is
now part 0, and the parts folder is removed. On resume, parts the journal does not name (written, then killed before
the journal entry) are deleted and their policies redone; a finished output becomes part 0 again, so a resumed run
adds to it. Memory holds one group's rows, whatever the crawl's size.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifier.files import atomic_write

__all__ = ["ParquetParts", "row_schema"]

MERGED = "part-000000.parquet"  # what the finished output is called in the journal: part 0 of a resumed run


def row_schema(labels: Sequence[str]) -> Any:
    """The Arrow schema of the rows: fixed, so that every part (and an empty run) has the same columns and types."""
    import pyarrow as pa

    return pa.schema([("source", pa.string()), ("url", pa.string()), ("is_policy", pa.bool_()),
                      ("policy_probability", pa.float64()), ("paragraph", pa.int64()),
                      ("start", pa.int64()), ("end", pa.int64()), ("section", pa.string()), ("text", pa.string()),
                      ("labels", pa.list_(pa.string())),
                      ("attributes", pa.list_(pa.struct([("attribute", pa.string()), ("value", pa.string()),
                                                         ("score", pa.float64())]))),
                      ("retention", pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()),
                                                        ("text", pa.string()), ("kind", pa.string()),
                                                        ("duration", pa.string()), ("days", pa.float64()),
                                                        ("bound", pa.string())]))),
                      *[(f"score_{label}", pa.float64()) for label in labels]])


class ParquetParts:
    """The part files and journal of one Parquet output (see the module docstring)."""

    def __init__(self, output: Path, labels: Sequence[str], journal: Path) -> None:
        self.output, self.labels, self.journal = output, tuple(labels), journal
        self.folder = output.with_name(output.name + ".parts")
        self.parts: list[str] = []  # journalled parts, in order
        self.pending: list[tuple[str, list[dict[str, Any]], dict[str, Any] | None]] = []  # not yet in a part

    def start(self, entries: Sequence[Any] | None) -> set[str]:
        """Prepare a run: fresh (``entries`` None) or resumed from the journal's entries; returns the finished
        sources."""
        if entries is None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.journal.unlink(missing_ok=True)
            self.output.unlink(missing_ok=True)  # an old output must not meet a new journal
            return set()
        entries = _whole_parts(entries)
        named = list(dict.fromkeys(entry.part for entry in entries))
        if MERGED in named and not (self.folder / MERGED).exists():
            if not self.output.exists():
                from classifier.predict.batch import BatchError

                raise BatchError(f"cannot resume: {self.output} is missing but {self.journal.name} records "
                                 f"{len(entries)} finished policies; delete {self.journal.name} to start again")
            self.folder.mkdir(exist_ok=True)
            os.replace(self.output, self.folder / MERGED)
        missing = [part for part in named if not (self.folder / part).exists()]
        if missing:
            from classifier.predict.batch import BatchError

            raise BatchError(f"cannot resume: {self.journal.name} names {missing[0]}, which is not in {self.folder}; "
                             f"delete {self.journal.name} to start again")
        self.folder.mkdir(exist_ok=True)
        for stray in self.folder.iterdir():  # written but never journalled: its policies are redone
            if stray.name not in named:
                stray.unlink()
        self.parts = named
        # rewritten from what was read: a torn last line (killed mid-write) must not hide the entries after it
        atomic_write(self.journal, "".join(entry.to_json() + "\n" for entry in entries))
        return {entry.source for entry in entries}

    def add(self, source: str, rows: list[dict[str, Any]], page: dict[str, Any] | None = None) -> None:
        self.pending.append((source, rows, page))

    def flush(self) -> None:
        """Write the pending policies as one part, then journal them."""
        if not self.pending:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        name = f"part-{len(self.parts) + 1:06d}.parquet"
        while (self.folder / name).exists() or name in self.parts:
            name = f"part-{int(name[5:11]) + 1:06d}.parquet"
        table = pa.Table.from_pylist([self._flat(row) for _, rows, _ in self.pending for row in rows],
                                     schema=row_schema(self.labels))
        self.folder.mkdir(exist_ok=True)
        tmp = self.folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.folder / name)
        with open(self.journal, "a", encoding="utf-8") as log:
            # one write: a kill leaves the part's entries whole or cut, and a cut part is redone (see start)
            log.write("".join(_entry(source, name, page, len(self.pending)) + "\n"
                              for source, _, page in self.pending))
            log.flush()
            os.fsync(log.fileno())
        self.parts.append(name)
        self.pending = []

    def merge(self) -> None:
        """Stream the parts into the output (atomically), then make the journal name it as part 0."""
        import pyarrow.parquet as pq

        self.flush()
        schema = row_schema(self.labels)
        tmp = self.output.with_name(f".{self.output.name}.tmp")
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in self.parts:
                for batch in pq.ParquetFile(self.folder / part).iter_batches():
                    writer.write_batch(batch)
        os.replace(tmp, self.output)
        if self.journal.exists():
            from classifier.predict.batch import _read_journal

            entries = _read_journal(self.journal)
            atomic_write(self.journal, "".join(_entry(entry.source, MERGED, entry.page, len(entries)) + "\n"
                                               for entry in entries))
        shutil.rmtree(self.folder, ignore_errors=True)

    def _flat(self, row: dict[str, Any]) -> dict[str, Any]:
        flat = {key: value for key, value in row.items() if key not in ("scores", "attributes")}
        flat["attributes"] = [{"attribute": attr, "value": value, "score": score}
                              for attr, values in row["attributes"].items() for value, score in values.items()]
        flat.update({f"score_{label}": row["scores"][label] for label in self.labels})
        return flat


def _entry(source: str, part: str, page: dict[str, Any] | None, part_size: int) -> str:
    from classifier.predict.batch import _JournalEntry

    return _JournalEntry(source, 0, None, "parquet", part, page, part_size).to_json()


def _whole_parts(entries: Sequence[Any]) -> list[Any]:
    """The entries of parts journalled in full: a kill while a part's entries were being written leaves some of
    them, and that part is redone (its file is then unnamed and deleted) rather than kept with policies missing."""
    from collections import Counter

    counts = Counter(entry.part for entry in entries)
    return [entry for entry in entries if entry.part_size is None or counts[entry.part] == entry.part_size]
