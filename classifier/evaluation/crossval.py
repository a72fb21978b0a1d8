"""Cross-validation by policy: train and evaluate in one call, for the transformer and the TF-IDF baseline.

Each fold trains on the other folds' policies (minus a validation share of policies used for early stopping and
threshold tuning) and predicts its own policies, so every paragraph gets an out-of-fold prediction from a model
that never saw its policy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from classifier.data.corpus import kfold_by_policy, label_names, multi_hot, split_by_policy
from classifier.evaluation.evaluate import EvalResult, evaluate
from classifier.evaluation.metrics import tune_thresholds
from classifier.files import umask_mode

if TYPE_CHECKING:
    from datasets import Dataset

    from classifier.training.loop import TrainConfig

__all__ = [
    "FoldMismatch",
    "Trainer",
    "compare_folds",
    "cross_validate",
    "cv_settings",
    "distillation_trainers",
    "load_oof",
    "oof_entry",
    "oof_result",
    "oof_thresholds",
    "read_cv_record",
    "read_oof_entry",
    "save_oof",
    "subset_fold_summaries",
    "summarize_folds",
    "teacher_provenance",
    "tfidf_trainer",
    "transformer_trainer",
]

Trainer = Callable[["Dataset", "Dataset"], Any]


class FoldMismatch(ValueError):
    """A saved fold that a resumed cross-validation cannot take: unreadable, or computed from other data or options."""


def tfidf_trainer(seed: int = 13, **options: Any) -> Trainer:
    """A trainer for :func:`cross_validate` that fits the TF-IDF baseline and tunes thresholds on validation.

    ``options`` go to :meth:`TfidfBaseline.fit` (``c``, ``char_ngrams``); its defaults otherwise.
    """

    def fit(train: Dataset, validation: Dataset) -> Any:
        from classifier.models.tfidf import TfidfBaseline

        model = TfidfBaseline.fit(train["text"], multi_hot(train), label_names(train), seed=seed, **options)
        model.thresholds = tune_thresholds(multi_hot(validation), model.predict_proba(validation["text"]))
        return model

    return fit


def transformer_trainer(config: TrainConfig, log: Callable[[str], None] | None = None) -> Trainer:
    """A trainer for :func:`cross_validate` that fine-tunes with :func:`~classifier.training.loop.train`."""

    def fit(train: Dataset, validation: Dataset) -> Any:
        from classifier.training.loop import train as run

        model, _ = run(replace(config), train_data=train, validation_data=validation, save=False, log=log)
        return model

    return fit


def distillation_trainers(student: TrainConfig, teacher: TrainConfig, log: Callable[[str], None] | None = None,
                          teacher_dir: str | Path | None = None) -> dict[str, Trainer]:
    """Trainers for :func:`cross_validate` that distil a fold's teacher into its student.

    Returns ``{"teacher": ..., "transformer": ...}`` (in that order, the order :func:`cross_validate` calls them):
    each fold fine-tunes ``teacher`` (say MPNet-base) on the fold's training policies, then ``student`` (MiniLM)
    on the same policies with the teacher's probabilities blended into its targets. The teacher is trained once per
    fold and reported as a model of its own; it never sees the fold's test policies.

    ``teacher_dir``: keep each fold's trained teacher there, in a subdirectory named by a digest of its training
    and validation rows and its config (see :func:`teacher_provenance`), and load it from there instead of training it
    again when present: a base-size teacher takes an hour a fold on a CPU, and students with other settings
    (another ``distill_weight``) can share it. A teacher is found only for the very same fold data and config, so
    one that has seen a fold's test policies is never taken for it.
    """
    from classifier.training.loop import train as run
    from classifier.training.loop import training_environment

    emit = log or (lambda line: print(line, file=sys.stderr, flush=True))
    trained: dict[tuple[str, ...], Any] = {}

    def fit_teacher(train: Dataset, validation: Dataset) -> Any:
        key = tuple(sorted(set(train["policy"])))
        if key in trained:
            return trained[key]
        trained.clear()  # one fold's teacher at a time
        recipe = replace(teacher, teacher=None)
        saved = None
        if teacher_dir is not None:
            provenance = teacher_provenance(train, validation, recipe)
            digest = hashlib.sha256(json.dumps(provenance, sort_keys=True).encode("utf-8")).hexdigest()
            saved = Path(teacher_dir) / f"teacher-{digest[:16]}"
            if (saved / "config.json").is_file():
                from classifier.models.transformer import PolicyClassifier

                # on the device and in the precision it was trained, validated and its thresholds tuned in
                environment = training_environment(recipe)
                trained[key] = PolicyClassifier.from_pretrained(saved, device=environment["device"],
                                                                precision=environment["precision"],
                                                                custom_labels=True)
                emit(f"teacher: loaded from {saved} (trained before on this fold's data with this config)")
                return trained[key]
        trained[key], _ = run(recipe, train_data=train, validation_data=validation, save=False, log=log)
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            # a temporary directory of its own, so that two runs sharing teacher_dir never write into the same one
            tmp = Path(tempfile.mkdtemp(dir=saved.parent, prefix=f".{saved.name}.", suffix=".tmp"))
            umask_mode(tmp)  # a store a team shares: readable like any directory, not mkdtemp's 0700
            trained[key].save_pretrained(tmp, train_config=provenance)
            try:
                os.replace(tmp, saved)  # whole or absent: a half-saved teacher is never loaded
                emit(f"teacher: saved to {saved}")
            except OSError:  # another run saved the same teacher meanwhile: keep theirs, use ours
                shutil.rmtree(tmp, ignore_errors=True)
        return trained[key]

    def fit_student(train: Dataset, validation: Dataset) -> Any:
        model, _ = run(replace(student, teacher=None), train_data=train, validation_data=validation, save=False,
                       log=log, teacher=fit_teacher(train, validation))
        return model

    return {"teacher": fit_teacher, "transformer": fit_student}


def teacher_provenance(train: Dataset, validation: Dataset, config: TrainConfig) -> dict[str, Any]:
    """What a fold's teacher learns from, in JSON form: its learning settings (not where the data was read from),
    digests of its training and validation rows (policy, text, labels, soft targets), their label names, the
    encoder's files (its ``config.json`` digest and weight file sizes, as the directory may be replaced under the
    same name) and the precision ``precision: auto`` resolves to on this machine.

    :func:`distillation_trainers` saves a teacher under a digest of this and writes it to the teacher's
    ``train_config.json``; equal provenance means the same teacher (training is deterministic for a fixed seed),
    so a saved one can stand in for training it again.
    """
    from classifier.training.loop import learning_settings, resolve_encoder, training_environment

    encoder = resolve_encoder(config.encoder)
    files = {"config": hashlib.sha256((encoder / "config.json").read_bytes()).hexdigest(),
             "weights": {f.name: f.stat().st_size for f in sorted(encoder.iterdir())
                         if f.suffix in (".safetensors", ".bin")}}
    provenance = learning_settings(config, sources=False) | {
        "fold_data": _rows_digest(train), "validation_data": _rows_digest(validation),
        "labels": label_names(train), "encoder_files": files,
        "resolved_precision": training_environment(config)["precision"]}
    return json.loads(json.dumps(provenance, default=str))


def _rows_digest(dataset: Dataset) -> str:
    """SHA-256 of the rows' policy, text, labels and soft targets, in order."""
    digest = hashlib.sha256()
    columns = [c for c in ("policy", "text", "labels", "targets") if c in dataset.column_names]
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
) -> dict[str, dict[str, Any]]:
    """Run k-fold cross-validation by policy for one or more trainers on the same folds.

    Args:
        dataset: all labelled rows (``policy``, ``text``, ``labels``; any other column, such as soft ``targets``,
            reaches the trainers).
        trainers: name -> ``fit(train, validation) -> model``.
        groups: policy -> group, to spread small groups over the folds (see :func:`policy_folds`).
        ensemble: names of trainers whose models are also averaged (thresholds tuned on the fold's validation).
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
    names = label_names(dataset)
    indexed = dataset.add_column("row_id", list(range(len(dataset))))
    folds = kfold_by_policy(indexed, k, seed=seed, groups=groups)
    entries = [*trainers, *([f"{'+'.join(ensemble)}"] if ensemble else [])]
    fingerprint = _fold_fingerprint(dataset, k=k, seed=seed, validation_fraction=validation_fraction, groups=groups,
                                    entries=entries, settings=settings)
    if fold_dir is not None:
        fold_dir = Path(fold_dir)
        fold_dir.mkdir(parents=True, exist_ok=True)
        for torn in fold_dir.glob(".fold*.tmp"):  # a write the interruption cut short
            torn.unlink()
        for saved_fold in sorted(fold_dir.glob("fold*.safetensors")):
            if resume:  # every saved fold is checked before hours go into training the missing ones
                _check_fold(saved_fold, fingerprint)
            else:  # a fresh run: no fold of an older one may be taken for this one's later
                saved_fold.unlink()
    out: dict[str, dict[str, Any]] = {
        name: {"folds": [], "probs": np.zeros((len(dataset), len(names)), dtype=np.float32),
               "thresholds": np.zeros((len(dataset), len(names)), dtype=np.float32),
               "fold": np.zeros(len(dataset), dtype=np.int32)}
        for name in entries
    }
    for fold, (train_part, test_part) in enumerate(folds, 1):
        rows = test_part["row_id"]
        saved = fold_dir / f"fold{fold}.safetensors" if fold_dir is not None else None
        if resume and saved is not None and saved.is_file():
            summaries = _load_fold(saved, rows, out)  # its fingerprint was checked above
            for name in entries:
                out[name]["folds"].append(summaries[name])
                out[name]["fold"][rows] = fold
            emit(f"fold {fold}/{k}: taken from {saved} ("
                 + ", ".join(f"{name} micro-F1 {summaries[name]['micro_f1']:.4f}" for name in entries) + ")")
            continue
        split = split_by_policy(train_part, (1 - validation_fraction, validation_fraction, 0.0), seed=seed + fold)
        emit(f"fold {fold}/{k}: train {len(split['train'])}, validation {len(split['validation'])}, "
             f"test {len(test_part)} paragraphs ({len(set(test_part['policy']))} policies)")
        models = {name: trainer(split["train"], split["validation"]) for name, trainer in trainers.items()}
        if ensemble:
            from classifier.models.ensemble import AveragedModel

            averaged = AveragedModel([models[name] for name in ensemble])
            averaged.thresholds = tune_thresholds(multi_hot(split["validation"]),
                                                  averaged.predict_proba(split["validation"]["text"]))
            models[entries[-1]] = averaged
        for name, model in models.items():
            result = evaluate(model, test_part, model_name=name, data_name=f"fold{fold}", n_boot=200)
            summary = _fold_summary(result)
            if isinstance(getattr(model, "precision", None), str):
                # a resumed run may join folds trained on other machines: each fold says what it was scored in
                summary["precision"] = model.precision
            out[name]["folds"].append(summary)
            out[name]["probs"][rows] = result.probs
            out[name]["thresholds"][rows] = np.asarray(result.thresholds)[None, :]
            out[name]["fold"][rows] = fold
            emit(f"[{name}] fold {fold}: micro-F1 {result.metrics['views']['opp115']['micro_f1']:.4f}  "
                 f"macro-F1 {result.metrics['views']['opp115']['macro_f1']:.4f}")
        if saved is not None:
            _save_fold(saved, fingerprint, rows, {name: out[name] for name in entries})
    return out


def _fold_fingerprint(dataset: Dataset, *, k: int, seed: int, validation_fraction: float,
                      groups: dict[str, str] | None, entries: Sequence[str],
                      settings: dict[str, Any] | None) -> dict[str, Any]:
    """What a cross-validation fold's result depends on, in JSON form: a digest of the rows (policy, text,
    labels and any soft targets), the folds, the trainers and their settings. A saved fold is reused only under
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
        tensors[f"{name}.probs"] = np.ascontiguousarray(entry["probs"][rows])
        tensors[f"{name}.thresholds"] = np.ascontiguousarray(entry["thresholds"][rows[0]])
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
        for name, entry in out.items():
            entry["probs"][rows] = handle.get_tensor(f"{name}.probs")
            entry["thresholds"][rows] = handle.get_tensor(f"{name}.thresholds")[None, :]
        return json.loads((handle.metadata() or {})["summaries"])


