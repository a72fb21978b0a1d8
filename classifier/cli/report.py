"""``report``: a page a person reads about one policy (or a folder of them, or two versions compared), and
``corpus-report``: figures a researcher would put in a paper, from a batch run's output."""

from __future__ import annotations

import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from classifier.cli.app import EXIT_INPUT, EXIT_USAGE, EXIT_WRITE, FULL_MODEL_HELP, app, fail, load_model, shown


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


class ReportFormat(str, Enum):
    html = "html"
    md = "md"


@app.command("report")
def report(
    paths: Annotated[list[str], typer.Argument(help="A policy file (or - for stdin), a folder of policies, or with "
                                                    "--compare the OLD and NEW versions.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The page to write (default: stdout); for a "
                                                                       "folder, the folder of pages and their index.")]
    = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="html (one self-contained page) or md.")]
    = ReportFormat.html,
    compare: Annotated[bool, typer.Option("--compare", help="Compare two policies or two versions: OLD NEW.")] = False,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: the shipped model).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    full_model: Annotated[bool, typer.Option("--full-model", help=FULL_MODEL_HELP)] = False,
    glob: Annotated[list[str] | None, typer.Option(help="File pattern inside folders (repeatable).")] = None,
) -> None:
    """A report a person reads: each category covered, unsure or not found, with its confidence and evidence
    paragraphs, what the policy states, and its full text with every paragraph's labels."""
    from classifier.predict.batch import DEFAULT_GLOBS, discover_inputs

    if output is not None and str(output) == "-":
        output = None
    if compare and len(paths) != 2:
        fail("--compare takes two policies: OLD NEW", EXIT_USAGE)
    inputs, problems = discover_inputs(paths, tuple(glob) if glob else DEFAULT_GLOBS)
    if not inputs and len(problems) == 1:  # the usual mistyped path: one line
        fail(f"{shown(problems[0][0])}: {problems[0][1]}", EXIT_INPUT)
    for source, reason in problems:
        typer.echo(f"error: {shown(source)}: {reason}", err=True)
    if not inputs:
        fail("no policies to report on", EXIT_INPUT)
    folder = not compare and (len(inputs) > 1 or any(Path(p).is_dir() for p in paths))
    if folder and output is None:
        fail("a folder or several policies need -o/--output, the folder to write their pages to", EXIT_USAGE)
    if compare and len(inputs) != 2:
        fail("--compare takes two policy files: OLD NEW", EXIT_USAGE)
    classifier = load_model(model, device, full=full_model)
    if folder:
        assert output is not None
        failed = _report_folder(classifier, inputs, output, fmt.value, str(model or "shipped model"))
        if failed or problems:
            raise typer.Exit(EXIT_INPUT)
        return
    page = _page(classifier, inputs, fmt.value, compare, str(model or "shipped model"))
    _write(page, output)


def _page(classifier: Any, inputs: list[str], fmt: str, compare: bool, name: str) -> str:
    """One policy's page, or the comparison of two; exit 1 with one line when a policy cannot be read."""
    from classifier.report.compare import compare_reports
    from classifier.report.render import render

    reports = [_report(classifier, source, name) for source in inputs]
    if isinstance(reports[0], str) or (compare and isinstance(reports[1], str)):
        fail(next(r for r in reports if isinstance(r, str)), EXIT_INPUT)
    return render(compare_reports(reports[0], reports[1]) if compare else reports[0], fmt)


def _report(classifier: Any, source: str, name: str) -> Any:
    """The report of one policy, or the one-line reason it could not be read."""
    from classifier.report.policy import build_report
    from classifier.text.reading import PolicyInputError, read_policy

    try:
        policy = read_policy(sys.stdin.buffer.read() if source == "-" else source)
    except PolicyInputError as exc:
        return f"{shown(source)}: {exc}"
    if source == "-":
        policy = replace(policy, source="-")
    document = classifier.classify_document(policy)
    if not document.paragraphs:  # as classify says of the same file
        from classifier.predict.batch import NO_PARAGRAPHS

        return f"{shown(source)}: {NO_PARAGRAPHS}"
    return build_report(document, classifier, model_name=name)


def _report_folder(classifier: Any, inputs: list[str], output: Path, fmt: str, name: str) -> list[tuple[str, str]]:
    """One page per policy and an index in ``output``; returns the policies that could not be read."""
    from classifier.files import atomic_write
    from classifier.report.render import render, render_index

    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot write {shown(str(output))}: {exc.strerror or exc}", EXIT_WRITE)
    entries: list[tuple[str, Any]] = []
    failed: list[tuple[str, str]] = []
    used: set[str] = set()
    with typer.progressbar(inputs, label="reports", file=sys.stderr) as progress:
        for source in progress:
            built = _report(classifier, source, name)
            if isinstance(built, str):
                typer.echo(f"\nerror: {built}", err=True)
                failed.append((source, built.split(": ", 1)[-1]))
                continue
            page = _page_name(source, fmt, used)
            atomic_write(output / page, render(built, fmt))
            entries.append((page, built))
    atomic_write(output / f"index.{fmt}", render_index(entries, fmt, failed=failed))
    typer.echo(f"wrote {len(entries)} reports and {output / f'index.{fmt}'}"
               + (f"; {len(failed)} policies could not be read" if failed else ""), err=True)
    return failed


def _page_name(source: str, fmt: str, used: set[str]) -> str:
    """A file name for a policy's page: its stem, made unique within the folder."""
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source).stem)[:80] or "policy"
    name, n = f"{stem}.{fmt}", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.{fmt}"
    used.add(name)
    return name


def _write(page: str, output: Path | None) -> None:
    from classifier.files import atomic_write

    if output is None:
        sys.stdout.write(page)
        return
    try:
        atomic_write(output, page)
    except OSError as exc:
        fail(f"cannot write {shown(str(output))}: {exc.strerror or exc}", EXIT_WRITE)
    typer.echo(f"wrote {output}", err=True)
