"""``evaluate`` and ``crossval``: scoring models on labelled data, and cross-validating a recipe by policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from classifier.cli.app import (
    EXIT_INPUT,
    EXIT_MODEL,
    EXIT_USAGE,
    Appsi139Dirs,
    C3paDirs,
    JsonlFiles,
    MappDirs,
    Opp115Dirs,
    SeedCorpusDirs,
    app,
    fail,
    load_model,
    shown,
)
from classifier.data.partial import PARTIAL_CORPORA
from classifier.training.config import ModelType


@app.command()
def evaluate(
    data: Annotated[list[Path], typer.Option("--data", help="OPP-115 dir, seed-layout corpus dir or labelled JSONL "
                                                            "(repeatable).")],
    model: Annotated[list[str] | None, typer.Option(
        "--model", help="Model dir, TF-IDF baseline dir or 'default' (repeatable; default: the shipped model).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Directory for metrics.json, report.md, "
                                                                      "plots, errors.jsonl.")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write just the metrics JSON here.")] = None,
    n_boot: Annotated[int, typer.Option(min=10, help="Bootstrap resamples over policies.")] = 1000,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="One threshold for all labels "
                                                                           "(e.g. 0.5 for PrivacyGLUE).")] = None,
    plots: Annotated[bool, typer.Option(help="Write PNG plots (needs the 'plots' extra).")] = True,
) -> None:
    """Evaluate one or more models on one or more labelled datasets, side by side, with bootstrap intervals."""
    from classifier.evaluation.report import plots_available

    if plots and output is not None and not plots_available():
        typer.echo("note: no plots: matplotlib is not installed (pip install 'policy-clause-classifier[plots]')",
                   err=True)
        plots = False
    from classifier.data.corpus import CorpusError
    from classifier.evaluation.evaluate import comparison, load_eval_data, save_metrics
    from classifier.evaluation.evaluate import evaluate as run_evaluation
    from classifier.evaluation.evaluate import load_model as load_evaluated
    from classifier.models.base import ModelLoadError

    try:
        datasets = [load_eval_data(path) for path in data]
    except (ValueError, CorpusError) as exc:
        fail(str(exc), EXIT_INPUT)
    try:
        models = [load_evaluated(spec) for spec in (model or ["default"])]
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
    if output is not None:
        from classifier.evaluation.report import write_evaluation

        write_evaluation(output, results, comparisons, plots=plots)
        typer.echo(f"wrote {output}/report.md", err=True)
    if json_file is not None:
        save_metrics(json_file, results, comparisons)
    if output is None and json_file is None:
        from classifier.evaluation.report import render_report

        typer.echo(render_report({"results": [r.metrics for r in results], "comparisons": comparisons}))


@app.command()
def crossval(
    opp115: Opp115Dirs = None,
    seed_corpus: SeedCorpusDirs = None,
    jsonl: JsonlFiles = None,
    mapp: MappDirs = None,
    c3pa: C3paDirs = None,
    appsi139: Appsi139Dirs = None,
    model_type: Annotated[list[ModelType] | None, typer.Option("--model-type", help="What to cross-validate "
                                                                                    "(repeatable).")] = None,
    config: Annotated[Path | None, typer.Option(help="train_config.json for the transformer (its data lists are "
                                                     "used unless data options are given).")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override one config field, KEY=VALUE "
                                                                      "(repeatable; VALUE as JSON).")] = None,
    k: Annotated[int, typer.Option(min=2, help="Folds (by policy).")] = 5,
    seed: Annotated[int | None, typer.Option(help="Random seed of the training runs (initialisation, order, "
                                                 "validation split), as for train; default: the config's.")] = None,
    fold_seed: Annotated[int, typer.Option(help="Seed of the assignment of policies to folds.")] = 13,
    ensemble: Annotated[bool, typer.Option(help="Also evaluate the average of transformer and TF-IDF.")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path("runs/crossval"),
    from_oof: Annotated[bool, typer.Option(help="Rebuild the reports in --output from its saved out-of-fold "
                                                "predictions (cv.json, oof.safetensors) without training.")] = False,
    resume: Annotated[bool, typer.Option(help="Go on from the folds an interrupted run saved in --output/folds "
                                              "(same data and options); train only the others.")] = False,
    combine: Annotated[list[str] | None, typer.Option(
        "--combine", metavar="NAME=DIR[:ENTRY]",
        help="Join the entries of finished runs of this recipe on the same folds instead of training (repeatable; "
             "ENTRY defaults to NAME); with --ensemble, their average is scored too.")] = None,
) -> None:
    """k-fold cross-validation by policy: trains and evaluates each fold, reports mean ± sd and out-of-fold figures.

    Seed-corpus policies are spread over the folds, so their figures are leave-one-policy-out when k equals their
    number.
    """
    from classifier.data.seed_corpus import policy_ids
    from classifier.training.data import build_dataset

    data = {"opp115": opp115, "seed_corpus": seed_corpus, "jsonl": jsonl, "mapp": mapp, "c3pa": c3pa,
            "appsi139": appsi139}
    settings = _crossval_config(config, data, [*(overrides or []), *([f"seed={seed}"] if seed is not None else [])])
    try:
        dataset = build_dataset(settings)
    except ValueError as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    seed_policies = policy_ids(settings.seed_corpus)
    if from_oof:
        oof = load_oof_or_exit(output)
        # the saved predictions' folds and the machine that trained them, not this command line's or this machine
        previous = json.loads((output / "cv.json").read_text())
        folds = {key: previous.get("settings", {}).get(key, value) for key, value in (("k", k), ("fold_seed",
                                                                                              fold_seed))}
        _write_crossval(output, dataset, oof, seed_policies, vars(settings) | folds, previous.get("environment"))
        return
    if combine:
        results, previous = _combined_runs(settings, dataset, combine, ensemble)
        folds = {key: previous.get("settings", {}).get(key, value) for key, value in (("k", k), ("fold_seed",
                                                                                              fold_seed))}
        _write_crossval(output, dataset, results, seed_policies, vars(settings) | folds, previous.get("environment"))
        return
    types = model_type or [ModelType.tfidf]
    results, environment = _run_crossval(settings, dataset, types, k=k, fold_seed=fold_seed, ensemble=ensemble,
                                         groups={policy: "seed" for policy in seed_policies},
                                         fold_dir=output / "folds", resume=resume)
    _write_crossval(output, dataset, results, seed_policies, vars(settings) | {"k": k, "fold_seed": fold_seed},
                    environment)


def _crossval_config(config: Path | None, data: dict[str, list[Path] | None], overrides: list[str]) -> Any:
    """The config file's settings, with the data options and ``--set`` assignments given on top; exit 2 if bad."""
    from dataclasses import replace

    from classifier.training.config import TrainConfig, apply_overrides

    try:
        settings = TrainConfig.from_json(config) if config else TrainConfig()
        if any(data.values()):  # data options replace the config's data lists; none keeps them
            lists: dict[str, Any] = {name: [str(p) for p in paths or []] for name, paths in data.items()}
            settings = replace(settings, **lists)
        settings = apply_overrides(settings, overrides)
        settings.validate()
    except (OSError, TypeError, ValueError) as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    if settings.teacher:
        fail("crossval cannot distil from a saved teacher: it has seen every fold's test policies", EXIT_USAGE)
    return settings


