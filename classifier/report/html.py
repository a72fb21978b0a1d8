"""A policy report as one self-contained HTML page: inline CSS, no script, no network; every piece of the policy's
text escaped, so a policy holding ``<script>`` shows it as text and never runs it.

Each category's state is a word as well as a colour (*covered*, *unsure*, *not found*), and each labelled paragraph
names its categories in text beside its colour band, so the page reads in greyscale and to a screen reader too.
Evidence links point at the paragraph's anchor (``#p-12``) in the full text below.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from classifier.labels import CARD_LABELS, LABELS
from classifier.report.policy import excerpt

if TYPE_CHECKING:
    from collections.abc import Sequence

    from classifier.report.compare import Comparison
    from classifier.report.policy import CategoryState, PolicyReport

__all__ = ["comparison_html", "index_html", "report_html"]

# One colour per category (Okabe-Ito and Tol's muted scheme: tell-apart for common colour blindness).
COLOURS = {
    "first_party_collection": "#0072B2", "third_party_sharing": "#D55E00", "user_choice_control": "#009E73",
    "user_access_edit_deletion": "#CC79A7", "data_retention": "#E69F00", "data_security": "#56B4E9",
    "policy_change": "#882255", "do_not_track": "#44AA99", "international_specific_audiences": "#999933",
    "other": "#888888", "children": "#AA4499",
    "retention": "#E69F00", "user_rights": "#009E73", "security": "#56B4E9",  # the card view's own ids
}
_NAMES = {label.id: label.name for label in (*LABELS, *CARD_LABELS)}
_STATE_CLASS = {"covered": "covered", "unsure": "unsure", "not found": "absent"}
_EXCERPT = 220  # characters of an evidence paragraph quoted in the tables

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:980px;padding:1.5em;
color:#1a1a1a;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#555;font-size:.9em}.meta code{font-size:.95em}
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #ddd;padding:.35em .5em;
vertical-align:top;text-align:left}th{background:#f4f4f4}
.state{display:inline-block;padding:.05em .5em;border-radius:.8em;font-weight:600;font-size:.85em;white-space:nowrap}
.covered{background:#d7f0dd;color:#14532d;border:1px solid #2f855a}
.unsure{background:#fdf3d0;color:#6b4f00;border:1px dashed #b7791f}
.absent{background:#eee;color:#444;border:1px dotted #777}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.3em;vertical-align:baseline}
.excerpt{color:#333;font-size:.9em}.excerpt a{font-weight:600}
.para{margin:.5em 0;padding:.35em .6em;border-left:6px solid transparent}
.para.labelled{background:#fafafa}.para:target{outline:3px solid #0072B2}
.tags{font-size:.78em;font-weight:600;color:#333;margin-bottom:.15em}
.tag{display:inline-block;margin-right:.4em;padding:0 .35em;border-radius:3px;background:#fff;border:1px solid #bbb}
.section{font-weight:700;margin-top:1.2em;color:#333}
.sentence{background:#f4f8fb;border:1px solid #cfe0ee;padding:.6em .8em;border-radius:4px}
.added{background:#e6f4ea}.removed{background:#fce8e6}
nav a{margin-right:1em}
"""


def report_html(report: PolicyReport) -> str:
    """The page of one policy."""
    parts = [_head(report.title), "<body>", f"<h1>{escape(report.title)}</h1>", _meta(report)]
    parts.append('<nav><a href="#at-a-glance">At a glance</a><a href="#statements">What it says</a>'
                 '<a href="#categories">OPP-115 categories</a><a href="#text">Full text</a></nav>')
    if not report.paragraphs:
        parts.append("<p><strong>No paragraphs were found in this document</strong>: nothing to label.</p>")
    elif all(s.state == "not found" for s in report.categories if s.label != "other"):
        parts.append("<p><strong>No privacy practice was found in this document.</strong> It may not be a privacy "
                     "policy, or its wording escapes the model.</p>")
    parts += ['<h2 id="at-a-glance">At a glance</h2>', _states_table(report, report.card),
              '<h2 id="statements">What it says</h2>', _statements(report),
              '<h2 id="categories">OPP-115 categories</h2>', _states_table(report, report.categories),
              '<h2 id="text">Full text</h2>', _legend(), _full_text(report), _footer(report), "</body></html>"]
    return "\n".join(parts) + "\n"


