"""The ``policy-classifier`` command: a thin typer layer over the library.

Exit codes: 0 success; 1 one or more inputs failed (each named on stderr); 2 bad usage or arguments (an output
that is an input, locked by another run, or disagreeing with its journal on resume included); 3 the model could not
be loaded or its settings are invalid; 4 the output could not be written (disk full, permissions); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from classifier.labels import Scheme

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
app.add_typer(data_app, name="data")


class SegmentFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


def shown(name: str) -> str:
    """A file name safe on one line of stderr: control characters (a newline in a name, say) escaped."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in name)


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
    from classifier.text.reading import DEFAULT_MAX_BYTES, PolicyInputError, read_limited, read_policy
    from classifier.text.segment import segment_policy

    try:
        policy = read_policy(read_limited(sys.stdin.buffer, DEFAULT_MAX_BYTES) if file == "-" else Path(file))
        paragraphs = segment_policy(policy)
    except PolicyInputError as exc:
        fail(f"{shown(file)}: {exc}")
    except Exception as exc:  # a pathological page: one line, not a traceback
        from classifier.predict.batch import error_line

        fail(f"{shown(file)}: cannot read or segment ({error_line(exc)})")
    for paragraph in paragraphs:
        if fmt is SegmentFormat.jsonl:
            typer.echo(json.dumps(paragraph.to_dict(), ensure_ascii=False))
        else:
            section = " > ".join(paragraph.section)
            typer.echo(f"[{paragraph.index}] {paragraph.start}-{paragraph.end}" + (f"  § {section}" if section else ""))
            typer.echo(paragraph.text)
            typer.echo()