def _run_crossval(settings: Any, dataset: Any, types: list[ModelType], *, k: int, fold_seed: int, ensemble: bool,
                  groups: dict[str, str], fold_dir: Path, resume: bool) -> tuple[dict, dict]:
    """Train and score every fold; returns the out-of-fold results and the environment they were trained in."""
    from classifier.evaluation.crossval import FoldMismatch, cross_validate, tfidf_trainer, transformer_trainer
    from classifier.training.config import learning_settings, training_environment

    trainers: dict[str, Any] = {}
    if ModelType.transformer in types:
        trainers["transformer"] = transformer_trainer(settings)
    if ModelType.tfidf in types:
        trainers["tfidf"] = tfidf_trainer(seed=settings.seed, corpus_weights=settings.corpus_weights,
                                          tune_on=settings.tune_on, attributes=settings.learns_attributes("tfidf"))
    try:
        environment = training_environment(settings if "transformer" in trainers else None)
    except ValueError as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    # what the trainers learn from besides the rows, whose digest the folds keep: a resumed run must match it
    learning: dict[str, Any] = {}
    if "transformer" in trainers:
        learning["transformer"] = learning_settings(settings, sources=False)
    if "tfidf" in trainers:
        from classifier.models.tfidf import ATTRIBUTE_C, ATTRIBUTE_TERMS, DEFAULT_MAX_FEATURES

        learning["tfidf"] = {"seed": settings.seed, "corpus_weights": settings.corpus_weights,
                             "tune_on": settings.tune_on, "max_features": DEFAULT_MAX_FEATURES,
                             **({"attributes": [ATTRIBUTE_C, ATTRIBUTE_TERMS]}
                                if settings.learns_attributes("tfidf") else {})}
    members = list(trainers)
    try:
        results = cross_validate(dataset, trainers, k=k, seed=fold_seed, groups=groups,
                                 ensemble=members if ensemble and len(members) == 2 else None,
                                 fold_dir=fold_dir, resume=resume, settings=learning, tune_on=settings.tune_on)
    except FoldMismatch as exc:  # raised before training; an error while training keeps its traceback
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    for name, entry in results.items():
        precisions = sorted({fold["precision"] for fold in entry["folds"] if "precision" in fold})
        if len(precisions) > 1:  # resumed folds from a machine with other bf16 support, say
            typer.echo(f"warning: {name}'s folds were scored in different precisions ({', '.join(precisions)}); "
                       "each fold's is in cv.json's fold_details", err=True)
    return results, environment


