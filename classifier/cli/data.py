"""``data validate``, ``data agreement`` and ``data page-agreement``: checking an annotated corpus, the human
reference figures, and the agreement of the page labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from classifier.cli.app import EXIT_INPUT, EXIT_USAGE, data_app, fail
from classifier.cli.evaluate import load_oof_or_exit


@data_app.command("validate")
def data_validate(
    directory: Annotated[Path | None, typer.Argument(help="Corpus directory (default: data/seed_corpus).")] = None,
) -> None:
    """Check an annotated corpus: offsets, label ids, labels present, and alignment with today's segmenter."""
    from classifier.data.seed_corpus import validate_corpus

    report = validate_corpus(directory)
    for problem in report.problems:
        typer.echo(f"error: {problem}", err=True)
    if not report.ok:
        typer.echo(f"{len(report.problems)} problem(s) found", err=True)
        raise typer.Exit(EXIT_INPUT)
    typer.echo(f"ok: {report.n_policies} policies, {report.n_paragraphs} paragraphs")


@data_app.command("agreement")
def data_agreement(
    opp115: Annotated[Path | None, typer.Option(help="OPP-115 directory (default: ../shared/opp115).")] = None,
    cv: Annotated[Path | None, typer.Option(help="A crossval output directory whose out-of-fold predictions of "
                                                 "these OPP-115 policies are scored the same way.")] = None,
    entry: Annotated[str, typer.Option(help="Which cross-validated model in --cv, or an equal-weight average of "
                                            "several (teacher+tfidf).")] = "transformer+tfidf",
    per_label: Annotated[bool, typer.Option(help="Also print F1 per category: where the annotators (and the "
                                                 "model) disagree.")] = False,
) -> None:
    """How well single OPP-115 annotators match the labels models are scored against: a human reference.

    Each annotator is scored like a model against the majority labels (their own vote included) and against the
    consensus of the other annotators; with --cv, the model's out-of-fold predictions (thresholds tuned on the other
    folds) face the same references. --per-label adds a table of F1 per category.
    """
    from classifier.data.agreement import annotator_f1
    from classifier.data.corpus import CorpusError, load_opp115
    from classifier.labels import OPP115_IDS

    try:
        dataset = load_opp115(opp115, with_votes=True)
    except (CorpusError, OSError) as exc:
        fail(str(exc).splitlines()[0], EXIT_INPUT)
    predictions = None
    if cv is not None:
        from classifier.data.corpus import multi_hot
        from classifier.evaluation.folds import cv_settings, oof_entry, oof_thresholds
        from classifier.training.data import build_dataset

        try:
            chosen = oof_entry(load_oof_or_exit(cv), entry)
        except KeyError as exc:
            fail(f"{cv}: {exc.args[0]}", EXIT_USAGE)
        try:
            cv_data = build_dataset(cv_settings(cv))
        except (KeyError, TypeError, ValueError, OSError) as exc:
            fail(f"{cv}: cannot rebuild the data of this cross-validation ({str(exc).splitlines()[0]})", EXIT_USAGE)
        if cv_data["text"][:len(dataset)] != dataset["text"]:
            fail(f"{cv}: its first rows are not these OPP-115 segments (another corpus or order)", EXIT_USAGE)
        probs, folds = chosen["probs"], chosen["fold"]
        _, nested = oof_thresholds(multi_hot(cv_data), probs, folds)
        predictions = (probs >= nested).astype(int)[:len(dataset)]
    report = annotator_f1(dataset, predictions, average_over=list(OPP115_IDS))
    _print_agreement(report, len(dataset), entry, per_label)


def _print_agreement(report: dict[str, Any], n_segments: int, entry: str, per_label: bool) -> None:
    """The agreement tables in Markdown: overall, and per category with ``per_label``."""
    from classifier.labels import OPP115_IDS

    typer.echo(f"{report['n_annotations']} annotations (annotator x policy) of {n_segments} segments; "
               "micro / macro-F1 over the ten OPP-115 categories")
    typer.echo("| who | vs majority labels (≥ 2 annotators) | vs the other annotators' consensus |")
    typer.echo("| --- | --- | --- |")
    for who, name in (("annotators", "a single annotator"), ("model", f"model `{entry}` (out-of-fold)")):
        if who in report:
            cells = [f"{report[who][ref]['micro_f1']:.3f} / {report[who][ref]['macro_f1']:.3f}"
                     for ref in ("vs_majority", "vs_others")]
            typer.echo(f"| {name} | {cells[0]} | {cells[1]} |")
    if per_label:
        whos = [who for who in ("annotators", "model") if who in report]
        typer.echo("\nF1 per category (annotator" + (", model" if "model" in report else "")
                   + "); vs majority labels | vs the other annotators' consensus")
        typer.echo("| category | " + " | ".join(f"{who} vs majority | {who} vs others" for who in whos) + " |")
        typer.echo("| --- |" + " --- |" * (2 * len(whos)))
        for label in OPP115_IDS:
            cells = [f"{report[who][ref]['per_label'][label]['f1']:.3f}" for who in whos
                     for ref in ("vs_majority", "vs_others")]
            typer.echo(f"| `{label}` | " + " | ".join(cells) + " |")


@data_app.command("page-agreement")
def data_page_agreement(
    labels: Annotated[Path | None, typer.Option(help="Page labels CSV (default: data/policy_pages/labels.csv).")]
    = None,
) -> None:
    """Agreement of the two labelling passes of the privacy-policy detector's pages (Cohen's kappa)."""
    from classifier.data.policy_pages import PAGE_LABELS, load_page_labels, page_agreement

    try:
        report = page_agreement(load_page_labels(labels))
    except (OSError, ValueError, TypeError) as exc:
        fail(str(exc).splitlines()[0], EXIT_INPUT)
    typer.echo(f"{report['pages']} pages: " + ", ".join(f"{n} {label}" for label, n in report["labels"].items()))
    typer.echo(f"three labels: kappa {report['kappa']:.3f}, agreement {report['agreement']:.3f}")
    typer.echo(f"policy or not: kappa {report['binary_kappa']:.3f}, agreement {report['binary_agreement']:.3f}")
    typer.echo(f"disagreements: {report['disagreements']} (adjudicated as pass A {report['adjudicated_as_a']}, "
               f"as pass B {report['adjudicated_as_b']})")
    typer.echo("\n| pass A \\ pass B | " + " | ".join(PAGE_LABELS) + " |\n| --- |" + " --- |" * len(PAGE_LABELS))
    for label, row in zip(PAGE_LABELS, report["confusion"], strict=True):
        typer.echo(f"| {label} | " + " | ".join(str(n) for n in row) + " |")