class OutputFormatChoice(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


class InferencePrecision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    int8 = "int8"
    onnx_int8 = "onnx-int8"


def _load_model(model: Path | None, device: str | None, precision: str = "auto", streams: int | None = None):
    from classifier.models.tfidf import TfidfBaseline
    from classifier.models.transformer import ModelLoadError, PolicyClassifier

    try:
        if model is not None and TfidfBaseline.is_baseline_dir(model):
            return TfidfBaseline.from_pretrained(model)  # CPU-only numpy: device, precision and streams do not apply
        return PolicyClassifier.from_pretrained(model, device=device, precision=precision, streams=streams)
    except (ModelLoadError, ValueError) as exc:
        fail(str(exc), EXIT_MODEL)


@app.command()
def classify(
    paths: Annotated[list[str], typer.Argument(help="Policy files, directories (recursive) or - for stdin.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (default: stdout).")] = None,
    fmt: Annotated[OutputFormatChoice, typer.Option("--format", "-f", help="Row format.")] = OutputFormatChoice.jsonl,
    summary: Annotated[bool, typer.Option("--summary", help="Write a per-policy Markdown table instead of rows.")]
    = False,
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
    group_size: Annotated[int, typer.Option(min=1, help="Paragraphs labelled per model call, across policies "
                                                        "(larger is faster; a crash re-does at most one group).")]
    = 1024,
) -> None:
    """Classify every paragraph of one or many policies (JSONL rows by default)."""
    from classifier.predict.batch import DEFAULT_GLOBS, OutputFormat, discover_inputs

    if output is not None and str(output) == "-":
        output = None  # -o - is stdout, as for input
    if resume and output is None:
        fail("--resume needs -o/--output", EXIT_USAGE)
    if fmt is OutputFormatChoice.parquet and (output is None or resume):
        fail("parquet output needs -o/--output and cannot --resume", EXIT_USAGE)
    inputs, problems = discover_inputs(paths, tuple(glob) if glob else DEFAULT_GLOBS)
    if not inputs and len(problems) == 1:  # the usual mistyped path: one line says both what and so what
        fail(f"{shown(problems[0][0])}: {problems[0][1]}; no policies to classify", EXIT_INPUT)
    for source, reason in problems:
        typer.echo(f"error: {shown(source)}: {reason}", err=True)
    if not inputs:
        fail("no policies to classify", EXIT_INPUT)
    settings = {"fmt": OutputFormat.summary if summary else fmt.value, "scheme": scheme, "threshold": threshold,
                "batch_size": batch_size, "resume": resume, "max_bytes": max_bytes, "group_paragraphs": group_size,
                "max_paragraphs": max_paragraphs}
    try:
        with _claimed_output(output, inputs):  # before the model loads: a clash or a lock fails at once
            result = _run_classify(inputs, output, settings, lambda: _load_model(model, device, precision.value,
                                                                                  streams))
    except KeyboardInterrupt:
        where = "; run the same command with --resume to go on" if output is not None else ""
        fail(f"interrupted{where}", EXIT_INTERRUPTED)
    failed = problems + result.failed
    if output is not None or failed:
        typer.echo(f"{len(result.done)} policies ({result.paragraphs} paragraphs) classified, "
                   f"{len(result.skipped)} already done, {len(failed)} failed", err=True)
    if failed:
        typer.echo("failed: " + ", ".join(shown(source) for source, _ in failed), err=True)
        raise typer.Exit(EXIT_INPUT)


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
def evaluate(
    data: Annotated[list[Path], typer.Option("--data", help="OPP-115 dir, seed-layout corpus dir or labelled JSONL "
                                                            "(repeatable).")],
    model: Annotated[list[str] | None, typer.Option(
        "--model", help="Model dir, TF-IDF baseline dir or 'default' (repeatable; default: the shipped model).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Directory for metrics.json, report.md, plots, errors.jsonl.")]
    = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write just the metrics JSON here.")] = None,
    n_boot: Annotated[int, typer.Option(min=10, help="Bootstrap resamples over policies.")] = 1000,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="One threshold for all labels "
                                                                           "(e.g. 0.5 for PrivacyGLUE).")] = None,
    plots: Annotated[bool, typer.Option(help="Write PNG plots.")] = True,
) -> None:
    """Evaluate one or more models on one or more labelled datasets, side by side, with bootstrap intervals."""
    from classifier.data.corpus import CorpusError
    from classifier.evaluation.evaluate import comparison, load_eval_data, load_model, save_metrics
    from classifier.evaluation.evaluate import evaluate as run_evaluation
    from classifier.models.transformer import ModelLoadError

    try:
        datasets = [load_eval_data(path) for path in data]
    except (ValueError, CorpusError) as exc:
        fail(str(exc), EXIT_INPUT)
    try:
        models = [load_model(spec) for spec in (model or ["default"])]
    except (ModelLoadError, ValueError) as exc:
        fail(str(exc), EXIT_MODEL)
    results, comparisons = [], []
    for data_name, dataset in datasets:
        per_data = []
        for model_name, loaded in models:
            try:
                result = run_evaluation(loaded, dataset, model_name=model_name, data_name=data_name, n_boot=n_boot,
                                        threshold=threshold)
            except ValueError as exc:
                fail(str(exc), EXIT_USAGE)
            views = result.metrics["views"]["opp115"]
            ci = {k: "[{:.3f}, {:.3f}]".format(*v) for k, v in views["bootstrap_ci"].items() if k != "per_label_f1"
                  and isinstance(v, list)}
            typer.echo(f"{model_name} on {data_name}: micro-F1 {views['micro_f1']:.4f} {ci['micro_f1']}, "
                       f"macro-F1 {views['macro_f1']:.4f} {ci['macro_f1']} (95% CI over policies)", err=True)
            per_data.append(result)
        comparisons += [comparison(per_data[0], other, n_boot=n_boot) for other in per_data[1:]]
        results += per_data
    if out is not None:
        from classifier.evaluation.report import write_evaluation

        write_evaluation(out, results, comparisons, plots=plots)
        typer.echo(f"wrote {out}/report.md", err=True)
    if json_file is not None:
        save_metrics(json_file, results, comparisons)
    if out is None and json_file is None:
        from classifier.evaluation.report import render_report

        typer.echo(render_report({"results": [r.metrics for r in results], "comparisons": comparisons}))