def _combined_runs(settings: Any, dataset: Any, combine: list[str], ensemble: bool) -> tuple[dict, dict]:
    """``--combine``: the named entries of finished runs of the same recipe (checked), and the first run's record."""
    from classifier.evaluation.folds import combine_runs, cv_settings
    from classifier.training.config import learning_settings

    members: dict[str, tuple[str | Path, str]] = {}
    for spec in combine:
        name, _, where = spec.partition("=")
        directory, _, entry = where.partition(":")
        if not name or not directory:
            fail(f"--combine {spec!r}: expected NAME=DIR or NAME=DIR:ENTRY", EXIT_USAGE)
        try:
            theirs = learning_settings(cv_settings(directory), sources=False)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            fail(f"--combine {spec}: no crossval run in {directory} ({exc})", EXIT_USAGE)
        mine = learning_settings(settings, sources=False)
        changed = sorted(key for key in mine.keys() | theirs.keys() if mine.get(key) != theirs.get(key))
        if changed:
            fail(f"--combine {spec}: {directory} cross-validated another recipe ({', '.join(changed)} differ)",
                 EXIT_USAGE)
        members[name] = (directory, entry or name)
    try:
        results = combine_runs(dataset, members, ensemble=ensemble, tune_on=settings.tune_on)
    except ValueError as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    return results, json.loads((Path(next(iter(members.values()))[0]) / "cv.json").read_text())


def load_oof_or_exit(out: Path) -> dict:
    from classifier.evaluation.folds import load_oof

    try:
        return load_oof(out)
    except (OSError, ValueError, KeyError) as exc:
        fail(f"{out}: no saved cross-validation to rebuild from ({exc})", EXIT_USAGE)


