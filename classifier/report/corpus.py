"""A corpus report of a batch run: what share of the policies cover each category, by group, with intervals.

Reads a ``classify`` output (Parquet, JSONL or CSV) with DuckDB, the run's progress journal (every finished page,
also those ``--policies-only`` wrote no rows for) and its failures file, and writes ``report.md``, ``report.json``
and plots (PNG and SVG) to a folder. A policy *covers* a category when at least one of its paragraphs has the
label. Shares come with 95% bootstrap intervals over policies (resampling policies, not paragraphs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CorpusReportError", "build_corpus_report", "write_corpus_report"]

GROUP_FOLDER = "folder"  # the pseudo-column: the name of each page's folder (the DMOZ category)


class CorpusReportError(ValueError):
    """The output cannot be read as a classify output, or a grouping column is not in it."""


@dataclass(frozen=True)
class _Pages:
    """One entry per finished page: source, group, is_policy (or None), paragraphs, characters, categories."""

    sources: list[str]
    groups: list[str]
    is_policy: list[bool | None]
    paragraphs: np.ndarray
    characters: np.ndarray
    covered: np.ndarray  # (pages, labels) 0/1
    labels: list[str]


def build_corpus_report(output: str | Path, *, group_by: str | None = GROUP_FOLDER, policies_only: bool = False,
                        n_boot: int = 1000, seed: int = 13) -> dict[str, Any]:
    """The report's figures as a JSON-ready dict (see the module docstring).

    Args:
        output: a ``classify`` output file.
        group_by: ``folder`` (each page's folder), a column of the output (``url``...), or ``None``.
        policies_only: count only the pages the detector judged policies (the others are still listed).
    """
    pages = _read_pages(Path(output), group_by)
    keep = [i for i, verdict in enumerate(pages.is_policy) if not policies_only or verdict is not False]
    rng = np.random.default_rng(seed)
    groups = {"all": keep}
    if group_by is not None:
        for group in sorted(set(pages.groups[i] for i in keep)):
            groups[group] = [i for i in keep if pages.groups[i] == group]
    coverage = {name: _shares(pages.covered[rows], pages.labels, rng, n_boot) for name, rows in groups.items()}
    judged = [v for v in pages.is_policy if v is not None]
    return {
        "output": str(output), "group_by": group_by, "policies_only": policies_only, "bootstrap": n_boot,
        "pages": len(pages.sources), "pages_counted": len(keep),
        "not_policies": sorted(s for s, v in zip(pages.sources, pages.is_policy, strict=True) if v is False),
        "judged": len(judged), "failed": _read_failures(Path(output)),
        "coverage": coverage, "group_sizes": {name: len(rows) for name, rows in groups.items()},
        "paragraphs_per_policy": _distribution(pages.paragraphs[keep]),
        "characters_per_policy": _distribution(pages.characters[keep]),
        "labels": pages.labels,
    }


def _shares(covered: np.ndarray, labels: Sequence[str], rng: np.random.Generator, n_boot: int) -> dict[str, Any]:
    if len(covered) == 0:
        return {label: {"share": None, "low": None, "high": None} for label in labels}
    means = covered.mean(axis=0)
    # resampling n policies of which a share p cover a label draws Binomial(n, p) of them: the same bootstrap,
    # without an (n_boot, policies, labels) array (0.9 GB for 10,000 policies)
    boot = rng.binomial(len(covered), means, size=(n_boot, len(means))) / len(covered)
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    return {label: {"share": float(means[j]), "low": float(low[j]), "high": float(high[j])}
            for j, label in enumerate(labels)}


def _distribution(values: np.ndarray) -> dict[str, Any]:
    if len(values) == 0:
        return {"n": 0}
    q = np.percentile(values, [10, 25, 50, 75, 90])
    return {"n": len(values), "mean": float(values.mean()), "p10": float(q[0]), "p25": float(q[1]),
            "median": float(q[2]), "p75": float(q[3]), "p90": float(q[4]), "max": float(values.max()),
            "values": [int(v) for v in values]}


def _read_pages(output: Path, group_by: str | None) -> _Pages:
    """Per page, from the output rows (DuckDB) and the journal (pages without rows, the detector's verdicts)."""
    rows = _query_rows(output, group_by)
    journal = _read_journal_pages(output)
    labels = _report_labels({label for row in rows.values() for label in row["labels"]})
    sources = list(dict.fromkeys([*journal, *rows]))
    groups, verdicts, paragraphs, characters, covered = [], [], [], [], []
    for source in sources:
        row = rows.get(source, {"labels": set(), "paragraphs": 0, "characters": 0, "group": None, "is_policy": None})
        page = journal.get(source, {})
        groups.append(str(row["group"] if row["group"] is not None else _group_of(source, page, group_by)))
        verdicts.append(page.get("is_policy", row["is_policy"]))
        paragraphs.append(row["paragraphs"] or page.get("paragraphs", 0))
        characters.append(row["characters"])
        covered.append([label in row["labels"] for label in labels])
    return _Pages(sources, groups, verdicts, np.asarray(paragraphs, dtype=float), np.asarray(characters, dtype=float),
                  np.asarray(covered, dtype=float).reshape(len(sources), len(labels)), labels)


def _report_labels(seen: set[str]) -> list[str]:
    """The view's whole label set (a category no policy covers shows as 0%), or the labels seen for a custom model."""
    from classifier.labels import LABEL_IDS, card_label_ids

    for view in (list(LABEL_IDS), list(card_label_ids())):
        if seen <= set(view):
            return view
    return sorted(seen)


def _group_of(source: str, page: dict[str, Any], group_by: str | None) -> str:
    if group_by == GROUP_FOLDER:
        return Path(source).parent.name or "."
    return str(page.get(group_by, "")) if group_by else "all"


def _query_rows(output: Path, group_by: str | None) -> dict[str, dict[str, Any]]:
    """One dict per source: its set of labels, paragraphs, characters, group value and verdict, aggregated by
    DuckDB."""
    try:
        import duckdb
    except ImportError:
        raise CorpusReportError("the corpus report needs the report extra: pip install "
                                "'policy-clause-classifier[report]'") from None
    if not output.is_file():
        raise CorpusReportError(f"{output}: not a file" if output.exists() else f"no such file: {output}")
    reader = {".parquet": "read_parquet", ".jsonl": "read_json_auto", ".json": "read_json_auto",
              ".csv": "read_csv_auto"}.get(output.suffix.lower())
    if reader is None:
        raise CorpusReportError(f"{output}: not a classify output (.parquet, .jsonl or .csv)")
    con = duckdb.connect()
    try:
        literal = "'" + str(output).replace("'", "''") + "'"  # a view cannot take a prepared parameter
        con.execute(f"CREATE VIEW rows AS SELECT * FROM {reader}({literal})")
        columns = [c[0] for c in con.execute("DESCRIBE rows").fetchall()]
        missing = {"source", "labels", "text"} - set(columns)
        if missing:
            raise CorpusReportError(f"{output}: not a classify output (no {', '.join(sorted(missing))} column)")
        if group_by not in (None, GROUP_FOLDER) and group_by not in columns:
            raise CorpusReportError(f"{output}: no column {group_by!r} to group by (columns: {', '.join(columns)})")
        # CSV keeps labels as "a;b"; Parquet and JSONL as lists
        labels = "string_split(labels, ';')" if output.suffix.lower() == ".csv" else "labels"
        group = f"any_value(CAST({_quote(group_by)} AS VARCHAR))" if group_by not in (None, GROUP_FOLDER) else "NULL"
        verdict = "any_value(is_policy)" if "is_policy" in columns else "NULL"
        query = (f"SELECT source, list_distinct(flatten(list({labels}))) AS labels, count(*) AS paragraphs, "
                 f"sum(length(text)) AS characters, {group} AS grp, {verdict} AS verdict FROM rows GROUP BY source "
                 "ORDER BY source")  # DuckDB groups in parallel: the order would change from run to run
        result = con.execute(query).fetchall()
    except duckdb.Error as exc:
        raise CorpusReportError(f"{output}: cannot read it as a classify output ({str(exc).splitlines()[0]})") \
            from None
    finally:
        con.close()
    return {source: {"labels": {x for x in labels if x}, "paragraphs": int(paragraphs),
                     "characters": int(characters or 0), "group": grp,
                     "is_policy": None if verdict is None else str(verdict).lower() == "true"}
            for source, labels, paragraphs, characters, grp, verdict in result}


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _read_journal_pages(output: Path) -> dict[str, dict[str, Any]]:
    from classifier.predict.batch import _read_journal

    journal = output.with_name(output.name + ".progress")
    return {entry.source: entry.page or {} for entry in _read_journal(journal)}


def _read_failures(output: Path) -> list[dict[str, str]]:
    from classifier.predict.batch import failures_path

    path = failures_path(output)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_corpus_report(report: dict[str, Any], directory: str | Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the plots (when matplotlib is there) into ``directory``."""
    from classifier.files import atomic_write
    from classifier.report.corpus_render import render_markdown, render_plots

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "report.json", directory / "report.md"]
    atomic_write(written[0], json.dumps(report, indent=1) + "\n")
    plots = render_plots(report, directory)
    atomic_write(written[1], render_markdown(report, [p.name for p in plots if p.suffix == ".svg"]))
    return [*written, *plots]
