"""The release build: the shipped model from a training config and a cross-validation of that same recipe.

A model trained on every labelled policy has no policies left to tune its thresholds on. The release build takes
them from the out-of-fold predictions of ``policy-classifier crossval`` run with the same config (every paragraph
predicted by a fold model that never saw its policy), then:

1. trains the transformer on all the data for the config's fixed number of epochs (``validation_fraction`` 0);
2. fits the TF-IDF member on the same data and averages it in with ``tfidf_weight``;
3. sets the thresholds of the average, of the transformer alone and of the TF-IDF member from the pooled
   out-of-fold predictions of the matching cross-validated entries, with an honest estimate of how well that works;
4. attaches the cross-validated figures (and any reference runs on the same folds) to ``metrics.json`` and the
   card, and writes the model folder in one step (a half-written release never replaces a good one).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from classifier.training.config import TrainConfig, learning_settings

__all__ = ["Reference", "ReleaseError", "attach_attributes", "release"]

# What may differ between the cross-validated recipe and the release run: the release trains on everything.
_RELEASE_MAY_DIFFER = frozenset({"validation_fraction", "thresholds"})


class ReleaseError(ValueError):
    """The cross-validation does not fit the config (another recipe, other rows) or lacks an entry."""


@dataclass(frozen=True)
class Reference:
    """Another cross-validation on the same folds, shown on the card for comparison (``name``: its row there)."""

    name: str
    directory: str
    entry: str


def release(config: TrainConfig, cv_dir: str | os.PathLike[str], output: str | os.PathLike[str], *,
            entry: str = "transformer+tfidf", tfidf_weight: float = 0.5, references: Sequence[Reference] = (),
            work_dir: str | os.PathLike[str] = "runs/release", resume: bool = False,
            log: Callable[[str], None] | None = None) -> Path:
    """Build the model a config and its cross-validation describe, and save it to ``output``.

    Args:
        config: the recipe (its data lists name the training data); validated here.
        cv_dir: a ``crossval`` output folder of the same recipe, with ``cv.json`` and ``oof.safetensors``.
        entry: the cross-validated entry the shipped model is (``transformer+tfidf``, or ``transformer``).
        tfidf_weight: the TF-IDF member's share of the average (0: the transformer alone).
        references: other cross-validations on the same folds for the card.
        work_dir: the training run's folder (epoch checkpoints; ``resume`` goes on from them).

    Raises:
        ReleaseError: the cross-validation is of another recipe or other rows, or lacks an entry needed.
        ValueError: an invalid config or weight.
    """
    from classifier.evaluation.folds import cv_settings, load_oof, read_cv_record

    emit = log or (lambda line: print(line, file=sys.stderr, flush=True))
    config.validate()
    if not 0.0 <= tfidf_weight <= 1.0:
        raise ValueError(f"tfidf_weight must be in [0, 1], got {tfidf_weight}")
    try:
        cv_config, record, oof = cv_settings(Path(cv_dir)), read_cv_record(Path(cv_dir)), load_oof(Path(cv_dir))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ReleaseError(f"{cv_dir}: no cross-validation with out-of-fold predictions ({exc})") from None
    _check_recipe(config, cv_config, cv_dir)
    from classifier.training.data import build_dataset

    dataset = build_dataset(config)  # the rows the cross-validation predicted, and the release trains the TF-IDF on
    cuts = _thresholds(config, dataset, oof, entry, tfidf_weight, cv_dir)
    run_config = replace(config, validation_fraction=0.0, output_dir=str(work_dir),
                         thresholds={**cuts["transformer"]["thresholds"],
                                     **_attribute_thresholds(config, dataset, oof)})
    classifier, metrics = _trained(run_config, dataset, resume, emit)
    if tfidf_weight > 0 or config.learns_attributes("tfidf"):  # the member averaged in, or the attributes' model
        classifier.tfidf = _fit_tfidf(config, dataset, cuts["tfidf"]["thresholds"] if tfidf_weight > 0 else None)
        classifier.tfidf_weight = tfidf_weight
    classifier.thresholds = [cuts[entry]["thresholds"][label] for label in classifier.labels]
    metrics = _release_metrics(metrics, cuts, entry, tfidf_weight, cv_dir, record, references)
    return _save(classifier, run_config, metrics, Path(output), emit)


def _trained(run_config: TrainConfig, dataset: Any, resume: bool,
             emit: Callable[[str], None]) -> tuple[Any, dict[str, Any]]:
    """The transformer trained on all the data: trained now, or, with ``resume``, the finished run the work folder
    holds when it is of this same run config (a release rebuilt with a new TF-IDF member or new thresholds)."""
    import json

    from classifier.training.config import check_resumable
    from classifier.training.loop import train

    finished = Path(run_config.output_dir) / "model"
    if resume and (finished / "metrics.json").is_file():
        check_resumable(finished / "train_config.json", run_config)
        from classifier.models.transformer import PolicyClassifier

        emit(f"reusing the finished training run in {finished}")
        model = PolicyClassifier.from_pretrained(finished, device="cpu", precision="fp32")
        return model, json.loads((finished / "metrics.json").read_text())
    return train(run_config, train_data=dataset, resume=resume, log=emit)


def _check_recipe(config: TrainConfig, cv_config: TrainConfig, cv_dir: Any) -> None:
    """Refuse a cross-validation of another recipe: its thresholds and figures would describe another model."""
    mine, theirs = learning_settings(config), learning_settings(cv_config)
    changed = sorted(k for k in mine.keys() | theirs.keys()
                     if k not in _RELEASE_MAY_DIFFER and mine.get(k) != theirs.get(k))
    if changed:
        details = ", ".join(f"{k} {theirs.get(k)!r} (cross-validation) vs {mine.get(k)!r}" for k in changed)
        raise ReleaseError(f"{cv_dir}: cross-validated with another recipe ({details})")


def _thresholds(config: TrainConfig, dataset: Any, oof: dict[str, dict[str, Any]], entry: str, tfidf_weight: float,
                cv_dir: Any) -> dict[str, dict[str, Any]]:
    """Pooled out-of-fold thresholds (and their estimate) of the shipped entry and of each member it needs."""
    from classifier.data.corpus import label_names, multi_hot, tuning_mask
    from classifier.data.seed_corpus import policy_ids
    from classifier.evaluation.folds import oof_entry, oof_thresholds, threshold_estimate

    labels, y = label_names(dataset), multi_hot(dataset)
    is_seed = np.array([policy in policy_ids(config.seed_corpus) for policy in dataset["policy"]])
    # the shipped thresholds are tuned for the recipe's target use, as its folds' validation thresholds were
    is_opp115, mask = np.asarray(dataset["corpus"]) == "opp115", tuning_mask(dataset, config.tune_on)
    if not is_opp115.any():  # a recipe on other data: its non-seed rows stand where OPP-115's would
        is_opp115 = ~is_seed
    needed = dict.fromkeys([entry, "transformer", *(["tfidf"] if tfidf_weight > 0 else [])])
    out = {}
    for name in needed:
        try:
            chosen = oof_entry(oof, name)
        except KeyError as exc:
            raise ReleaseError(f"{cv_dir}: {exc.args[0]}") from None
        if len(chosen["probs"]) != len(dataset):
            raise ReleaseError(f"{cv_dir}: {len(chosen['probs'])} out-of-fold rows for {len(dataset)} rows of data")
        pooled, _ = oof_thresholds(y, chosen["probs"], chosen["fold"], mask)
        out[name] = {"thresholds": dict(zip(labels, pooled, strict=True)),
                     "estimate": threshold_estimate(y, chosen["probs"], chosen["fold"], labels, chosen["thresholds"],
                                                    is_seed, is_opp115, mask)}
    return out


def _attribute_thresholds(config: TrainConfig, dataset: Any, oof: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Pooled out-of-fold thresholds of the head's attribute outputs (a recipe whose transformer learns them), on
    the rows that decide each. The TF-IDF member's stay at 0.5 (:data:`classifier.models.tfidf.ATTRIBUTE_TERMS`)."""
    from classifier.data.attributes import attribute_targets
    from classifier.evaluation.folds import oof_thresholds

    if not config.learns_attributes("transformer"):
        return {}
    entry = oof.get("transformer", {})
    if "attribute_probs" not in entry:
        raise ReleaseError("the cross-validation has no attribute outputs: run it with the recipe's attributes")
    targets, known = attribute_targets(dataset)
    pooled, _ = oof_thresholds(targets, entry["attribute_probs"], entry["fold"], known)
    return dict(zip(dataset.features["attribute_labels"].feature.names, pooled, strict=True))