def index_html(entries: Sequence[tuple[str, PolicyReport]], *, failed: Sequence[tuple[str, str]] = ()) -> str:
    """The index page of a folder's reports: ``(link, report)`` pairs, and the policies that could not be read."""
    rows = []
    for link, report in entries:
        counts = {state: sum(s.state == state for s in report.categories) for state in ("covered", "unsure",
                                                                                        "not found")}
        rows.append(f'<tr><td><a href="{escape(link, quote=True)}">{escape(report.title)}</a><br>'
                    f'<span class="meta">{escape(report.source or "")}</span></td>'
                    f"<td>{len(report.paragraphs)}</td><td>{counts['covered']}</td><td>{counts['unsure']}</td>"
                    f"<td>{counts['not found']}</td>"
                    f"<td>{' '.join(_chip(s.label) for s in report.card if s.state == 'covered')}</td></tr>")
    failures = "".join(f"<li>{escape(source)}: {escape(reason)}</li>" for source, reason in failed)
    return "\n".join([
        _head("Policy reports"), "<body>", "<h1>Policy reports</h1>",
        f'<p class="meta">{len(entries)} policies' + (f", {len(failed)} could not be read" if failed else "")
        + "</p>",
        "<table><tr><th>Policy</th><th>Paragraphs</th><th>Covered</th><th>Unsure</th><th>Not found</th>"
        "<th>User-facing categories covered</th></tr>", *rows, "</table>",
        *([f"<h2>Not read</h2><ul>{failures}</ul>"] if failed else []), "</body></html>"]) + "\n"


def comparison_html(comparison: Comparison) -> str:
    """The page comparing two policies or two versions of one."""
    old, new = comparison.old, comparison.new
    rows = []
    for change in comparison.changes:
        rows.append(f"<tr><td>{_chip(change.label)}{escape(_NAMES.get(change.label, change.label))}</td>"
                    f"<td>{_badge(change.old_state)}</td><td>{_badge(change.new_state)}</td>"
                    f"<td><strong>{escape(change.kind)}</strong></td><td>{_side(change.only_old, old, 'removed')}"
                    f"</td><td>{_side(change.only_new, new, 'added')}</td></tr>")
    attribute_rows = [f"<tr><td>{escape(clause)}</td><td>{escape(', '.join(removed)) or '-'}</td>"
                      f"<td>{escape(', '.join(added)) or '-'}</td></tr>"
                      for clause, removed, added in comparison.attribute_changes]
    return "\n".join([
        _head(f"{old.title} / {new.title}"), "<body>", "<h1>Policy comparison</h1>",
        f'<p class="meta">Old: <strong>{escape(old.title)}</strong> ({escape(old.source or "")}, '
        f"{len(old.paragraphs)} paragraphs)<br>New: <strong>{escape(new.title)}</strong> "
        f"({escape(new.source or '')}, {len(new.paragraphs)} paragraphs)</p>",
        f"<p>{escape(comparison.headline())}</p>",
        "<h2>Categories</h2><table><tr><th>Category</th><th>Old</th><th>New</th><th>Change</th>"
        "<th>Only in the old text</th><th>Only in the new text</th></tr>", *rows, "</table>",
        "<h2>What each says</h2>",
        f'<p><strong>Old:</strong> <span class="sentence">{escape(old.statements.sentence())}</span></p>',
        f'<p><strong>New:</strong> <span class="sentence">{escape(new.statements.sentence())}</span></p>',
        *(["<table><tr><th>Clause</th><th>No longer stated</th><th>Newly stated</th></tr>", *attribute_rows,
            "</table>"] if attribute_rows else ["<p>The attribute values stated are the same.</p>"]),
        _footer(new), "</body></html>"]) + "\n"


def _head(title: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_CSS}</style></head>")


def _meta(report: PolicyReport) -> str:
    where = (f'<a href="{escape(report.url, quote=True)}">{escape(report.url)}</a>'
             if report.url and report.url.startswith(("http://", "https://")) else escape(report.url or ""))
    source = f"<code>{escape(report.source)}</code>" if report.source else "text"
    return (f'<p class="meta">{source}{" · " + where if where else ""} · {len(report.paragraphs)} paragraphs, '
            f"{report.n_words:,} words, {report.n_characters:,} characters</p>")


def _badge(state: str) -> str:
    return f'<span class="state {_STATE_CLASS[state]}">{escape(state)}</span>'


def _chip(label: str) -> str:
    return f'<span class="swatch" style="background:{COLOURS.get(label, "#888")}" aria-hidden="true"></span>'