@app.command()
def transfer(
    opp115: Opp115Dirs = None,
    seed_corpus: SeedCorpusDirs = None,
    mapp: MappDirs = None,
    c3pa: C3paDirs = None,
    appsi139: Appsi139Dirs = None,
    config: Annotated[Path | None, typer.Option(help="train_config.json (its data lists are used unless data "
                                                     "options are given).")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override one config field, KEY=VALUE "
                                                                      "(repeatable; VALUE as JSON).")] = None,
    model_type: Annotated[ModelType, typer.Option(help="What to train in each scenario.")] = ModelType.tfidf,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory (transfer.json, transfer.md, "
                                                                "scenarios/; a rerun goes on from the scenarios "
                                                                "saved there).")] = Path("runs/transfer"),
    n_boot: Annotated[int, typer.Option(min=10, help="Bootstrap resamples over policies.")] = 1000,
    only: Annotated[list[str] | None, typer.Option(help="Run only this scenario, e.g. 'all' or 'all but mapp' "
                                                        "(repeatable).")] = None,
) -> None:
    """Train on some corpora, score on the held-out part of the others: OPP-115 + seed alone, all corpora, and
    leave-one-corpus-out, each scored on MAPP's test split, the held-out policies of C3PA and APPSI-139 and
    OPP-115 where it was left out."""
    from classifier.evaluation.transfer import transfer_table

    data = {"opp115": opp115, "seed_corpus": seed_corpus, "jsonl": None, "mapp": mapp, "c3pa": c3pa,
            "appsi139": appsi139}
    settings = _crossval_config(config, data, overrides or [])
    try:
        table = transfer_table(settings, output, _fitter(model_type), n_boot=n_boot, only=only or (),
                               log=lambda line: typer.echo(line, err=True))
    except ValueError as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    typer.echo(f"wrote {output}/transfer.md ({len(table['scenarios'])} scenarios)", err=True)


def _fitter(model_type: ModelType) -> Any:
    """config -> a model with tuned thresholds, for the transfer table."""
    if model_type is ModelType.tfidf:
        from classifier.training.tfidf import fit_tfidf_config

        return lambda settings: fit_tfidf_config(settings)[0]
    from classifier.training.loop import train

    return lambda settings: train(settings, save=False, log=lambda line: typer.echo(line, err=True))[0]


def _crossval_subsets(dataset, seed_policies: set[str], main_name: str) -> dict[str, list[int]]:
    """The rows each figure of a cross-validation is reported on: the main corpus (OPP-115, or the JSONL data), the
    seed corpus, and each partially annotated corpus on its own."""
    corpora = dataset["corpus"] if "corpus" in dataset.column_names else [""] * len(dataset)
    subsets: dict[str, list[int]] = {main_name: [], "seed_corpus": []}
    for i, (policy, corpus) in enumerate(zip(dataset["policy"], corpora, strict=True)):
        name = "seed_corpus" if policy in seed_policies else corpus if corpus in PARTIAL_CORPORA else main_name
        subsets.setdefault(name, []).append(i)
    return subsets


def _write_crossval(out: Path, dataset, results, seed_policies: set[str], settings: dict,
                    environment: dict | None) -> None:
    import json as json_module

    from classifier.data.attributes import has_attribute_columns
    from classifier.evaluation.evaluate import comparison
    from classifier.evaluation.folds import oof_result, save_oof, subset_fold_summaries, summarize_folds
    from classifier.evaluation.report import write_evaluation
    from classifier.files import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    summary = {name: summarize_folds(entry["folds"]) | {"fold_details": entry["folds"]}
               for name, entry in results.items()}
    subsets = _crossval_subsets(dataset, seed_policies, "opp115" if settings.get("opp115") else "data")
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
    record = {"settings": settings, "environment": environment, "models": summary}
    if has_attribute_columns(dataset):
        from classifier.evaluation.attributes import attribute_markdown, crossval_attribute_reports

        typer.echo("attributes: scoring the out-of-fold values and fitting the TF-IDF baseline on the same folds",
                   err=True)
        attributes = crossval_attribute_reports(dataset, results, seed=settings.get("seed", 13))
        record["attributes"] = attributes
        atomic_write(out / "attributes.md", attribute_markdown(attributes))
    atomic_write(out / "cv.json", json_module.dumps(record, indent=2) + "\n")
    for name, entry in summary.items():
        typer.echo(f"{name}: micro-F1 {entry['micro_f1']['mean']:.4f} ± {entry['micro_f1']['sd']:.4f}, "
                   f"macro-F1 {entry['macro_f1']['mean']:.4f} ± {entry['macro_f1']['sd']:.4f}", err=True)
    typer.echo(f"wrote {out}/cv.json and {out}/report.md", err=True)


