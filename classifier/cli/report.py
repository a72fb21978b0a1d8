"""``corpus-report``: figures a researcher would put in a paper, from a batch run's output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classifier.cli.app import EXIT_INPUT, app, fail, shown


@app.command("corpus-report")
def corpus_report(
    output: Annotated[Path, typer.Argument(help="A classify output: .parquet, .jsonl or .csv (with its "
                                                "<output>.progress journal when there is one).")],
    directory: Annotated[Path, typer.Option("--output", "-o", help="Folder for report.md, report.json and the "
                                                                   "plots.")] = Path("corpus-report"),
    group_by: Annotated[str | None, typer.Option(help="Break the shares down by 'folder' (each page's folder: "
                                                      "the DMOZ category), by an output column, or 'none'.")]
    = "folder",
    policies_only: Annotated[bool, typer.Option(help="Count only pages the detector judged privacy policies.")]
    = False,
    bootstrap: Annotated[int, typer.Option(min=10, help="Bootstrap resamples for the intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 13,
) -> None:
    """Share of policies covering each category (with bootstrap intervals over policies, by group), policy sizes,
    failed pages and non-policies, as Markdown, JSON and plots."""
    from classifier.report.corpus import CorpusReportError, build_corpus_report, write_corpus_report

    try:
        report = build_corpus_report(output, group_by=None if group_by in (None, "none") else group_by,
                                     policies_only=policies_only, n_boot=bootstrap, seed=seed)
    except CorpusReportError as exc:
        fail(str(exc), EXIT_INPUT)
    try:
        written = write_corpus_report(report, directory)
    except OSError as exc:
        fail(f"cannot write {shown(str(directory))}: {exc.strerror or exc}", EXIT_INPUT)
    typer.echo(f"{report['pages_counted']:,} of {report['pages']:,} pages counted; wrote "
               + ", ".join(str(p) for p in written), err=True)
