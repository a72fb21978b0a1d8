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


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