def _states_table(report: PolicyReport, states: Sequence[CategoryState]) -> str:
    confidence = "calibrated" if report.model.get("calibrated") else "uncalibrated score"
    rows = [f"<tr><td>{_chip(s.label)}{escape(s.name)}</td><td>{_badge(s.state)}</td>"
            f"<td>{s.confidence:.0%}</td><td>{s.n_paragraphs}</td><td>{_evidence(report, s)}</td></tr>"
            for s in states]
    return ("<table><tr><th>Category</th><th>State</th>"
            f'<th title="{confidence}">Confidence ({confidence})</th><th>Paragraphs</th>'
            "<th>Strongest evidence</th></tr>" + "".join(rows) + "</table>")


def _evidence(report: PolicyReport, state: CategoryState) -> str:
    if not state.evidence:
        return '<span class="meta">none</span>'
    lead = "" if state.state == "covered" else '<span class="meta">nearest candidates: </span>'
    quotes = (f'<div class="excerpt"><a href="#p-{i}">¶{i}</a> {escape(excerpt(report.paragraph(i).text, _EXCERPT))}'
              "</div>" for i in state.evidence)
    return lead + "".join(quotes)


def _side(indices: Sequence[int], report: PolicyReport, css: str) -> str:
    """The paragraphs one version alone has for a category, quoted."""
    if not indices:
        return '<span class="meta">-</span>'
    return "".join(f'<div class="excerpt {css}">¶{i} {escape(excerpt(report.paragraph(i).text, _EXCERPT))}</div>'
                   for i in indices[:5]) + (f'<div class="meta">and {len(indices) - 5} more</div>'
                                            if len(indices) > 5 else "")


def _statements(report: PolicyReport) -> str:
    statements = report.statements
    if not report.model.get("attribute_outputs") and not statements.retention:
        return "<p>This model has no attribute outputs: only the categories above.</p>"
    sentence = _linked_sentence(statements.sentence(evidence=True))
    return f'<p class="sentence">{sentence}</p><p class="meta">Each item links to the paragraph that states it.</p>'


def _linked_sentence(sentence: str) -> str:
    """The summary sentence escaped, its ``(¶12)`` marks turned into links."""
    import re

    return re.sub(r"\(¶(\d+)\)", lambda m: f'(<a href="#p-{m.group(1)}">¶{m.group(1)}</a>)', escape(sentence))


def _legend() -> str:
    items = " ".join(f"<span>{_chip(label.id)}{escape(label.name)}</span>" for label in LABELS)
    return f'<p class="meta">Paragraph bands: {items}. Each labelled paragraph also names its categories.</p>'


def _full_text(report: PolicyReport) -> str:
    out: list[str] = []
    section: tuple[str, ...] = ()
    for paragraph in report.paragraphs:
        if paragraph.section and paragraph.section != section:
            out.append(f'<div class="section">{escape(" › ".join(paragraph.section))}</div>')
            section = paragraph.section
        labels = list(paragraph.labels)
        colour = COLOURS.get(labels[0], "#888") if labels else "transparent"
        tags = ("<div class=\"tags\">" + "".join(f'<span class="tag">{_chip(label)}{escape(_NAMES.get(label, label))}'
                                               "</span>" for label in labels) + "</div>") if labels else ""
        css = "para labelled" if labels else "para"
        out.append(f'<div class="{css}" id="p-{paragraph.index}" style="border-left-color:{colour}">'
                   f'{tags}<span class="meta">¶{paragraph.index}</span> {escape(paragraph.text)}</div>')
    return "\n".join(out)


def _footer(report: PolicyReport) -> str:
    model = report.model
    thresholds = ", ".join(f"{escape(label)} {value:.3f}" for label, value in model.get("thresholds", {}).items())
    calibrated = ("scores calibrated per label on out-of-fold predictions" if model.get("calibrated")
                  else "scores not calibrated (the model has no calibration.json)")
    return (f'<h2>About this report</h2><p class="meta">policy-classifier {escape(model.get("tool_version", ""))}, '
            f"model <code>{escape(str(model.get('name', '')))}</code>, {model.get('attribute_outputs', 0)} attribute "
            f"outputs; {calibrated}. A category is <em>covered</em> when a paragraph reaches its threshold, "
            f"<em>unsure</em> when none does but the best paragraph scores at least {model.get('unsure_floor', 0.2)}"
            f", else <em>not found</em>. Thresholds: {thresholds}.</p>")