def _fold_summary(result: EvalResult) -> dict[str, Any]:
    views = result.metrics["views"]
    summary = {"micro_f1": views["opp115"]["micro_f1"], "macro_f1": views["opp115"]["macro_f1"],
               "n_paragraphs": result.metrics["n_paragraphs"], "n_policies": result.metrics["n_policies"],
               "per_label_f1": {k: v["f1"] for k, v in views["opp115"]["per_label"].items()},
               "thresholds": result.metrics["thresholds"]}
    if "card" in views:
        summary.update(card_micro_f1=views["card"]["micro_f1"], card_macro_f1=views["card"]["macro_f1"],
                       children_f1=views["children"]["f1"])
    return summary


def summarize_folds(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over folds of each headline figure."""
    out = {}
    for key in ("micro_f1", "macro_f1", "card_micro_f1", "card_macro_f1", "children_f1"):
        values = [f[key] for f in folds if key in f]
        if values:
            out[key] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                        "folds": values}
    return out


def subset_fold_summaries(dataset: Dataset, entry: dict[str, Any], rows: list[int], name: str,
                          data_name: str) -> list[dict[str, Any]]:
    """Per-fold summaries restricted to some rows (for example the OPP-115 policies of a mixed corpus)."""
    chosen = np.asarray(rows)
    summaries = []
    for fold in sorted(set(entry["fold"][chosen].tolist())):
        fold_rows = chosen[entry["fold"][chosen] == fold].tolist()
        result = oof_result(dataset, name, entry["probs"], entry["thresholds"], f"{data_name}-fold{fold}", fold_rows)
        summaries.append(_fold_summary(result))
    return summaries


def save_oof(path: str, results: dict[str, dict[str, Any]]) -> None:
    """Store out-of-fold probabilities, thresholds and folds as safetensors (plain arrays, no pickle)."""
    from safetensors.numpy import save_file

    tensors = {}
    for name, entry in results.items():
        for key in ("probs", "thresholds", "fold"):
            tensors[f"{name}.{key}"] = np.ascontiguousarray(entry[key])
    save_file(tensors, path)
    umask_mode(path)


def load_oof(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Read what :func:`save_oof` and the ``crossval`` command stored in ``directory`` (cv.json, oof.safetensors).

    Returns:
        name -> ``{"folds", "probs", "thresholds", "fold"}`` as returned by :func:`cross_validate`.

    Raises:
        OSError, ValueError: the directory holds no readable cross-validation.
    """
    import json

    from safetensors.numpy import load_file

    cv = json.loads((Path(directory) / "cv.json").read_text())
    arrays = load_file(str(Path(directory) / "oof.safetensors"))
    return {name: {"folds": entry["fold_details"], "probs": arrays[f"{name}.probs"],
                   "thresholds": arrays[f"{name}.thresholds"], "fold": arrays[f"{name}.fold"]}
            for name, entry in cv["models"].items()}


def oof_entry(results: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    """One model's out-of-fold predictions from :func:`load_oof`, or the equal-weight average of several (``"a+b"``).

    An average the run did not compute itself (say ``teacher+tfidf`` of a distillation run, whose ensemble is the
    student's) is formed from its members' out-of-fold probabilities, as :class:`AveragedModel`
    would have averaged them. It has no fold-validation thresholds (the folds' validation predictions are not
    kept), so its ``"thresholds"`` is ``None``: cut it with :func:`oof_thresholds`.

    Raises:
        KeyError: neither the entry nor every member of the average is in ``results``.
    """
    if name in results:
        return results[name]
    members = name.split("+")
    missing = [member for member in members if member not in results]
    if len(members) < 2 or missing:
        raise KeyError(f"no model {name!r} (has {', '.join(results)})")
    return {"probs": np.mean([results[member]["probs"] for member in members], axis=0, dtype=np.float32),
            "thresholds": None, "fold": results[members[0]]["fold"], "folds": []}


def cv_settings(directory: str | Path) -> TrainConfig:
    """The training config a ``crossval`` run in ``directory`` used (its ``cv.json``), to rebuild its data with
    :func:`~classifier.training.loop.build_dataset` in the row order of its out-of-fold predictions.

    Raises:
        OSError, KeyError, TypeError, ValueError: no readable ``cv.json``, or settings this version does not know.
    """
    import json

    from classifier.training.loop import TrainConfig

    settings = json.loads((Path(directory) / "cv.json").read_text())["settings"]
    return TrainConfig(**{k: v for k, v in settings.items() if k not in ("k", "fold_seed")})


def read_oof_entry(directory: str | Path, name: str,
                   also: Sequence[tuple[str, str | Path, str]] = ()) -> tuple[TrainConfig, dict[str, Any]]:
    """A ``crossval`` run's training config (:func:`cv_settings`) and one entry's out-of-fold predictions
    (:func:`oof_entry`), for the scripts that re-score them.

    ``also`` brings ``(NAME, DIR, ENTRY)``: the entry ENTRY of the run in DIR under NAME, so that ``name`` can average
    models of two runs (``"mpnet+transformer+tfidf"``). Such a run must have read the same data and cut it into the
    same folds, or its rows would not line up.

    Raises:
        ValueError: no run in a directory, one without ``oof.safetensors`` (some committed runs keep only
            ``cv.json``), an unknown entry, or a run on other rows; the message is one line naming the directory.
    """
    def read(run: str | Path) -> tuple[TrainConfig, dict[str, dict[str, Any]]]:
        try:
            return cv_settings(run), load_oof(run)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{run}: no crossval run with out-of-fold predictions to read ({exc})") from None

    def pick(run: str | Path, results: dict[str, dict[str, Any]], entry: str) -> dict[str, Any]:
        try:
            return oof_entry(results, entry)
        except KeyError as exc:
            raise ValueError(f"{run}: {exc.args[0]}") from None

    settings, results = read(directory)
    for other_name, other_dir, other_entry in also:
        other_settings, other_results = read(other_dir)
        other = pick(other_dir, other_results, other_entry)
        same_data = all(getattr(other_settings, key) == getattr(settings, key)
                        for key in ("opp115", "seed_corpus", "jsonl", "labels_from_data"))
        if not same_data or not np.array_equal(other["fold"], next(iter(results.values()))["fold"]):
            raise ValueError(f"{other_dir}: not the same rows and folds as {directory}")
        results[other_name] = other
    return settings, pick(directory, results, name)


def read_cv_record(path: str | Path) -> dict[str, Any]:
    """Read a cross-validation's figures from a ``crossval`` output directory (its ``cv.json``), the file itself, or a
    model directory whose ``metrics.json`` carries them (``training/attach_cv_metrics.py``).

    Returns:
        ``{"settings", "environment", "models"}`` as ``crossval`` wrote them (``environment`` may be ``None``).

    Raises:
        OSError, ValueError: nothing readable there, or no cross-validation in it.
    """
    import json

    path = Path(path)
    if path.is_dir():
        path = path / "cv.json" if (path / "cv.json").exists() else path / "metrics.json"
    record = json.loads(path.read_text())
    if isinstance(record, dict):
        record = record.get("cross_validation", record)
    if not isinstance(record, dict) or "models" not in record:
        raise ValueError(f"{path}: no cross-validation figures in it")
    return {"settings": record.get("settings", {}), "environment": record.get("environment"),
            "models": record["models"]}


_PAIRED_METRICS = ("micro_f1", "macro_f1", "children_f1")


def compare_folds(a: dict[str, Any], b: dict[str, Any], entry_a: str, entry_b: str | None = None,
                  subset: str = "opp115") -> dict[str, Any]:
    """Pair two cross-validations fold by fold (B minus A), for runs that differ in one setting on the same folds.

    Takes two records from :func:`read_cv_record`, the model entry of each (``entry_b`` defaults to ``entry_a``)
    and the subset whose per-fold figures to pair (``"opp115"``, ``"seed_corpus"`` or ``"data"``). Fold figures are
    paired only when both runs split the same way: the same ``k`` and fold seed, and folds of the same size.

    Returns:
        ``{"folds": [{metric: (a, b)}...], "mean_difference": {metric: float}, "sd_difference": {...},
        "b_better": {metric: int}, "per_label_difference": {label: mean B − A}}``.

    Raises:
        KeyError: an entry or subset is missing. ValueError: the two runs' folds differ.
    """
    entry_b = entry_b or entry_a
    for key in ("k", "fold_seed"):
        if a["settings"].get(key) != b["settings"].get(key):
            raise ValueError(f"the runs use different folds ({key} {a['settings'].get(key)} vs "
                             f"{b['settings'].get(key)})")
    folds_a = a["models"][entry_a][f"{subset}_folds"]["fold_details"]
    folds_b = b["models"][entry_b][f"{subset}_folds"]["fold_details"]
    sizes_a = [(f["n_policies"], f["n_paragraphs"]) for f in folds_a]
    sizes_b = [(f["n_policies"], f["n_paragraphs"]) for f in folds_b]
    if sizes_a != sizes_b:
        raise ValueError(f"the runs use different folds (policies, paragraphs per fold: {sizes_a} vs {sizes_b})")
    metrics = [m for m in _PAIRED_METRICS if all(m in f for f in folds_a + folds_b)]
    diffs = {m: [fb[m] - fa[m] for fa, fb in zip(folds_a, folds_b, strict=True)] for m in metrics}
    labels = [label for label in folds_a[0]["per_label_f1"]
              if all(label in f["per_label_f1"] for f in folds_a + folds_b)]
    return {
        "folds": [{m: (fa[m], fb[m]) for m in metrics} for fa, fb in zip(folds_a, folds_b, strict=True)],
        "mean_difference": {m: statistics.fmean(d) for m, d in diffs.items()},
        "sd_difference": {m: statistics.stdev(d) if len(d) > 1 else 0.0 for m, d in diffs.items()},
        "b_better": {m: sum(x > 0 for x in d) for m, d in diffs.items()},
        "per_label_difference": {label: statistics.fmean(fb["per_label_f1"][label] - fa["per_label_f1"][label]
                                                         for fa, fb in zip(folds_a, folds_b, strict=True))
                                 for label in labels},
    }


def oof_thresholds(y_true: np.ndarray, probs: np.ndarray, folds: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Per-label thresholds from out-of-fold predictions, for a model trained on all the data.

    Args:
        y_true: ``(n, k)`` 0/1 labels; probs: ``(n, k)`` out-of-fold probabilities; folds: ``(n,)`` fold of each row.

    Returns:
        ``(pooled, nested)``: thresholds tuned on every row (to ship), and ``(n, k)`` thresholds where each row's
        come from the *other* folds only, so that scoring a fold with them estimates the pooled thresholds honestly.
    """
    nested = np.zeros_like(probs, dtype=np.float32)
    for fold in np.unique(folds):
        test = folds == fold
        nested[test] = np.asarray(tune_thresholds(y_true[~test], probs[~test]), dtype=np.float32)[None, :]
    return tune_thresholds(y_true, probs), nested


def oof_result(dataset: Dataset, name: str, probs: np.ndarray, thresholds: np.ndarray, data_name: str,
               subset: list[int] | None = None) -> EvalResult:
    """Evaluate out-of-fold probabilities (optionally on a subset of rows) with each row's fold thresholds."""

    class _Fixed:
        def __init__(self, labels: list[str]) -> None:
            self.labels = labels
            self.thresholds = [0.5] * len(labels)

        def predict_proba(self, texts: Any) -> np.ndarray:
            return shifted

    rows = subset if subset is not None else list(range(len(dataset)))
    part = dataset.select(rows)
    # Each row was cut at its own fold's thresholds; shifting by (0.5 - threshold) reproduces that at 0.5.
    shifted = np.clip(probs[rows] - thresholds[rows] + 0.5, 0.0, 1.0)
    return evaluate(_Fixed(label_names(dataset)), part, model_name=name, data_name=data_name)
