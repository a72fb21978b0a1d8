"""The ``policy-classifier`` command: a thin typer layer over the library.

Exit codes: 0 success; 1 one or more inputs failed (each named on stderr); 2 bad usage or arguments;
3 the model could not be loaded.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from classifier.labels import Scheme

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_MODEL = 3

app = typer.Typer(
    name="policy-classifier",
    help="Label every paragraph of a privacy policy with OPP-115 categories.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Work with annotated corpora.", no_args_is_help=True)
app.add_typer(data_app, name="data")


class SegmentFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def segment(
    file: Annotated[str, typer.Argument(help="Policy file (text, Markdown or HTML), or - for stdin.")],
    fmt: Annotated[SegmentFormat, typer.Option("--format", "-f", help="Output format.")] = SegmentFormat.text,
) -> None:
    """Split a policy into paragraphs and print them (with section and offsets)."""
    from classifier.segment import segment_policy
    from classifier.text import PolicyInputError, read_policy

    try:
        policy = read_policy(sys.stdin.buffer.read() if file == "-" else Path(file))
    except PolicyInputError as exc:
        fail(f"{file}: {exc}")
    paragraphs = segment_policy(policy)
    for paragraph in paragraphs:
        if fmt is SegmentFormat.jsonl:
            typer.echo(json.dumps(paragraph.to_dict(), ensure_ascii=False))
        else:
            section = " > ".join(paragraph.section)
            typer.echo(f"[{paragraph.index}] {paragraph.start}-{paragraph.end}" + (f"  § {section}" if section else ""))
            typer.echo(paragraph.text)
            typer.echo()


@app.command()
def labels(
    scheme: Annotated[Scheme, typer.Option(help="Label view.")] = Scheme.opp115,
) -> None:
    """List the label ids of a view with their names and descriptions."""
    from classifier.labels import CARD_LABELS, LABELS

    for label in LABELS if scheme is Scheme.opp115 else CARD_LABELS:
        typer.echo(f"{label.id:34} {label.name}: {label.description}")


@data_app.command("validate")
def data_validate(
    directory: Annotated[Path | None, typer.Argument(help="Corpus directory (default: data/seed_corpus).")] = None,
) -> None:
    """Check an annotated corpus: offsets, label ids, labels present, and alignment with today's segmenter."""
    from classifier.seed_corpus import validate_corpus

    report = validate_corpus(directory)
    for problem in report.problems:
        typer.echo(f"error: {problem}", err=True)
    if not report.ok:
        typer.echo(f"{len(report.problems)} problem(s) found", err=True)
        raise typer.Exit(EXIT_INPUT)
    typer.echo(f"ok: {report.n_policies} policies, {report.n_paragraphs} paragraphs")


class Precision(str, Enum):
    auto = "auto"
    bf16 = "bf16"
    fp32 = "fp32"


@app.command()
def train(
    opp115: Annotated[list[Path] | None, typer.Option(help="OPP-115-layout directory (repeatable).")] = None,
    seed_corpus: Annotated[list[Path] | None, typer.Option(help="Seed-layout corpus directory (repeatable).")] = None,
    jsonl: Annotated[list[Path] | None, typer.Option(help="Labelled JSONL file (repeatable).")] = None,
    config: Annotated[Path | None, typer.Option(help="A train_config.json; options given here override it.")] = None,
    encoder: Annotated[str | None, typer.Option(help="Base encoder: directory or weights-shipping package.")] = None,
    output_dir: Annotated[Path | None, typer.Option("--output-dir", "-o", help="Run directory.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per paragraph (head+tail).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    labels_from_data: Annotated[bool, typer.Option(help="Take the label set from the JSONL data.")] = False,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    precision: Annotated[Precision | None, typer.Option(help="Mixed precision.")] = None,
) -> None:
    """Fine-tune a classifier; writes the model, logs and metrics to the run directory."""
    from dataclasses import replace

    from classifier.training import TrainConfig
    from classifier.training import train as run_training

    base = TrainConfig.from_json(config) if config else TrainConfig()
    overrides = {
        "opp115": [str(p) for p in opp115] if opp115 else None,
        "seed_corpus": [str(p) for p in seed_corpus] if seed_corpus else None,
        "jsonl": [str(p) for p in jsonl] if jsonl else None,
        "encoder": encoder, "output_dir": str(output_dir) if output_dir else None, "epochs": epochs,
        "learning_rate": learning_rate, "batch_size": batch_size, "max_length": max_length, "seed": seed,
        "device": device, "precision": precision.value if precision else None,
        "labels_from_data": labels_from_data or None,
    }
    settings = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    try:
        settings.validate()
        run_training(settings)
    except (ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
