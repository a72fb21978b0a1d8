"""``segment``, ``classify`` and ``labels``: reading policies and labelling their paragraphs."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from classifier.cli.app import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    EXIT_WRITE,
    FULL_MODEL_HELP,
    app,
    fail,
    load_model,
    shown,
)
from classifier.labels import Scheme
from classifier.models.base import InferencePrecision
from classifier.predict.batch import OutputFormat
from classifier.text.segment import SegmentFormat


class Engine(str, Enum):
    """Where a batch run labels: in this process, or on Ray Data actors."""

    local = "local"
    ray = "ray"


@dataclass(frozen=True)
class RayChoice:
    address: str | None
    actors: int


@app.command()
def segment(
    file: Annotated[str, typer.Argument(help="Policy file (text, Markdown, HTML or PDF), or - for stdin.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (default: stdout; written "
                                                                      "atomically).")] = None,
    fmt: Annotated[SegmentFormat, typer.Option("--format", "-f", help="Output format.")] = SegmentFormat.text,
) -> None:
    """Split a policy into paragraphs and print them (with section and offsets)."""
    from classifier.text.reading import DEFAULT_MAX_BYTES, PolicyInputError, read_limited, read_policy
    from classifier.text.segment import render_paragraphs, segment_policy

    try:
        policy = read_policy(read_limited(sys.stdin.buffer, DEFAULT_MAX_BYTES) if file == "-" else Path(file))
        paragraphs = segment_policy(policy)
    except PolicyInputError as exc:
        fail(f"{shown(file)}: {exc}")
    except Exception as exc:  # a pathological page: one line, not a traceback
        from classifier.predict.batch import error_line

        fail(f"{shown(file)}: cannot read or segment ({error_line(exc)})")
    if not paragraphs:  # as classify says of the same file
        from classifier.predict.batch import NO_PARAGRAPHS

        fail(f"{shown(file)}: {NO_PARAGRAPHS}")
    rendered = render_paragraphs(paragraphs, fmt)
    if output is None or str(output) == "-":
        typer.echo(rendered, nl=False)
        return
    from classifier.files import atomic_write

    try:
        atomic_write(output, rendered)
    except OSError as exc:
        fail(f"{shown(str(output))}: cannot write ({exc.strerror or exc})", EXIT_WRITE)


@app.command()
def classify(
    paths: Annotated[list[str], typer.Argument(help="Policy files, directories (recursive) or - for stdin.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (default: stdout).")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Rows (jsonl, csv, parquet) or a per-policy "
                                                                  "Markdown table (summary).")] = OutputFormat.jsonl,
    summary: Annotated[bool, typer.Option("--summary", help="The same as --format summary.")] = False,
    scheme: Annotated[Scheme, typer.Option(help="Label view.")] = Scheme.opp115,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="One threshold for all labels.")] = None,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: the shipped model).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Paragraphs per forward pass.")] = 16,
    precision: Annotated[InferencePrecision, typer.Option(
        help="auto: on a CPU bf16 weights where it has AMX, else int8 (the fastest path on each; int8 scores can "
             "move slightly with their batch neighbours), bf16 on a GPU; fp32 for exact scores.")]
    = InferencePrecision.auto,
    streams: Annotated[int | None, typer.Option(min=1, help="CPU batches run side by side (default: 2 when torch "
                                                            "has 2+ threads).")] = None,
    glob: Annotated[list[str] | None, typer.Option(help="File pattern inside directories (repeatable).")] = None,
    resume: Annotated[bool, typer.Option(help="Skip policies already written to --output.")] = False,
    max_bytes: Annotated[int, typer.Option(min=1, help="Refuse inputs larger than this (never reads more).")]
    = 20_000_000,
    max_paragraphs: Annotated[int, typer.Option(min=1, help="Name a policy with more paragraphs than this as a "
                                                            "failure instead of labelling it.")] = 20_000,
    strip_boilerplate: Annotated[bool, typer.Option(help="Blank each page's menus, footers and cookie banners "
                                                         "before segmenting (crawled pages; see docs/crawls.md).")]
    = False,
    urls: Annotated[Path | None, typer.Option(help="CSV of page URLs (path, url columns); else a <page>.url file "
                                                   "beside a page, else a lone URL on its first line.")] = None,
    max_seconds: Annotated[float, typer.Option(min=0.0, help="Name a page that takes longer than this to read and "
                                                             "segment as a failure (0: no limit).")] = 30.0,
    group_size: Annotated[int, typer.Option(min=1, help="Paragraphs labelled per model call, across policies "
                                                        "(larger is faster; a crash re-does at most one group).")]
    = 1024,
    detect: Annotated[bool, typer.Option("--detect/--no-detect", help="Judge each page a privacy policy or not "
                                                                      "with the model's detector (detector.json), "
                                                                      "when it has one.")] = True,
    policies_only: Annotated[bool, typer.Option(help="Write no rows for pages the detector judges not a privacy "
                                                     "policy.")] = False,
    engine: Annotated[Engine, typer.Option(help="local (this process) or ray (Ray Data actors, ray extra; "
                                                "rows to -o only).")] = Engine.local,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: start a local instance; "
                                                         "auto: the cluster this machine is in).")] = None,
    ray_actors: Annotated[int, typer.Option(min=1, help="Actors in the Ray pool (each loads the model once).")] = 1,
    full_model: Annotated[bool, typer.Option("--full-model", help=FULL_MODEL_HELP)] = False,
) -> None:
    """Classify every paragraph of one or many policies (JSONL rows by default)."""
    from classifier.predict.batch import DEFAULT_GLOBS, discover_inputs

    if output is not None and str(output) == "-":
        output = None  # -o - is stdout, as for input
    if resume and output is None:
        fail("--resume needs -o/--output", EXIT_USAGE)
    if summary:
        fmt = OutputFormat.summary
    if fmt is OutputFormat.parquet and output is None:
        fail("parquet output needs -o/--output", EXIT_USAGE)
    if engine is Engine.ray and (output is None or fmt is OutputFormat.summary):
        fail("--engine ray writes rows to -o/--output (jsonl, csv or parquet)", EXIT_USAGE)
    if engine is Engine.ray and "-" in paths:
        fail("--engine ray reads files, not stdin: its workers cannot see this process's input", EXIT_USAGE)
    inputs, problems = discover_inputs(paths, tuple(glob) if glob else DEFAULT_GLOBS)
    if not inputs and len(problems) == 1:  # the usual mistyped path: one line says both what and so what
        fail(f"{shown(problems[0][0])}: {problems[0][1]}; no policies to classify", EXIT_INPUT)
    for source, reason in problems:
        typer.echo(f"error: {shown(source)}: {reason}", err=True)
    if not inputs:
        fail("no policies to classify", EXIT_INPUT)
    detector = _detector(model, detect, policies_only)
    url_map = _url_table(urls, inputs)
    settings = {"fmt": fmt, "scheme": scheme, "threshold": threshold, "detector": detector,
                "policies_only": policies_only,
                "batch_size": batch_size, "resume": resume, "max_bytes": max_bytes, "group_paragraphs": group_size,
                "max_paragraphs": max_paragraphs, "max_seconds": max_seconds or None, "urls": url_map,
                "strip_boilerplate": strip_boilerplate}
    try:
        with _claimed_output(output, inputs):  # before the model loads: a clash or a lock fails at once
            if engine is Engine.ray:
                assert output is not None
                result = _run_ray(inputs, output, settings, model, device, precision.value, detect,
                                  RayChoice(ray_address, ray_actors), full_model)
            else:
                result = _run_classify(inputs, output, settings, lambda: load_model(model, device, precision.value,
                                                                                     streams, full_model))
    except KeyboardInterrupt:
        where = "; run the same command with --resume to go on" if output is not None else ""
        fail(f"interrupted{where}", EXIT_INTERRUPTED)
    _closing_report(result, problems, output, policies_only)


def _closing_report(result: Any, problems: list[tuple[str, str]], output: Path | None, policies_only: bool) -> None:
    """What the run did, on stderr; exit 1 when a page failed."""
    failed = problems + result.failed
    if output is not None or failed:
        typer.echo(f"{len(result.done)} policies ({result.paragraphs} paragraphs) classified, "
                   f"{len(result.skipped)} already done, {len(failed)} failed", err=True)
    if result.not_policies:
        skipped = ", no rows written (--policies-only)" if policies_only else ""
        typer.echo(f"not a privacy policy: {len(result.not_policies)} pages{skipped}", err=True)
    if result.recovered:
        kinds = Counter(what for _, what in result.recovered)
        typer.echo(f"recovered: {len(result.recovered)} read after a repair ("
                   + ", ".join(f"{what}: {n}" for what, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
                   + ")", err=True)
    if failed:
        typer.echo("failed: " + ", ".join(shown(source) for source, _ in failed), err=True)
        raise typer.Exit(EXIT_INPUT)


def _run_ray(inputs: list[str], output: Path, settings: dict[str, Any], model: Path | None, device: str | None,
             precision: str, detect: bool, choice: RayChoice, full: bool) -> Any:
    """The run on Ray: the model folder goes to the actors, the driver writes (see classifier.predict.ray_engine)."""
    try:
        from classifier.predict.ray_engine import RayOptions, run_batch_ray
    except ImportError:
        fail("--engine ray needs the ray extra: pip install -c constraints.txt 'policy-clause-classifier[ray]'",
             EXIT_USAGE)
    from classifier.models.transformer import shipped_model_dir
    from classifier.predict.batch import BatchError, error_line

    def on_error(source: str, reason: str) -> None:
        typer.echo(f"error: {shown(source)}: {reason}", err=True)

    settings = {k: v for k, v in settings.items() if k not in ("detector", "group_paragraphs")}
    try:
        return run_batch_ray(model if model is not None else shipped_model_dir(), inputs, output=output,
                             options=RayOptions(address=choice.address, actors=choice.actors), device=device,
                             precision=precision, detect=detect, full=full, on_error=on_error, lock=False,
                             **settings)
    except ImportError:
        fail("--engine ray needs the ray extra: pip install -c constraints.txt 'policy-clause-classifier[ray]'",
             EXIT_USAGE)
    except (BatchError, ValueError) as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    except OSError as exc:
        fail(f"cannot write output: {exc.strerror or exc}", EXIT_WRITE)
    except Exception as exc:  # a worker's error (a model that does not load there, say) comes back wrapped by Ray
        fail(f"the Ray run failed: {error_line(exc)}", EXIT_USAGE)


def _url_table(path: Path | None, inputs: list[str]) -> dict[str, str] | None:
    """The ``--urls`` table keyed by input, or exit 1 with one line."""
    if path is None:
        return None
    from classifier.predict.batch import read_url_table

    try:
        return read_url_table(path, inputs)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        fail(f"{shown(str(path))}: cannot read the URL table ({str(exc).splitlines()[0]})", EXIT_INPUT)


def _detector(model: Path | None, detect: bool, policies_only: bool) -> Any:
    """The model's policy detector, ``None`` without one (or with --no-detect), exit 2 when --policies-only needs
    it, exit 3 when its file is broken."""
    from classifier.cli.app import EXIT_MODEL
    from classifier.models.transformer import shipped_model_dir
    from classifier.predict.detector import DETECTOR_FILE, load_detector

    if policies_only and not detect:
        fail("--policies-only needs the detector; drop --no-detect", EXIT_USAGE)
    if not detect:
        return None
    directory = model if model is not None else shipped_model_dir()
    try:
        detector = load_detector(directory)
    except ValueError as exc:
        fail(str(exc), EXIT_MODEL)
    if detector is None and policies_only:
        fail(f"--policies-only needs a policy detector: {shown(str(directory))} has no {DETECTOR_FILE} (fit one "
             "with policy-classifier fit-detector --model DIR)", EXIT_USAGE)
    return detector


@contextlib.contextmanager
def _claimed_output(output: Path | None, inputs: list[str]) -> Iterator[None]:
    """Check the output against the inputs, create its folder and hold its lock; exit 2 with one line if not."""
    from classifier.predict.batch import BatchError, check_output_path, output_lock

    if output is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            check_output_path(output, inputs)
            output.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(output_lock(output))
        except BatchError as exc:
            fail(str(exc), EXIT_USAGE)
        except OSError as exc:
            fail(f"cannot write {shown(str(output))}: {exc.strerror or exc}", EXIT_WRITE)
        yield


def _run_classify(inputs: list[str], output: Path | None, settings: dict[str, Any], load: Any) -> Any:
    from classifier.predict.batch import BatchError, run_batch

    classifier = load()

    def on_error(source: str, reason: str) -> None:
        typer.echo(f"error: {shown(source)}: {reason}", err=True)

    try:
        with _batch_progress(len(inputs)) as progress:
            return run_batch(classifier, inputs, output=output, on_error=on_error, lock=False,
                             on_progress=progress.file_done if progress else None,
                             on_labelled=progress.labelled if progress else None, **settings)
    except BatchError as exc:
        fail(str(exc), EXIT_USAGE)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    except OSError as exc:
        fail(f"cannot write output: {exc.strerror or exc}", EXIT_WRITE)


class _batch_progress:
    """Files and paragraphs per second on a terminal; silent when stderr is not one."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.progress: Any = None

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        import time

        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("classifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[rate]}"), console=Console(stderr=True), transient=True)
        self.progress.start()
        self.task = self.progress.add_task("files", total=self.total, rate="")
        self.started, self.paragraphs = time.perf_counter(), 0
        return self

    def file_done(self, source: str, paragraphs: int) -> None:
        self.progress.update(self.task, advance=1)

    def labelled(self, paragraphs: int) -> None:
        """Paragraphs labelled so far, shown as a rate: it moves inside a long policy too."""
        import time

        self.paragraphs += paragraphs
        rate = self.paragraphs / max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.task, rate=f"{rate:.0f} paragraphs/s")

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


@app.command()
def labels(
    scheme: Annotated[Scheme, typer.Option(help="Label view.")] = Scheme.opp115,
) -> None:
    """List the label ids of a view with their names and descriptions."""
    from classifier.labels import CARD_LABELS, LABELS

    for label in LABELS if scheme is Scheme.opp115 else CARD_LABELS:
        typer.echo(f"{label.id:34} {label.name}: {label.description}")