@app.command()
def crossval(
    opp115: Annotated[list[Path] | None, typer.Option(help="OPP-115-layout directory (repeatable).")] = None,
    seed_corpus: Annotated[list[Path] | None, typer.Option(help="Seed-layout corpus directory (repeatable).")] = None,
    jsonl: Annotated[list[Path] | None, typer.Option(help="Labelled JSONL file (repeatable).")] = None,
    model_type: Annotated[list[ModelType] | None, typer.Option("--model-type", help="What to cross-validate "
                                                                                    "(repeatable).")] = None,
    config: Annotated[Path | None, typer.Option(help="train_config.json for the transformer.")] = None,
    k: Annotated[int, typer.Option(min=2, help="Folds (by policy).")] = 5,
    seed: Annotated[int, typer.Option(help="Fold seed.")] = 13,
    ensemble: Annotated[bool, typer.Option(help="Also evaluate the average of transformer and TF-IDF.")] = False,
    teacher_config: Annotated[Path | None, typer.Option(
        help="train_config.json of a teacher (e.g. a base-size encoder): each fold trains it, then distils it into "
             "the transformer; the teacher is reported too.")] = None,
    teacher_dir: Annotated[Path | None, typer.Option(
        help="With --teacher-config: keep each fold's trained teacher here and load it, instead of training it "
             "again, when a run with the same fold data and teacher config comes back (another student, say).")] = None,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/crossval"),
    from_oof: Annotated[bool, typer.Option(help="Rebuild the reports in --out from its saved out-of-fold "
                                                "predictions (cv.json, oof.safetensors) without training.")] = False,
    resume: Annotated[bool, typer.Option(help="Go on from the folds an interrupted run saved in --out/folds "
                                              "(same data and options); train only the others.")] = False,
) -> None:
    """k-fold cross-validation by policy: trains and evaluates each fold, reports mean ± sd and out-of-fold figures.

    Seed-corpus policies are spread over the folds, so their figures are leave-one-policy-out when k equals their
    number.
    """
    from dataclasses import replace

    from classifier.evaluation.crossval import FoldMismatch, cross_validate, tfidf_trainer, transformer_trainer
    from classifier.training.loop import TrainConfig, build_dataset, learning_settings, training_environment

    types = model_type or [ModelType.tfidf]
    base = TrainConfig.from_json(config) if config else TrainConfig()
    settings = replace(base, opp115=[str(p) for p in opp115 or []], seed_corpus=[str(p) for p in seed_corpus or []],
                       jsonl=[str(p) for p in jsonl or []])
    try:
        settings.validate()
        dataset = build_dataset(settings)
    except ValueError as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    from classifier.data.seed_corpus import policy_ids

    seed_policies = policy_ids(settings.seed_corpus)
    groups = {policy: "seed" for policy in seed_policies}
    if from_oof:
        oof = _load_oof(out)
        # the saved predictions' folds and the machine that trained them, not this command line's or this machine
        previous = json.loads((out / "cv.json").read_text())
        folds = {key: previous.get("settings", {}).get(key, value) for key, value in (("k", k), ("fold_seed", seed))}
        _write_crossval(out, dataset, oof, seed_policies, vars(settings) | folds, previous.get("environment"))
        return
    if settings.teacher:
        fail("crossval cannot distil from a saved teacher: it has seen every fold's test policies; give "
             "--teacher-config to train a teacher in each fold", EXIT_USAGE)
    if teacher_dir is not None and not teacher_config:
        fail("--teacher-dir keeps the teachers that --teacher-config trains: give both", EXIT_USAGE)
    trainers: dict[str, Any] = {}
    if ModelType.transformer in types:
        if teacher_config:
            from classifier.evaluation.crossval import distillation_trainers

            try:
                # the folds supply the data: the teacher's file needs only its encoder and hyperparameters
                teacher_settings = replace(TrainConfig.from_json(teacher_config), opp115=settings.opp115,
                                           seed_corpus=settings.seed_corpus, jsonl=settings.jsonl)
                teacher_settings.validate()
            except (OSError, TypeError, ValueError) as exc:
                fail(f"{teacher_config}: {str(exc).splitlines()[0]}", EXIT_USAGE)
            trainers |= distillation_trainers(settings, teacher_settings, teacher_dir=teacher_dir)
        else:
            trainers["transformer"] = transformer_trainer(settings)
    if ModelType.tfidf in types:
        trainers["tfidf"] = tfidf_trainer(seed=seed)
    members = [name for name in ("transformer", "tfidf") if name in trainers]
    try:
        environment = training_environment(settings if "transformer" in trainers else None)
        if "teacher" in trainers:
            teacher_environment = training_environment(teacher_settings)
            environment["teacher"] = {key: teacher_environment[key] for key in ("device", "precision")}
    except ValueError as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    # what the trainers learn from besides the rows, whose digest the folds keep: a resumed run must match it
    learning = {}
    if "transformer" in trainers:
        learning["transformer"] = learning_settings(settings, sources=False)
    if "teacher" in trainers:
        learning["teacher"] = learning_settings(teacher_settings, sources=False)
    try:
        results = cross_validate(dataset, trainers, k=k, seed=seed, groups=groups,
                                 ensemble=members if ensemble and len(members) == 2 else None,
                                 fold_dir=out / "folds", resume=resume, settings=learning)
    except FoldMismatch as exc:  # raised before training; an error while training keeps its traceback
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    for name, entry in results.items():
        precisions = sorted({fold["precision"] for fold in entry["folds"] if "precision" in fold})
        if len(precisions) > 1:  # resumed folds from a machine with other bf16 support, say
            typer.echo(f"warning: {name}'s folds were scored in different precisions ({', '.join(precisions)}); "
                       "each fold's is in cv.json's fold_details", err=True)
    _write_crossval(out, dataset, results, seed_policies, vars(settings) | {"k": k, "fold_seed": seed},
                    environment)


