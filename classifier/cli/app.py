"""The typer application, its exit codes and the one-line error helpers every command uses.

Exit codes: 0 success; 1 one or more inputs failed (each named on stderr); 2 bad usage or arguments (an output
that is an input, locked by another run, or disagreeing with its journal on resume included); 3 the model could not
be loaded or its settings are invalid; 4 the output could not be written (disk full, permissions); 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

__all__ = ["EXIT_INPUT", "EXIT_INTERRUPTED", "EXIT_MODEL", "EXIT_USAGE", "EXIT_WRITE", "Appsi139Dirs", "C3paDirs",
           "JsonlFiles", "MappDirs", "Opp115Dirs", "SeedCorpusDirs", "app", "data_app", "fail", "load_model", "main",
           "shown"]

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_WRITE = 4
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="policy-classifier",
    help="Label every paragraph of a privacy policy with OPP-115 categories.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Work with annotated corpora.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _version(value: bool) -> None:
    if value:
        from classifier import __version__

        typer.echo(f"policy-clause-classifier {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Label every paragraph of a privacy policy with OPP-115 categories."""


# The data options, one type each, shared by the commands that read corpora (train, crossval, transfer, pretrain).
Opp115Dirs = Annotated[list[Path] | None, typer.Option("--opp115", help="OPP-115-layout directory (repeatable).")]
SeedCorpusDirs = Annotated[list[Path] | None, typer.Option("--seed-corpus", help="Seed-layout corpus directory "
                                                                                  "(repeatable).")]
JsonlFiles = Annotated[list[Path] | None, typer.Option("--jsonl", help="Labelled JSONL file (repeatable).")]
MappDirs = Annotated[list[Path] | None, typer.Option("--mapp", help="MAPP directory (partial labels; repeatable).")]
C3paDirs = Annotated[list[Path] | None, typer.Option("--c3pa", help="C3PA directory (partial labels; repeatable).")]
Appsi139Dirs = Annotated[list[Path] | None, typer.Option("--appsi139", help="APPSI-139 directory (partial labels; "
                                                                            "repeatable).")]


def shown(name: str) -> str:
    """A file name safe on one line of stderr: control characters (a newline in a name, say) escaped."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in name)


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_model(model: Path | None, device: str | None, precision: str = "auto", streams: int | None = None,
               full: bool = False) -> Any:
    """The model in ``model`` (a transformer or a TF-IDF folder; the shipped model for ``None``), or exit 3; on a
    CPU a model with a distilled student runs as a cascade unless ``full``."""
    from classifier.models.base import ModelLoadError, load_paragraph_model

    try:
        return load_paragraph_model(model, device=device, precision=precision, streams=streams, full=full)
    except (ModelLoadError, ValueError) as exc:
        fail(str(exc), EXIT_MODEL)


FULL_MODEL_HELP = ("Run the full model on every paragraph; by default, on a CPU, a model with a distilled student "
                   "labels with the cascade (the student, and the full model only where the student is unsure).")


def main() -> None:
    """Entry point of the console script and of ``python -m classifier`` (through :mod:`classifier.cli`, which
    registers the commands)."""
    app()