def _fit_tfidf(config: TrainConfig, dataset: Any, thresholds: dict[str, float] | None) -> Any:
    """The TF-IDF member on all the data, with its out-of-fold thresholds (``None``: a member kept only for its
    attribute outputs)."""
    from classifier.data.corpus import label_names
    from classifier.training.tfidf import fit_tfidf

    tfidf = fit_tfidf(dataset, seed=config.seed, corpus_weights=config.corpus_weights,
                      attributes=config.learns_attributes("tfidf"))
    if thresholds is not None:
        tfidf.thresholds = [thresholds[label] for label in label_names(dataset)]
    return tfidf


def _release_metrics(metrics: dict[str, Any], cuts: dict[str, dict[str, Any]], entry: str, tfidf_weight: float,
                     cv_dir: Any, record: dict[str, Any], references: Sequence[Reference]) -> dict[str, Any]:
    """The run's metrics plus where the thresholds came from and the cross-validated figures."""
    from classifier.evaluation.folds import read_cv_record
    from classifier.training.modelcard import cv_reference

    try:
        rows = [cv_reference(ref.name, ref.directory, read_cv_record(ref.directory), ref.entry, record, entry)
                for ref in references]
    except (OSError, KeyError, ValueError) as exc:
        raise ReleaseError(f"reference: {exc}") from None
    return {
        **metrics,
        "transformer_thresholds": metrics["thresholds"],
        "thresholds": cuts[entry]["thresholds"],
        "validation": {**metrics.get("validation", {}), "tfidf_weight": tfidf_weight},
        "threshold_source": {"file": str(cv_dir), "entry": entry, "estimate": cuts[entry]["estimate"]},
        "cross_validation": {"settings": record["settings"], "environment": record.get("environment"), "models": {
            name: {k: v for k, v in figures.items() if k != "fold_details"}
            for name, figures in record["models"].items()}},
        "cross_validation_entry": entry,
        "cross_validation_references": rows,
        **({"attributes": record["attributes"]} if "attributes" in record else {}),
    }


