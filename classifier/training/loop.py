"""Fine-tuning: the training loop of the transformer (CPU or GPU).

``train(config)`` builds the data named by a :class:`~classifier.training.config.TrainConfig`, fine-tunes the
encoder with a sigmoid multi-label head, stops early on validation macro-F1, tunes per-label thresholds on
validation data and returns a :class:`~classifier.models.transformer.PolicyClassifier` with the metrics. Same config
and seed give the same model on CPU. Optionally a teacher's probabilities are blended into the targets (knowledge
distillation).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.data.attributes import attribute_targets, has_attribute_columns
from classifier.data.corpus import label_names, multi_hot, restrict_to_corpora, tuning_mask
from classifier.evaluation.metrics import report_at_thresholds, tune_thresholds
from classifier.models.config import refuse_remote_code
from classifier.training.config import TrainConfig, check_resumable, resolve_encoder, training_environment
from classifier.training.data import split_for_training

if TYPE_CHECKING:
    import numpy as np
    from datasets import Dataset

    from classifier.models.transformer import PolicyClassifier

__all__ = ["train"]

Log = Callable[[str], None]


@dataclass
class _Progress:
    """What an epoch checkpoint restores: the history so far and the best epoch's figures and weights."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"macro_f1": -1.0})
    best_state: dict[str, Any] | None = None
    bad_epochs: int = 0


@dataclass
class _Run:
    """One run's model, data and optimiser, built once by :func:`_prepare`."""

    config: TrainConfig
    classifier: PolicyClassifier
    labels: list[str]
    train_ids: list[list[int]]
    val_ids: list[list[int]]
    targets: np.ndarray
    y_val: np.ndarray | None
    mask: np.ndarray | None  # the known cells of the training targets; None: every label known for every row
    val_mask: np.ndarray | None
    corpora: list[str]  # each training row's corpus, for corpus_weights
    loss_fn: Any
    optimizer: Any
    scheduler: Any
    environment: dict[str, Any]
    rng: random.Random
    distilled: bool
    n_categories: int  # the first outputs are the categories; any after them are attribute values

    @property
    def model(self) -> Any:
        return self.classifier._float_model


