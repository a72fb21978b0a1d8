"""Cross-validation by policy: train and evaluate in one call, for the transformer and the TF-IDF baseline.

Each fold trains on the other folds' policies (minus a validation share of policies used for early stopping and
threshold tuning) and predicts its own policies, so every paragraph gets an out-of-fold prediction from a model
that never saw its policy.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from classifier.data.corpus import label_names, multi_hot, tuning_mask
from classifier.data.splits import kfold_by_policy, split_by_policy
from classifier.evaluation.evaluate import evaluate
from classifier.evaluation.folds import fold_summary
from classifier.evaluation.metrics import tune_thresholds
from classifier.files import umask_mode

if TYPE_CHECKING:
    from datasets import Dataset

    from classifier.training.config import TrainConfig

__all__ = ["FoldMismatch", "Trainer", "cross_validate", "fold_models", "tfidf_trainer", "transformer_trainer"]

Trainer = Callable[["Dataset", "Dataset"], Any]


class FoldMismatch(ValueError):
    """A saved fold that a resumed cross-validation cannot take: unreadable, or computed from other data or options."""


def tfidf_trainer(seed: int = 13, corpus_weights: dict[str, float] | None = None, tune_on: Sequence[str] = (),
                  attributes: bool = False, **options: Any) -> Trainer:
    """A trainer for :func:`cross_validate` that fits the TF-IDF baseline and tunes thresholds on validation (on the
    rows of the ``tune_on`` corpora, all when empty); with ``attributes``, its attribute outputs too (thresholds
    0.5, see :data:`classifier.models.tfidf.ATTRIBUTE_TERMS`).

    ``options`` go to :meth:`TfidfBaseline.fit` (``c``, ``char_ngrams``); its defaults otherwise.
    """

    def fit(train: Dataset, validation: Dataset) -> Any:
        from classifier.training.tfidf import fit_tfidf

        model = fit_tfidf(train, seed=seed, corpus_weights=corpus_weights, attributes=attributes, **options)
        model.thresholds = tune_thresholds(multi_hot(validation), model.predict_proba(validation["text"]),
                                           mask=tuning_mask(validation, tune_on))
        return model

    return fit


def transformer_trainer(config: TrainConfig, log: Callable[[str], None] | None = None) -> Trainer:
    """A trainer for :func:`cross_validate` that fine-tunes with :func:`~classifier.training.loop.train`."""

    def fit(train: Dataset, validation: Dataset) -> Any:
        from classifier.training.loop import train as run

        model, _ = run(replace(config), train_data=train, validation_data=validation, save=False, log=log)
        return model

    return fit


def _rows_digest(dataset: Dataset) -> str:
    """SHA-256 of the rows' policy, text and labels, in order."""
    digest = hashlib.sha256()
    columns = ["policy", "text", "labels"]
    for row in dataset.select_columns(columns):
        digest.update(json.dumps([row[c] for c in columns]).encode("utf-8"))
    return digest.hexdigest()