def _load_oof(out: Path) -> dict:
    from classifier.evaluation.crossval import load_oof

    try:
        return load_oof(out)
    except (OSError, ValueError, KeyError) as exc:
        fail(f"{out}: no saved cross-validation to rebuild from ({exc})", EXIT_USAGE)


def _write_crossval(out: Path, dataset, results, seed_policies: set[str], settings: dict,
                    environment: dict | None) -> None:
    import json as json_module

    from classifier.evaluation.crossval import oof_result, save_oof, subset_fold_summaries, summarize_folds
    from classifier.evaluation.evaluate import comparison
    from classifier.evaluation.report import write_evaluation
    from classifier.files import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    summary = {name: summarize_folds(entry["folds"]) | {"fold_details": entry["folds"]}
               for name, entry in results.items()}
    main_name = "opp115" if settings.get("opp115") else "data"
    subsets = {main_name: [i for i, p in enumerate(dataset["policy"]) if p not in seed_policies],
               "seed_corpus": [i for i, p in enumerate(dataset["policy"]) if p in seed_policies]}
    evaluations, comparisons = [], []
    for subset_name, rows in subsets.items():
        if not rows:
            continue
        per_subset = [oof_result(dataset, name, entry["probs"], entry["thresholds"], f"{subset_name}-oof", rows)
                      for name, entry in results.items()]
        for name, entry in results.items():
            folds = subset_fold_summaries(dataset, entry, rows, name, subset_name)
            summary[name][f"{subset_name}_folds"] = summarize_folds(folds) | {"fold_details": folds}
        for result in per_subset:
            views = result.metrics["views"]
            summary[result.model][f"{subset_name}_out_of_fold"] = {
                "micro_f1": views["opp115"]["micro_f1"], "macro_f1": views["opp115"]["macro_f1"],
                "micro_f1_ci": views["opp115"]["bootstrap_ci"]["micro_f1"],
                "macro_f1_ci": views["opp115"]["bootstrap_ci"]["macro_f1"],
                "card_micro_f1": views.get("card", {}).get("micro_f1"),
                "card_macro_f1": views.get("card", {}).get("macro_f1"),
                "children_f1": views.get("children", {}).get("f1"),
                "n_policies": result.metrics["n_policies"],
            }
        # The last entry is the ensemble when there is one: compare it (B) against each single model (A).
        comparisons += [comparison(other, per_subset[-1]) for other in per_subset[:-1]]
        evaluations += per_subset
    write_evaluation(out, evaluations, comparisons)
    save_oof(str(out / "oof.safetensors"), results)
    atomic_write(out / "cv.json", json_module.dumps({"settings": settings, "environment": environment,
                                                      "models": summary}, indent=2) + "\n")
    for name, entry in summary.items():
        typer.echo(f"{name}: micro-F1 {entry['micro_f1']['mean']:.4f} ± {entry['micro_f1']['sd']:.4f}, "
                   f"macro-F1 {entry['macro_f1']['mean']:.4f} ± {entry['macro_f1']['sd']:.4f}", err=True)
    typer.echo(f"wrote {out}/cv.json and {out}/report.md", err=True)


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
        from classifier.evaluation.crossval import cv_settings, oof_entry, oof_thresholds
        from classifier.training.loop import build_dataset

        try:
            chosen = oof_entry(_load_oof(cv), entry)
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
    typer.echo(f"{report['n_annotations']} annotations (annotator x policy) of {len(dataset)} segments; "
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


class ModelType(str, Enum):
    transformer = "transformer"
    tfidf = "tfidf"


class Precision(str, Enum):
    auto = "auto"
    bf16 = "bf16"
    fp32 = "fp32"


@app.command()
def train(
    opp115: Annotated[list[Path] | None, typer.Option(help="OPP-115-layout directory (repeatable).")] = None,
    seed_corpus: Annotated[list[Path] | None, typer.Option(help="Seed-layout corpus directory (repeatable).")] = None,
    jsonl: Annotated[list[Path] | None, typer.Option(help="Labelled JSONL file (repeatable).")] = None,
    validation_jsonl: Annotated[list[Path] | None, typer.Option(help="Validate on these JSONL files instead of "
                                                                     "held-out policies (repeatable).")] = None,
    config: Annotated[Path | None, typer.Option(help="A train_config.json; options given here override it.")] = None,
    encoder: Annotated[str | None, typer.Option(help="Base encoder: directory or weights-shipping package.")] = None,
    output_dir: Annotated[Path | None, typer.Option("--output-dir", "-o", help="Run directory.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per paragraph (head+tail).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    # on/off flags default to None so that --no-X can switch off what a --config file switched on
    labels_from_data: Annotated[bool | None, typer.Option(help="Take the label set from the JSONL data.")] = None,
    section_context: Annotated[bool | None, typer.Option(help="Read each paragraph with its section heading in "
                                                              "front (saved with the model).")] = None,
    soft_labels: Annotated[bool | None, typer.Option(help="Train OPP-115 rows towards the share of annotators who "
                                                          "gave each label (e.g. 2/3) instead of the majority "
                                                          "label.")] = None,
    attention_dropout: Annotated[float | None, typer.Option(help="Dropout on attention probabilities while "
                                                                "training (default: the encoder's own, 0.1); 0 "
                                                                "trains 1.25x faster on CPU, as well.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    precision: Annotated[Precision | None, typer.Option(help="Mixed precision.")] = None,
    model_type: Annotated[ModelType, typer.Option(help="transformer, or the TF-IDF baseline.")]
    = ModelType.transformer,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last epoch checkpoint.")]
    = False,
    teacher: Annotated[Path | None, typer.Option(help="Saved model to distil from: its probabilities on the "
                                                      "training paragraphs are blended into the targets.")] = None,
    distill_weight: Annotated[float | None, typer.Option(help="The teacher's share of each target (default 0.5).")]
    = None,
) -> None:
    """Fine-tune a classifier (or fit the TF-IDF baseline); writes model, logs and metrics to the run directory."""
    from dataclasses import replace

    from classifier.training.loop import TrainConfig
    from classifier.training.loop import train as run_training

    base = TrainConfig.from_json(config) if config else TrainConfig()
    overrides: dict[str, Any] = {
        "opp115": [str(p) for p in opp115] if opp115 else None,
        "seed_corpus": [str(p) for p in seed_corpus] if seed_corpus else None,
        "jsonl": [str(p) for p in jsonl] if jsonl else None,
        "validation_jsonl": [str(p) for p in validation_jsonl] if validation_jsonl else None,
        "encoder": encoder, "output_dir": str(output_dir) if output_dir else None, "epochs": epochs,
        "learning_rate": learning_rate, "batch_size": batch_size, "max_length": max_length, "seed": seed,
        "device": device, "precision": precision.value if precision else None,
        "labels_from_data": labels_from_data, "section_context": section_context, "soft_labels": soft_labels,
        "teacher": str(teacher) if teacher else None, "distill_weight": distill_weight,
        "attention_dropout": attention_dropout,
    }
    settings = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    try:
        settings.validate()
        if model_type is ModelType.tfidf:
            from classifier.training.loop import train_baseline

            if settings.soft_labels:
                raise ValueError("--soft-labels trains the transformer only; the TF-IDF baseline takes 0/1 labels")

            train_baseline(settings)
        else:
            run_training(settings, resume=resume)
    except (ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