def train(
    config: TrainConfig,
    *,
    train_data: Dataset | None = None,
    validation_data: Dataset | None = None,
    save: bool = True,
    resume: bool = False,
    log: Log | None = None,
    teacher: Any = None,
) -> tuple[PolicyClassifier, dict[str, Any]]:
    """Fine-tune an encoder.

    Args:
        config: the run's configuration (validated here).
        train_data, validation_data: explicit datasets (for cross-validation); by default the data named by the
            config, split by policy.
        save: write the model, logs and an epoch checkpoint to ``config.output_dir``.
        resume: continue from the run directory's last epoch checkpoint (same result as an uninterrupted run).
        log: a callable taking one line of text (default: stderr).
        teacher: a model (``labels``, ``predict_proba``) to distil from instead of ``config.teacher``.

    Returns:
        ``(classifier, metrics)``; metrics hold validation figures at tuned thresholds and the training time.

    Raises:
        ValueError: an invalid config, or a teacher with other labels than the data.
        OSError: a teacher directory that cannot be read.
    """
    config.validate()
    run_dir = Path(config.output_dir)
    resuming = resume and (run_dir / "checkpoint" / "state.json").is_file()
    if resuming:
        check_resumable(run_dir / "train_config.json", config)
    emit = log or _stderr
    with _torch_threads(config.threads):
        run = _prepare(config, train_data, validation_data, teacher, emit)
        if save:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "train_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
        started = time.perf_counter()
        progress = _fit(run, run_dir if save else None, resuming, quiet=log is not None, emit=emit)
        metrics = _finish(run, progress, time.perf_counter() - started)
        if save:
            _save_run(run, run_dir, metrics, emit)
    return run.classifier, metrics


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` torch threads while training, and give the process its own setting back afterwards."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _set_seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _prepare(config: TrainConfig, train_data: Dataset | None, validation_data: Dataset | None, teacher: Any,
             emit: Log) -> _Run:
    """Seed, data, encoder, targets and optimiser, in the order that makes a run reproducible."""
    from classifier.models.transformer import PolicyClassifier, encode_texts

    _set_seed(config.seed)
    if train_data is None:
        train_data, validation_data = split_for_training(config)
    labels = label_names(train_data)
    n_categories = len(labels)
    head_attributes = config.learns_attributes("transformer") and has_attribute_columns(train_data)
    if head_attributes:  # attribute outputs after the categories, on the same encoder
        labels = [*labels, *train_data.features["attribute_labels"].feature.names]
    environment = training_environment(config)  # resolves the device and what "auto" precision means here
    device = environment["device"]
    tokenizer, model = _load_encoder(config, labels, device)
    train_ids = encode_texts(tokenizer, train_data["text"], config.max_length)
    val_ids = encode_texts(tokenizer, validation_data["text"], config.max_length) if validation_data else []
    y_train = multi_hot(train_data)
    y_val = multi_hot(validation_data) if validation_data else None
    mask = _known(train_data)
    val_mask = _known(validation_data, config.tune_on) if validation_data else None
    if head_attributes:
        y_train, mask = _with_attribute_outputs(train_data, y_train, mask)
        if validation_data is not None and y_val is not None:
            y_val, val_mask = _with_attribute_outputs(validation_data, y_val, val_mask, config.tune_on)
    corpora = list(train_data["corpus"]) if "corpus" in train_data.column_names else ["data"] * len(train_ids)
    targets, distilled = _targets(config, train_data, y_train, labels, teacher, emit)
    loss_fn = _loss(config, y_train, mask, device)
    epoch_size = len(epoch_rows(corpora, config.corpus_weights, random.Random(0)))
    optimizer, scheduler = _optimizer(model, config, math.ceil(epoch_size / config.batch_size), device)
    precision = "bf16-autocast" if environment["precision"] == "bf16-autocast" else "fp32"
    classifier = PolicyClassifier(model, tokenizer, max_length=config.max_length, device=device, precision=precision)
    n_val_policies = len(set(validation_data["policy"])) if validation_data else 0
    emit(f"training on {len(train_ids)} paragraphs ({len(set(train_data['policy']))} policies), validating on "
         f"{len(val_ids)} ({n_val_policies} policies); device={device}, bf16={precision != 'fp32'}")
    return _Run(config, classifier, labels, train_ids, val_ids, targets, y_val, mask, val_mask, corpora, loss_fn,
                optimizer, scheduler, environment, random.Random(config.seed), distilled, n_categories)


def _with_attribute_outputs(data: Dataset, y: np.ndarray, mask: np.ndarray | None,
                            corpora: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The targets and known cells with the attribute outputs' columns after the categories' (of the rows of
    ``corpora`` only, as for the categories, when given)."""
    import numpy as np

    targets, known = attribute_targets(data)
    category_mask = mask if mask is not None else np.ones_like(y)
    return np.hstack([y, targets]), np.hstack([category_mask, restrict_to_corpora(known, data, corpora)])


def _known(data: Dataset, corpora: Sequence[str] = ()) -> np.ndarray | None:
    """The known cells of a dataset's labels (of some corpora's rows), or None when all are (a plain BCE then, as
    before partial labels)."""
    mask = tuning_mask(data, corpora)
    return None if mask.all() else mask


def epoch_rows(corpora: Sequence[str], weights: dict[str, float], rng: random.Random) -> list[int]:
    """The training rows of one epoch: each corpus's rows ``int(w)`` times, plus a random ``w - int(w)`` share.

    With every weight 1 (the default) this is every row once and draws nothing from ``rng``, so runs without
    weights are what they were before corpus weights existed.
    """
    by_corpus: dict[str, list[int]] = {}
    for i, corpus in enumerate(corpora):
        by_corpus.setdefault(corpus, []).append(i)
    if all(float(weights.get(corpus, 1.0)) == 1.0 for corpus in by_corpus):
        return list(range(len(corpora)))
    rows: list[int] = []
    for corpus, members in by_corpus.items():
        weight = float(weights.get(corpus, 1.0))
        whole, part = int(weight), weight - int(weight)
        rows += members * whole + (rng.sample(members, round(part * len(members))) if part else [])
    return sorted(rows)


def _load_encoder(config: TrainConfig, labels: list[str], device: str) -> tuple[Any, Any]:
    """The base encoder's tokenizer and a fresh multi-label head on it, read from a local folder only."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from classifier.models.transformer import quiet_transformers

    encoder_dir = resolve_encoder(config.encoder)
    refuse_remote_code(Path(encoder_dir))
    local: dict[str, Any] = {"trust_remote_code": False, "local_files_only": True}
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(encoder_dir, **local)
        overrides: dict[str, Any] = {}
        if config.attention_dropout is not None:
            # Any other keyword would be stored on the config and silently ignored by the model, so check it exists.
            if not hasattr(AutoConfig.from_pretrained(encoder_dir, **local), "attention_probs_dropout_prob"):
                raise ValueError(f"attention_dropout: the encoder {config.encoder} has no attention dropout setting "
                                 "(attention_probs_dropout_prob)")
            overrides["attention_probs_dropout_prob"] = config.attention_dropout
        model = AutoModelForSequenceClassification.from_pretrained(
            encoder_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)}, problem_type="multi_label_classification",
            use_safetensors=True, dtype=torch.float32, **local, **overrides,
        ).to(device)
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and config.max_length > positions:
        # the saved model would be refused at load, and the first long paragraph would fail inside the encoder
        raise ValueError(f"max_length {config.max_length} exceeds the encoder's {positions} positions")
    return tokenizer, model


def _targets(config: TrainConfig, train_data: Dataset, y_train: np.ndarray, labels: list[str], teacher: Any,
             emit: Log) -> tuple[np.ndarray, bool]:
    """BCE targets: the 0/1 labels, blended with a teacher's probabilities when there is one."""
    import numpy as np

    targets = y_train.astype(np.float32)
    if teacher is None and config.teacher:
        from classifier.evaluation.evaluate import load_model

        _, teacher = load_model(config.teacher)
    if teacher is None:
        return targets, False
    if list(teacher.labels) != labels:
        raise ValueError(f"the teacher predicts {list(teacher.labels)}, the data has {labels}")
    started = time.perf_counter()
    soft = np.asarray(teacher.predict_proba(train_data["text"]), dtype=np.float32)
    # BCE is linear in its target, so blending the targets is the weighted sum of the hard-label and the teacher
    # loss, pos_weight included; the thresholds are tuned afterwards on validation data as usual.
    emit(f"distilling: teacher probabilities for {len(soft)} paragraphs in {time.perf_counter() - started:.0f}s, "
         f"weight {config.distill_weight}")
    return (1 - config.distill_weight) * targets + config.distill_weight * soft, True


def _loss(config: TrainConfig, y_train: np.ndarray, mask: np.ndarray | None, device: str) -> Any:
    """BCE with a positive weight sqrt(neg/pos) per label, capped: lifts rare labels without drowning the rest.

    With partial labels (``mask``) the counts are over the known cells, and the loss is per cell (``reduction
    "none"``): :func:`_masked_mean` averages it over the known cells only, so a label a corpus does not annotate is
    neither a positive nor a negative for its rows.
    """
    import numpy as np
    import torch

    known = mask.sum(0) if mask is not None else np.full(y_train.shape[1], len(y_train), dtype=np.float32)
    positives = (y_train * mask).sum(0) if mask is not None else y_train.sum(0)
    pos_weight = np.clip(np.sqrt((known - positives) / np.maximum(positives, 1)), 1.0, config.max_pos_weight)
    return torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, dtype=torch.float32, device=device),
                                      reduction="mean" if mask is None else "none")


def _masked_mean(losses: Any, mask: Any, n_categories: int | None = None, attribute_weight: float = 1.0) -> Any:
    """The mean of per-cell losses over the known cells (a batch with none gives 0 and no gradient).

    With attribute outputs after the first ``n_categories`` columns, the categories' mean plus ``attribute_weight``
    times the attributes' mean: pooled into one mean, 66 mostly negative attribute cells drowned the categories' 11
    and the categories stopped learning (constant validation figures from the first epoch).
    """
    if n_categories is None or n_categories >= losses.shape[1]:
        return (losses * mask).sum() / mask.sum().clamp(min=1.0)
    return (_masked_mean(losses[:, :n_categories], mask[:, :n_categories])
            + attribute_weight * _masked_mean(losses[:, n_categories:], mask[:, n_categories:]))


def _optimizer(model: Any, config: TrainConfig, steps_per_epoch: int, device: str) -> tuple[Any, Any]:
    """AdamW without decay on biases and norms, and a linear schedule with warm-up."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    # One fused kernel per step instead of a Python loop over ~100 tensors: the same update, a few percent faster.
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, fused=device.split(":")[0] in {"cpu", "cuda"})
    total_steps = steps_per_epoch * config.epochs
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)


def _fit(run: _Run, run_dir: Path | None, resuming: bool, *, quiet: bool, emit: Log) -> _Progress:
    """The epochs: train, score on validation, keep the best weights, checkpoint; stop after ``patience``."""
    config = run.config
    progress, start_epoch = _Progress(), 1
    checkpoint_dir = run_dir / "checkpoint" if run_dir is not None else None
    if resuming and checkpoint_dir is not None:
        progress, start_epoch = _resume(run, checkpoint_dir, emit)
    elif run_dir is not None:
        (run_dir / "log.jsonl").unlink(missing_ok=True)
    for epoch in range(start_epoch, config.epochs + 1):
        if progress.bad_epochs >= config.patience:
            break
        entry = _train_epoch(run, epoch, quiet=quiet, emit=emit)
        _score_epoch(run, entry, progress, emit)
        progress.history.append(entry)
        if run_dir is not None and checkpoint_dir is not None:
            _checkpoint(run, run_dir, checkpoint_dir, entry, progress)
        if progress.bad_epochs >= config.patience:
            emit(f"early stop: no macro-F1 gain for {config.patience} epochs")
    return progress


def _resume(run: _Run, checkpoint_dir: Path, emit: Log) -> tuple[_Progress, int]:
    from classifier.training.checkpoint import load_checkpoint

    state, best_state = load_checkpoint(checkpoint_dir, model=run.model, optimizer=run.optimizer,
                                        scheduler=run.scheduler, rng=run.rng)
    emit(f"resuming after epoch {state['epoch']}")
    return _Progress(state["history"], state["best"], best_state, state["bad_epochs"]), state["epoch"] + 1


def _batches(rows: list[int], lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-grouped batches of ``rows``: shuffle, sort within windows of 50 batches, shuffle the batch order."""
    order = list(rows)
    rng.shuffle(order)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _train_epoch(run: _Run, epoch: int, *, quiet: bool, emit: Log) -> dict[str, Any]:
    """One pass over the training batches; returns the epoch's log entry (loss, time, speed)."""
    import torch

    from classifier.models.transformer import pad_batch

    model, device = run.model, run.classifier.device
    use_bf16 = run.environment["precision"] == "bf16-autocast"
    autocast_device = "cuda" if device.startswith("cuda") else "cpu"
    pad = run.classifier.tokenizer.pad_token_id or 0
    model.train()
    started, seen, running = time.perf_counter(), 0, 0.0
    rows = epoch_rows(run.corpora, run.config.corpus_weights, run.rng)
    batches = _batches(rows, [len(ids) for ids in run.train_ids], run.config.batch_size, run.rng)
    with _progress_bar(f"epoch {epoch}/{run.config.epochs}", len(batches)) as advance:
        for step, batch in enumerate(batches, 1):
            input_ids, mask = pad_batch([run.train_ids[i] for i in batch], pad)
            target = torch.tensor(run.targets[batch], device=device)
            with torch.autocast(device_type=autocast_device, dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
            loss = run.loss_fn(logits.float(), target)
            if run.mask is not None:
                loss = _masked_mean(loss, torch.tensor(run.mask[batch], device=device), run.n_categories,
                                    run.config.attribute_loss_weight)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
            seen += len(batch)
            running += loss.item()
            stats = f"loss {running / step:.4f}  {seen / (time.perf_counter() - started):.1f} ex/s"
            advance(stats)
            if not sys.stderr.isatty() and not quiet and step % max(1, len(batches) // 10) == 0:
                emit(f"  epoch {epoch} step {step}/{len(batches)}: {stats}")
    model.eval()
    return {"epoch": epoch, "loss": running / len(batches), "seconds": time.perf_counter() - started,
            "examples_per_second": seen / (time.perf_counter() - started)}


def _score_epoch(run: _Run, entry: dict[str, Any], progress: _Progress, emit: Log) -> None:
    """Validation macro-F1 at thresholds tuned on validation; keeps the best epoch's weights."""
    from classifier.models.base import DEFAULT_BATCH_SIZE

    if run.y_val is None:  # no validation data: fixed epochs, thresholds from the config
        emit(f"epoch {entry['epoch']}: loss {entry['loss']:.4f}  ({entry['seconds']:.0f}s)")
        return
    probs, _ = run.classifier._probabilities(run.val_ids, DEFAULT_BATCH_SIZE)
    thresholds = tune_thresholds(run.y_val, probs, mask=run.val_mask)
    n = run.n_categories  # the epoch is chosen on the categories; attribute outputs ride along
    mask = run.val_mask[:, :n] if run.val_mask is not None else None
    report = report_at_thresholds(run.y_val[:, :n], probs[:, :n], run.labels[:n], thresholds[:n], mask=mask)
    entry.update(val_micro_f1=report["micro_f1"], val_macro_f1=report["macro_f1"])
    attributes = ""
    if len(run.labels) > n:
        tail = run.val_mask[:, n:] if run.val_mask is not None else None
        entry["val_attribute_micro_f1"] = report_at_thresholds(run.y_val[:, n:], probs[:, n:], run.labels[n:],
                                                               thresholds[n:], mask=tail)["micro_f1"]
        attributes = f"  attributes micro-F1 {entry['val_attribute_micro_f1']:.4f}"
    emit(f"epoch {entry['epoch']}: loss {entry['loss']:.4f}  val micro-F1 {report['micro_f1']:.4f}  macro-F1 "
         f"{report['macro_f1']:.4f}{attributes}  ({entry['seconds']:.0f}s, {entry['examples_per_second']:.1f} ex/s)")
    if report["macro_f1"] > progress.best["macro_f1"] + 1e-6:
        progress.best = {**report, "epoch": entry["epoch"], "thresholds": thresholds}
        progress.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        progress.bad_epochs = 0
    else:
        progress.bad_epochs += 1


def _checkpoint(run: _Run, run_dir: Path, checkpoint_dir: Path, entry: dict[str, Any], progress: _Progress) -> None:
    from classifier.training.checkpoint import save_checkpoint

    with (run_dir / "log.jsonl").open("a") as handle:
        handle.write(json.dumps(entry) + "\n")
    save_checkpoint(checkpoint_dir, model=run.model, optimizer=run.optimizer, scheduler=run.scheduler, rng=run.rng,
                    state={"epoch": entry["epoch"], "history": progress.history, "best": progress.best,
                           "bad_epochs": progress.bad_epochs},
                    best_state=progress.best_state)


def _finish(run: _Run, progress: _Progress, seconds: float) -> dict[str, Any]:
    """Put the best weights and thresholds in place; return the run's metrics."""
    best = progress.best
    if run.y_val is None:
        given = run.config.thresholds or {}
        best = {"epoch": len(progress.history), "thresholds": [float(given.get(label, 0.5)) for label in run.labels]}
    if progress.best_state is not None:
        run.model.load_state_dict(progress.best_state)
    # The returned classifier keeps the precision it validated with (fp32, or bf16 autocast on the float model),
    # so cross-validation folds are scored as they were early-stopped; a saved model picks its own at load time.
    run.classifier.output_thresholds = best["thresholds"]
    metrics = {
        "validation": {k: v for k, v in best.items() if k != "thresholds"},
        "thresholds": dict(zip(run.labels, best["thresholds"], strict=True)),
        "history": progress.history,
        "train_seconds": round(seconds, 1),
        "n_train": len(run.train_ids),
        "n_validation": len(run.val_ids),
        "device": run.classifier.device,
        "precision": run.environment["precision"],
        "cpu": run.environment["cpu"],
    }
    if run.distilled:
        metrics["distill_weight"] = run.config.distill_weight
    return metrics


def _save_run(run: _Run, run_dir: Path, metrics: dict[str, Any], emit: Log) -> None:
    import shutil

    from classifier.training.modelcard import render_card

    config = asdict(run.config)
    run.classifier.save_pretrained(run_dir / "model", half=run.config.half, train_config=config, metrics=metrics,
                                   card=render_card(run.labels, config, metrics))
    emit(f"saved model to {run_dir / 'model'}")
    shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)  # the run is complete: nothing left to resume


class _progress_bar:
    """A rich progress bar on a terminal; nothing when output is piped (epoch lines are logged either way)."""

    def __init__(self, description: str, total: int) -> None:
        self.description, self.total = description, total
        self._progress: Any = None

    def __enter__(self) -> Callable[[str], None]:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), TextColumn("{task.fields[stats]}"), transient=True)
            self._progress.start()
            task = self._progress.add_task(self.description, total=self.total, stats="")
            return lambda stats: self._progress.update(task, advance=1, stats=stats)
        return lambda stats: None

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