def cross_validate(
    dataset: Dataset,
    trainers: dict[str, Trainer],
    *,
    k: int = 5,
    seed: int = 13,
    validation_fraction: float = 0.1,
    groups: dict[str, str] | None = None,
    ensemble: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
    fold_dir: str | Path | None = None,
    resume: bool = False,
    settings: dict[str, Any] | None = None,
    tune_on: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Run k-fold cross-validation by policy for one or more trainers on the same folds.

    Args:
        dataset: all labelled rows (``policy``, ``text``, ``labels``; any other column reaches the trainers).
        trainers: name -> ``fit(train, validation) -> model``.
        groups: policy -> group, to spread small groups over the folds (see :func:`policy_folds`).
        ensemble: names of trainers whose models are also averaged (thresholds tuned on the fold's validation rows
            of the ``tune_on`` corpora, every corpus when empty).
        fold_dir: where each finished fold's predictions are saved (``fold{n}.safetensors``, written atomically),
            so that an interrupted run can go on from the folds it finished.
        resume: reuse the folds found in ``fold_dir`` instead of training them again.
        settings: whatever else decides what the trainers learn (their training configs), stored with each fold
            and compared on resume.

    Returns:
        name -> ``{"folds": [per-fold summaries], "probs": out-of-fold probabilities, "thresholds": the fold
        thresholds of each row, "fold": the fold (from 1) of each row}``.

    Raises:
        FoldMismatch: ``resume`` finds an unreadable fold, or one computed from other data, labels, folds, trainers
            or settings; raised before anything is trained.
    """
    emit = log or (lambda line: print(line, file=sys.stderr, flush=True))
    indexed = dataset.add_column("row_id", list(range(len(dataset))))
    folds = kfold_by_policy(indexed, k, seed=seed, groups=groups)
    entries = [*trainers, *([f"{'+'.join(ensemble)}"] if ensemble else [])]
    fingerprint = _fold_fingerprint(dataset, k=k, seed=seed, validation_fraction=validation_fraction, groups=groups,
                                    entries=entries, settings=settings)
    fold_path = _prepare_fold_dir(fold_dir, fingerprint, resume)
    n_labels = len(label_names(dataset))
    out: dict[str, dict[str, Any]] = {
        name: {"folds": [], "probs": np.zeros((len(dataset), n_labels), dtype=np.float32),
               "thresholds": np.zeros((len(dataset), n_labels), dtype=np.float32),
               "fold": np.zeros(len(dataset), dtype=np.int32)}
        for name in entries
    }
    for fold, (train_part, test_part) in enumerate(folds, 1):
        rows = test_part["row_id"]
        saved = fold_path(fold)
        if resume and saved is not None and saved.is_file():
            summaries = _load_fold(saved, rows, out)  # its fingerprint was checked above
            for name in entries:
                out[name]["folds"].append(summaries[name])
                out[name]["fold"][rows] = fold
            emit(f"fold {fold}/{k}: taken from {saved} ("
                 + ", ".join(f"{name} micro-F1 {summaries[name]['micro_f1']:.4f}" for name in entries) + ")")
            continue
        split = _fold_split(train_part, validation_fraction, seed, fold)
        emit(f"fold {fold}/{k}: train {len(split['train'])}, validation {len(split['validation'])}, "
             f"test {len(test_part)} paragraphs ({len(set(test_part['policy']))} policies)")
        models = _train_fold(trainers, split["train"], split["validation"], ensemble, entries[-1], tune_on)
        for name, model in models.items():
            _score_fold(out[name], model, name, test_part, fold, emit)
        if saved is not None:
            _save_fold(saved, fingerprint, rows, {name: out[name] for name in entries})
    return out


def fold_models(dataset: Dataset, trainers: dict[str, Trainer], fold: int, *, k: int = 5, seed: int = 13,
                validation_fraction: float = 0.1, groups: dict[str, str] | None = None,
                ensemble: Sequence[str] | None = None, tune_on: Sequence[str] = ()) -> tuple[dict[str, Any], list[int]]:
    """Train fold ``fold`` (from 1) of :func:`cross_validate` with the same arguments, alone: its models by entry
    name (the ensemble's is ``"+".join(ensemble)``) and the indices of its test rows in ``dataset``.

    What is learnt from a fold's models (a student distilled from a fold's teacher, say) is then scored on policies
    neither has seen.
    """
    if not 1 <= fold <= k:
        raise ValueError(f"fold must be in 1..{k}, got {fold}")
    indexed = dataset.add_column("row_id", list(range(len(dataset))))
    train_part, test_part = kfold_by_policy(indexed, k, seed=seed, groups=groups)[fold - 1]
    split = _fold_split(train_part, validation_fraction, seed, fold)
    name = "+".join(ensemble) if ensemble else ""
    return _train_fold(trainers, split["train"], split["validation"], ensemble, name, tune_on), test_part["row_id"]


def _fold_split(train_part: Dataset, validation_fraction: float, seed: int, fold: int) -> Any:
    """A fold's training policies split into training and validation (early stopping, thresholds)."""
    return split_by_policy(train_part, (1 - validation_fraction, validation_fraction, 0.0), seed=seed + fold)


def _prepare_fold_dir(fold_dir: str | Path | None, fingerprint: dict[str, Any],
                      resume: bool) -> Callable[[int], Path | None]:
    """Create the folder of saved folds; on resume check every saved fold (before hours go into training the
    missing ones), else remove them (no fold of an older run may be taken for this one's later). Returns where
    fold ``n`` is saved."""
    if fold_dir is None:
        return lambda fold: None
    directory = Path(fold_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for torn in directory.glob(".fold*.tmp"):  # a write the interruption cut short
        torn.unlink()
    for saved_fold in sorted(directory.glob("fold*.safetensors")):
        if resume:
            _check_fold(saved_fold, fingerprint)
        else:
            saved_fold.unlink()
    return lambda fold: directory / f"fold{fold}.safetensors"


def _train_fold(trainers: dict[str, Trainer], train: Dataset, validation: Dataset, ensemble: Sequence[str] | None,
                ensemble_name: str, tune_on: Sequence[str]) -> dict[str, Any]:
    """Each trainer's model of one fold, and their average (thresholds tuned on the fold's validation)."""
    models = {name: trainer(train, validation) for name, trainer in trainers.items()}
    if ensemble:
        from classifier.models.ensemble import AveragedModel

        averaged = AveragedModel([models[name] for name in ensemble])
        averaged.thresholds = tune_thresholds(multi_hot(validation), averaged.predict_proba(validation["text"]),
                                              mask=tuning_mask(validation, tune_on))
        models[ensemble_name] = averaged
    return models


def _score_fold(entry: dict[str, Any], model: Any, name: str, test_part: Dataset, fold: int,
                emit: Callable[[str], None]) -> None:
    """Evaluate one fold's model on its test policies; store its summary and out-of-fold rows in ``entry``."""
    rows = test_part["row_id"]
    result = evaluate(model, test_part, model_name=name, data_name=f"fold{fold}", n_boot=200)
    summary = fold_summary(result)
    if isinstance(getattr(model, "precision", None), str):
        # a resumed run may join folds trained on other machines: each fold says what it was scored in
        summary["precision"] = model.precision
    entry["folds"].append(summary)
    entry["probs"][rows] = result.probs
    entry["thresholds"][rows] = np.asarray(result.thresholds)[None, :]
    entry["fold"][rows] = fold
    if getattr(model, "attribute_keys", ()):  # the attribute outputs' out-of-fold scores, beside the categories'
        _, attribute_probs = model.predict_scores(test_part["text"])
        n_rows, n_keys = len(entry["fold"]), len(model.attribute_keys)
        entry.setdefault("attribute_probs", np.zeros((n_rows, n_keys), dtype=np.float32))[rows] = attribute_probs
        entry.setdefault("attribute_thresholds", np.zeros((n_rows, n_keys), dtype=np.float32))[rows] = \
            np.asarray(model.attribute_thresholds)[None, :]
    emit(f"[{name}] fold {fold}: micro-F1 {result.metrics['views']['opp115']['micro_f1']:.4f}  "
         f"macro-F1 {result.metrics['views']['opp115']['macro_f1']:.4f}")


def _fold_fingerprint(dataset: Dataset, *, k: int, seed: int, validation_fraction: float,
                      groups: dict[str, str] | None, entries: Sequence[str],
                      settings: dict[str, Any] | None) -> dict[str, Any]:
    """What a cross-validation fold's result depends on, in JSON form: a digest of the rows (policy, text,
    labels), the folds, the trainers and their settings. A saved fold is reused only under
    an equal fingerprint."""
    # label names too: the rows store label indices, which a renamed or reordered label set would keep
    fingerprint = {"data": _rows_digest(dataset), "rows": len(dataset), "labels": label_names(dataset), "k": k,
                   "fold_seed": seed, "validation_fraction": validation_fraction,
                   "groups": dict(sorted((groups or {}).items())), "models": list(entries), "settings": settings or {}}
    return json.loads(json.dumps(fingerprint, default=str))  # as it reads back from the fold file


def _save_fold(path: Path, fingerprint: dict[str, Any], rows: list[int], entries: dict[str, dict[str, Any]]) -> None:
    from safetensors.numpy import save_file

    tensors = {"rows": np.asarray(rows, dtype=np.int64)}
    for name, entry in entries.items():
        for key in ("probs", "attribute_probs"):
            if key in entry:
                tensors[f"{name}.{key}"] = np.ascontiguousarray(entry[key][rows])
        for key in ("thresholds", "attribute_thresholds"):
            if key in entry:
                tensors[f"{name}.{key}"] = np.ascontiguousarray(entry[key][rows[0]])
    metadata = {"fingerprint": json.dumps(fingerprint),
                "summaries": json.dumps({name: entry["folds"][-1] for name, entry in entries.items()})}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    umask_mode(tmp)
    with open(tmp, "rb") as handle:  # on disk before the rename, so a power cut leaves no empty fold file
        os.fsync(handle.fileno())
    os.replace(tmp, path)  # a fold file is whole or absent, never half-written


def _check_fold(path: Path, fingerprint: dict[str, Any]) -> None:
    """Refuse a saved fold whose fingerprint differs from this run's, naming what changed."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            saved = json.loads((handle.metadata() or {}).get("fingerprint", "{}"))
    except (SafetensorError, OSError, json.JSONDecodeError) as exc:
        raise FoldMismatch(f"--resume: {path} is not a readable fold file ({exc}); delete it or start a new run") \
            from exc
    if not isinstance(saved, dict):
        raise FoldMismatch(f"--resume: {path} is not a fold file of this program; delete it or start a new run")
    changed = sorted(key for key in saved.keys() | fingerprint.keys() if saved.get(key) != fingerprint.get(key))
    if "settings" in changed:
        before, now = saved.get("settings", {}), fingerprint["settings"]
        changed.remove("settings")
        changed += sorted(f"settings of {name}" for name in before.keys() | now.keys()
                          if before.get(name) != now.get(name))
    if changed:
        raise FoldMismatch(f"--resume: {path} was computed with other {', '.join(changed)}; "
                         "resume with the same data and options or start a new run")


def _load_fold(path: Path, rows: list[int], out: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Put a saved fold's predictions into ``out`` and return its per-model summaries."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        if handle.get_tensor("rows").tolist() != list(rows):
            raise FoldMismatch(f"--resume: {path} holds other rows than its fold")
        saved = set(handle.keys())
        for name, entry in out.items():
            entry["probs"][rows] = handle.get_tensor(f"{name}.probs")
            entry["thresholds"][rows] = handle.get_tensor(f"{name}.thresholds")[None, :]
            if f"{name}.attribute_probs" in saved:
                probs = handle.get_tensor(f"{name}.attribute_probs")
                entry.setdefault("attribute_probs", np.zeros((len(entry["fold"]), probs.shape[1]),
                                                             dtype=np.float32))[rows] = probs
                entry.setdefault("attribute_thresholds", np.zeros_like(entry["attribute_probs"]))[rows] = \
                    handle.get_tensor(f"{name}.attribute_thresholds")[None, :]
        return json.loads((handle.metadata() or {})["summaries"])