@app.command()
def calibrate(
    model: Annotated[Path, typer.Option(help="The model directory to calibrate (calibration.json is written "
                                             "there).")],
    cv: Annotated[Path, typer.Option(help="A crossval output directory of the model's recipe (cv.json and "
                                          "oof.safetensors).")],
    entry: Annotated[str, typer.Option(help="The cross-validated entry the model is.")] = "transformer+tfidf",
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the figures: calibration.md, "
                                                                "calibration.json, reliability.png.")]
    = Path("runs/calibration"),
) -> None:
    """Fit per-label calibration on a cross-validation's out-of-fold predictions, save it with the model, and
    report expected calibration error before and after and how often the report's states are right."""
    import json as json_module

    from classifier.data.corpus import label_names, multi_hot
    from classifier.evaluation.calibration import calibration_markdown, calibration_study, plot_reliability
    from classifier.evaluation.folds import cv_settings, load_oof, oof_entry
    from classifier.files import atomic_write
    from classifier.models.calibration import fit_calibration
    from classifier.report.policy import UNSURE_FLOOR
    from classifier.training.data import build_dataset

    try:
        oof, dataset = load_oof(cv), build_dataset(cv_settings(cv))
        chosen = oof_entry(oof, entry)
    except KeyError as exc:
        fail(f"{shown(str(cv))}: {exc.args[0]}", EXIT_USAGE)
    except (OSError, TypeError, ValueError) as exc:
        fail(f"{shown(str(cv))}: no cross-validation with out-of-fold predictions ({exc})", EXIT_USAGE)
    classifier = load_model(model, "cpu", full=True)
    labels = label_names(dataset)
    if list(classifier.labels) != labels or len(chosen["probs"]) != len(dataset):
        fail(f"{shown(str(cv))}: its predictions are not of {shown(str(model))}'s labels and data", EXIT_USAGE)
    if chosen.get("thresholds") is None:
        fail(f"{shown(str(cv))}: entry {entry} has no fold thresholds", EXIT_USAGE)
    y = multi_hot(dataset)
    study = calibration_study(y, chosen["probs"], chosen["fold"], chosen["thresholds"], labels, dataset["policy"],
                              unsure_floor=UNSURE_FLOOR)
    output.mkdir(parents=True, exist_ok=True)
    atomic_write(output / "calibration.md", calibration_markdown(study, source=f"{cv}, {entry}"))
    atomic_write(output / "calibration.json", json_module.dumps(study, indent=1) + "\n")
    plot_reliability(study, output / "reliability.png")
    calibration = fit_calibration(y, chosen["probs"], labels, source={
        "cv": str(cv), "entry": entry, "rows": len(dataset), "ece_raw_out_of_fold": study["ece_before"],
        "ece_calibrated_out_of_fold": study["ece_after"]})
    calibration.save(model)
    _card_with_calibration(model, labels, {"cv": str(cv), "entry": entry, "rows": len(dataset),
                                           "ece_raw": study["ece_before"], "ece_calibrated": study["ece_after"],
                                           "unsure_floor": UNSURE_FLOOR, "states": study["states"]["overall"]})
    typer.echo(f"mean ECE {study['ece_before']:.4f} raw, {study['ece_after']:.4f} calibrated (out of fold); wrote "
               f"{model / 'calibration.json'} and {output}/calibration.md", err=True)


def _card_with_calibration(model: Path, labels: list[str], figures: dict) -> None:
    """Record the calibration in a released model's ``metrics.json`` and card (a model folder without them, a bare
    TF-IDF model say, keeps only ``calibration.json``)."""
    import json as json_module

    from classifier.files import atomic_write
    from classifier.training.modelcard import render_card

    metrics_path, config_path = model / "metrics.json", model / "train_config.json"
    if not (metrics_path.is_file() and config_path.is_file() and (model / "README.md").is_file()):
        return
    metrics = json_module.loads(metrics_path.read_text()) | {"calibration": figures}
    atomic_write(metrics_path, json_module.dumps(metrics, indent=2, sort_keys=True) + "\n")
    atomic_write(model / "README.md", render_card(labels, json_module.loads(config_path.read_text()), metrics))
