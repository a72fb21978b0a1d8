"""The corpus report as Markdown a researcher can paste into a paper, and its plots (matplotlib Figure API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["render_markdown", "render_plots"]


def _cell(share: dict[str, Any]) -> str:
    if share["share"] is None:
        return "–"
    return f"{share['share']:.0%} [{share['low']:.0%}, {share['high']:.0%}]"


def render_markdown(report: dict[str, Any], plots: list[str]) -> str:
    labels, coverage, sizes = report["labels"], report["coverage"], report["group_sizes"]
    counted = "pages judged privacy policies" if report["policies_only"] else "classified pages"
    lines = [f"# Corpus report: {report['output']}", "",
             f"{report['pages']:,} pages classified; {report['pages_counted']:,} {counted} counted below; "
             f"{len(report['not_policies']):,} judged not a privacy policy (of {report['judged']:,} judged); "
             f"{len(report['failed']):,} failed.", "",
             f"## Share of {'policies' if report['policies_only'] else 'pages'} that cover each category", "",
             "A page covers a category when at least one of its paragraphs has the label; 95% bootstrap "
             f"intervals over pages ({report['bootstrap']} resamples).", ""]
    names = list(coverage)
    lines.append("| category | " + " | ".join(f"{name} (n={sizes[name]:,})" for name in names) + " |")
    lines.append("| --- |" + " --- |" * len(names))
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(_cell(coverage[name][label]) for name in names) + " |")
    lines += ["", "## Size of the policies", "", "| | mean | 10% | 25% | median | 75% | 90% | max |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, key in (("paragraphs", "paragraphs_per_policy"), ("characters", "characters_per_policy")):
        d = report[key]
        if d["n"]:
            lines.append(f"| {name} | {d['mean']:,.0f} | " + " | ".join(f"{d[k]:,.0f}" for k in
                                                                       ("p10", "p25", "median", "p75", "p90", "max"))
                         + " |")
    lines += ["", *[f"![{name}]({name})" for name in plots]]
    if report["failed"]:
        lines += ["", "## Pages that failed", "", "| page | reason |", "| --- | --- |",
                  *[f"| {_md(f['source'])} | {_md(f['reason'])} |" for f in report["failed"]]]
    if report["not_policies"]:
        lines += ["", "## Pages judged not a privacy policy", "", *[f"* {_md(s)}" for s in report["not_policies"]]]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_plots(report: dict[str, Any], directory: Path) -> list[Path]:
    """Coverage with intervals and the distribution of policy sizes, as PNG and SVG; none without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return []
    written = []
    overall = report["coverage"]["all"]
    labels = [label for label in report["labels"] if overall[label]["share"] is not None]
    if labels:
        figure = Figure(figsize=(7, 0.35 * len(labels) + 1.2))
        ax = figure.subplots()
        shares = [overall[label]["share"] for label in labels]
        errors = [[s - overall[label]["low"] for s, label in zip(shares, labels, strict=True)],
                  [overall[label]["high"] - s for s, label in zip(shares, labels, strict=True)]]
        ax.barh(labels, shares, xerr=errors, color="#4c72b0", capsize=3)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of policies covering the category (95% bootstrap interval)")
        figure.tight_layout()
        written += _save(figure, directory / "coverage")
    sizes = report["paragraphs_per_policy"]
    if sizes["n"]:
        figure = Figure(figsize=(7, 3))
        ax = figure.subplots()
        ax.hist(sizes["values"], bins=40, color="#55a868")
        ax.set_xlabel("paragraphs per policy")
        ax.set_ylabel("policies")
        figure.tight_layout()
        written += _save(figure, directory / "paragraphs")
    return written


def _save(figure: Any, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        figure.savefig(path, dpi=120)
    return paths