def _save(classifier: Any, run_config: TrainConfig, metrics: dict[str, Any], output: Path,
          emit: Callable[[str], None], keep: Sequence[tuple[Path, str]] = ()) -> Path:
    """Write the model beside ``output`` and swap it into place, so a failure leaves the old release whole
    (``keep``: files copied in, ``(source, path inside the model)``)."""
    from dataclasses import asdict

    from classifier.files import umask_mode
    from classifier.training.modelcard import render_card

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp"))
    umask_mode(staging)
    try:
        config = asdict(run_config)
        classifier.save_pretrained(staging, half=run_config.half, train_config=config, metrics=metrics,
                                   card=render_card(classifier.labels, config, metrics))
        for source, inside in keep:
            shutil.copyfile(source, staging / inside)
        old = output.with_name(f".{output.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if output.exists():
            os.replace(output, old)
        os.replace(staging, output)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    emit(f"released {output} (entry {metrics['cross_validation_entry']}, "
         f"TF-IDF weight {metrics['validation']['tfidf_weight']})")
    return output


def attach_attributes(model_dir: str | os.PathLike[str], cv_dir: str | os.PathLike[str],
                      output: str | os.PathLike[str], *, log: Callable[[str], None] | None = None) -> Path:
    """Give a released model attribute outputs without training it again: its TF-IDF member gets the attribute
    outputs (``attribute_model`` ``"tfidf"``) fitted on the recipe's data (``train_config.json``).

    The member's categories stay the released ones, weights and thresholds, so the model's category figures and
    detector stay true; the attribute outputs use the member's vocabulary, which must be the one the recipe's texts
    give now (checked). The attribute figures come from ``cv_dir``, a ``crossval`` of the same data with the recipe's
    attributes.

    Raises:
        ReleaseError: no TF-IDF member, a cross-validation of other data or without the TF-IDF member's attribute
            figures, or texts that no longer give the member's vocabulary.
    """
    import json

    from classifier.models.transformer import PolicyClassifier
    from classifier.predict.detector import DETECTOR_FILE
    from classifier.training.data import build_dataset

    emit = log or (lambda line: print(line, file=sys.stderr, flush=True))
    source = Path(model_dir)
    model = PolicyClassifier.from_pretrained(source, device="cpu", precision="fp32")
    if model.tfidf is None:
        raise ReleaseError(f"{source}: no TF-IDF member to give attribute outputs")
    config = replace(TrainConfig.from_dict(json.loads((source / "train_config.json").read_text())), attributes=True,
                     attribute_model="tfidf")
    config.validate()
    record = _attribute_record(config, cv_dir, source)
    emit(f"fitting the TF-IDF attribute outputs on {source}'s training data")
    refitted = _fit_tfidf(config, build_dataset(config), None)
    released = model.tfidf
    if (refitted.vocabulary, refitted.char_vocabulary) != (released.vocabulary, released.char_vocabulary):
        raise ReleaseError(f"{source}: its TF-IDF member's vocabulary is not the one the recipe's data gives now: "
                           "run the full release")
    model.tfidf = type(released)(  # the released categories, the new attribute outputs
        released.labels, released.vocabulary, released.idf, released.coef, released.intercept, released.thresholds,
        char_vocabulary=released.char_vocabulary, char_ngrams=released.char_ngrams,
        attribute_keys=refitted.attribute_keys, attribute_coef=refitted.attribute_coef,
        attribute_intercept=refitted.attribute_intercept, attribute_thresholds=refitted.attribute_thresholds)
    metrics = json.loads((source / "metrics.json").read_text())
    metrics["attributes"] = {name: record["attributes"][name] for name in ("tfidf", "tfidf_baseline")
                             if name in record["attributes"]}
    metrics["attribute_source"] = {"file": str(cv_dir), "entry": "tfidf"}
    keep = [(source / inside, inside) for inside in (DETECTOR_FILE, f"tfidf/{DETECTOR_FILE}")
            if (source / inside).is_file()]
    return _save(model, config, metrics, Path(output), emit, keep)


def _attribute_record(config: TrainConfig, cv_dir: str | os.PathLike[str], source: Path) -> dict[str, Any]:
    """The figures of a cross-validation of ``config``'s data whose TF-IDF member learnt the attribute outputs."""
    from classifier.evaluation.folds import cv_settings, read_cv_record
    from classifier.training.config import DATA_FIELDS

    try:
        record, cv_config = read_cv_record(Path(cv_dir)), cv_settings(Path(cv_dir))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ReleaseError(f"{cv_dir}: no cross-validation ({exc})") from None
    other_data = [name for name in DATA_FIELDS if getattr(cv_config, name) != getattr(config, name)]
    if other_data or not cv_config.learns_attributes("tfidf") or "tfidf" not in record.get("attributes", {}):
        raise ReleaseError(f"{cv_dir}: not a cross-validation of {source}'s data with the TF-IDF member's attribute "
                           f"outputs ({', '.join(other_data) or 'attribute_model'} differ)")
    return record
