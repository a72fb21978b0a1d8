"""A policy report, a folder index and a comparison as Markdown, for terminals and pull requests (the same content
as :mod:`classifier.report.html`, without the full text's highlighting: each labelled paragraph is listed with its
categories instead)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classifier.report.policy import excerpt

if TYPE_CHECKING:
    from collections.abc import Sequence

    from classifier.report.compare import Comparison
    from classifier.report.policy import CategoryState, PolicyReport

__all__ = ["comparison_markdown", "index_markdown", "report_markdown"]

_EXCERPT = 160


def report_markdown(report: PolicyReport) -> str:
    """One policy's report."""
    lines = [f"# {_inline(report.title)}", "",
             f"{_inline(report.source or 'text')}{' · ' + _inline(report.url) if report.url else ''} · "
             f"{len(report.paragraphs)} paragraphs, {report.n_words:,} words", ""]
    if not report.paragraphs:
        lines += ["**No paragraphs were found in this document.**", ""]
    lines += ["## At a glance", "", *_states(report, report.card), "", "## OPP-115 categories", "",
              *_states(report, report.categories), "", "## What it says", "",
              report.statements.sentence() if report.model.get("attribute_outputs") or report.statements.retention
              else "This model has no attribute outputs.", "", "## Labelled paragraphs", ""]
    lines += [f"- ¶{p.index} [{', '.join(p.labels)}] {_inline(excerpt(p.text, _EXCERPT))}" for p in report.paragraphs
              if p.labels] or ["None."]
    model = report.model
    lines += ["", f"policy-classifier {model.get('tool_version', '')}, model `{model.get('name', '')}`, "
              + ("calibrated scores" if model.get("calibrated") else "uncalibrated scores")
              + f"; unsure floor {model.get('unsure_floor', 0.2)}.", ""]
    return "\n".join(lines)


def index_markdown(entries: Sequence[tuple[str, PolicyReport]], *, failed: Sequence[tuple[str, str]] = ()) -> str:
    """The index of a folder's reports."""
    lines = ["# Policy reports", "", "| policy | paragraphs | covered | unsure | not found |",
             "| --- | --- | --- | --- | --- |"]
    for link, report in entries:
        counts = [sum(s.state == state for s in report.categories) for state in ("covered", "unsure", "not found")]
        lines.append(f"| [{_cell(report.title)}]({link}) | {len(report.paragraphs)} | "
                     + " | ".join(map(str, counts)) + " |")
    lines += ["", *(f"- not read: {_inline(source)}: {_inline(reason)}" for source, reason in failed)]
    return "\n".join(lines) + "\n"


def comparison_markdown(comparison: Comparison) -> str:
    """Two versions compared."""
    old, new = comparison.old, comparison.new
    lines = ["# Policy comparison", "", f"Old: {_inline(old.title)} ({_inline(old.source or '')}); new: "
             f"{_inline(new.title)} ({_inline(new.source or '')})", "", comparison.headline(), "",
             "| category | old | new | change | only in old | only in new |", "| --- | --- | --- | --- | --- | --- |"]
    for change in comparison.changes:
        lines.append(f"| {change.label} ({change.scheme}) | {change.old_state} | {change.new_state} | {change.kind} | "
                     f"{_marks(change.only_old)} | {_marks(change.only_new)} |")
    lines += ["", f"Old says: {old.statements.sentence()}", "", f"New says: {new.statements.sentence()}", ""]
    lines += [f"- {clause}: no longer {', '.join(removed) or '-'}; newly {', '.join(added) or '-'}"
              for clause, removed, added in comparison.attribute_changes]
    return "\n".join(lines) + "\n"


def _states(report: PolicyReport, states: Sequence[CategoryState]) -> list[str]:
    lines = ["| category | state | confidence | paragraphs | evidence |", "| --- | --- | --- | --- | --- |"]
    for s in states:
        evidence = "; ".join(f"¶{i} {_cell(excerpt(report.paragraph(i).text, 80))}" for i in s.evidence[:2])
        lines.append(f"| {s.name} | {s.state} | {s.confidence:.0%} | {s.n_paragraphs} | {evidence or '-'} |")
    return lines


def _marks(indices: Sequence[int]) -> str:
    return ", ".join(f"¶{i}" for i in indices[:8]) + (" …" if len(indices) > 8 else "") or "-"


def _inline(text: str) -> str:
    """One line of policy text: line breaks folded (a Markdown heading or list cannot start inside it)."""
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")
