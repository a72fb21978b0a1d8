"""Distil a saved model (the teacher) into a fast student, and set the cascade's escalation margin.

Steps (:func:`distill`):

1. **Text**: the distinct paragraphs of the crawled pages and of the partial corpora's training parts, in a seeded
   order (what pretraining reads, :func:`classifier.training.pretrain.pretraining_texts`); no gold label is used.
2. **Teacher scores** over them, saved every chunk so that an interrupted run resumes (:func:`teacher_scores`).
3. **Student** (:class:`~classifier.models.student.StudentModel`) fitted to the teacher's probabilities (binary
   cross-entropy against soft targets) on all but a validation share of the paragraphs (:func:`fit_student`);
   its thresholds are tuned to reproduce the teacher's labels on the validation share.
4. **Margin** (:func:`cascade_margin`): the smallest escalation margin whose cascade reproduces the teacher's labels
   on the validation share with macro-F1 at least ``fidelity``; the share it escalates there is recorded.

The student is saved beside its figures (``metrics.json``); ``attach`` puts it inside the teacher's directory
(``student/``, reading the teacher's tokenizer and embedding matrix), where it becomes the model's fast path.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifier.models.cascade import escalated

__all__ = ["DistillConfig", "cascade_margin", "distill", "fit_student", "label_agreement", "teacher_scores",
           "train_and_tune"]

Log = Callable[[str], None]
MARGIN_GRID = tuple(round(m, 3) for m in np.arange(0.0, 0.5001, 0.005))


@dataclass
class DistillConfig:
    """What a distillation run reads and learns; checked once by :meth:`validate`, saved with the student.

    Attributes:
        teacher: a saved model directory (the shipped model, say).
        dmoz, mapp, c3pa, appsi139: where the unlabelled paragraphs come from (crawled pages; the partial corpora's
            training parts, whose labels are not used).
        texts: how many distinct paragraphs the teacher scores (0: all).
        hidden: the student's hidden units.
        max_tokens: word pieces the student reads per paragraph.
        epochs, batch_size, learning_rate, seed: the student's training.
        validation_fraction: paragraphs held out for early stopping, thresholds and the margin.
        fidelity: the cascade's agreement with the teacher (macro-F1 of its labels against the teacher's on the
            validation paragraphs) that the margin must reach.
        output_dir: where the student, its figures and the teacher's cached scores go.
    """

    teacher: str = "models/policy-minilm"
    dmoz: list[str] = field(default_factory=lambda: ["../shared/dmoz"])
    mapp: list[str] = field(default_factory=lambda: ["../shared/corpora/mapp"])
    c3pa: list[str] = field(default_factory=lambda: ["../shared/corpora/c3pa"])
    appsi139: list[str] = field(default_factory=lambda: ["../shared/corpora/appsi139"])
    texts: int = 80_000
    hidden: int = 512
    max_tokens: int = 256
    epochs: int = 12
    batch_size: int = 256
    learning_rate: float = 2e-3
    seed: int = 13
    validation_fraction: float = 0.1
    fidelity: float = 0.90
    output_dir: str = "runs/student"

    def validate(self) -> None:
        """Raise ``ValueError`` naming every out-of-range setting."""
        checks = {"texts": self.texts >= 0, "hidden": self.hidden >= 1, "max_tokens": self.max_tokens >= 1,
                  "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
                  "learning_rate": self.learning_rate > 0, "validation_fraction": 0 < self.validation_fraction < 1,
                  "fidelity": 0 < self.fidelity <= 1}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid distillation value(s): {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")
        if not (self.dmoz or self.mapp or self.c3pa or self.appsi139):
            raise ValueError("no text: give at least one of dmoz, mapp, c3pa or appsi139")


def teacher_scores(teacher: Any, texts: Sequence[str], cache: str | Path, *, chunk: int = 4096,
                   log: Log | None = None) -> np.ndarray:
    """The teacher's ``(n, labels)`` probabilities, saved to ``cache`` after every chunk; a cache of the same texts
    and teacher is taken up where it stopped (any other is ignored and replaced)."""
    from safetensors.numpy import load_file, save_file

    emit = log or _stderr
    cache = Path(cache)
    key = _digest([*teacher.labels, *map(str, teacher.thresholds), *texts])
    done = np.zeros((0, len(teacher.labels)), dtype=np.float32)
    if cache.is_file():
        try:
            from safetensors import safe_open

            with safe_open(str(cache), framework="numpy") as handle:
                same = (handle.metadata() or {}).get("key") == key
            done = load_file(str(cache))["scores"] if same else done
        except Exception:  # a torn or foreign cache is recomputed
            done = np.zeros((0, len(teacher.labels)), dtype=np.float32)
    started, parts = time.perf_counter(), [done]
    for start in range(len(done), len(texts), chunk):
        parts.append(np.asarray(teacher.predict_proba(list(texts[start:start + chunk])), dtype=np.float32))
        scored = np.concatenate(parts)
        tmp = cache.with_name(cache.name + ".tmp")
        save_file({"scores": scored}, str(tmp), metadata={"key": key})
        tmp.replace(cache)
        emit(f"teacher: {len(scored)}/{len(texts)} paragraphs ({time.perf_counter() - started:.0f}s)")
    return np.concatenate(parts)[:len(texts)]


def label_agreement(reference: np.ndarray, decisions: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro-F1 of 0/1 ``decisions`` against ``reference`` decisions, and each label's F1 (a label neither side
    ever gives counts as 1)."""
    reference, decisions = np.asarray(reference, dtype=bool), np.asarray(decisions, dtype=bool)
    tp = (reference & decisions).sum(axis=0)
    denominator = reference.sum(axis=0) + decisions.sum(axis=0)
    f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 1.0)
    return float(f1.mean()), f1


def cascade_margin(fast_probs: np.ndarray, fast_thresholds: Sequence[float], full_probs: np.ndarray,
                   full_thresholds: Sequence[float], fidelity: float) -> dict[str, Any]:
    """The smallest margin on :data:`MARGIN_GRID` whose cascade gives the full model's labels with macro-F1 at
    least ``fidelity`` on these rows (the largest margin when none does), with what it escalates and agrees."""
    full = np.asarray(full_probs) >= np.asarray(full_thresholds)
    curve = []
    for margin in MARGIN_GRID:
        up = escalated(fast_probs, np.asarray(fast_thresholds), margin)
        decisions = np.where(up[:, None], full, np.asarray(fast_probs) >= np.asarray(fast_thresholds))
        curve.append({"margin": margin, "escalated": float(up.mean()),
                      "agreement": label_agreement(full, decisions)[0]})
    chosen = next((point for point in curve if point["agreement"] >= fidelity), curve[-1])
    return {**chosen, "fidelity": fidelity, "curve": curve}


def fit_student(texts: Sequence[str], targets: np.ndarray, labels: Sequence[str], tokenizer: Any,
                embeddings: np.ndarray, config: DistillConfig, *, validation: tuple[Sequence[str], np.ndarray],
                companion: Any = None, log: Log | None = None) -> Any:
    """Train a :class:`~classifier.models.student.StudentModel` (with ``companion``'s features when given) on
    soft ``targets``; the epoch with the lowest validation loss is kept. Its thresholds are left at 0.5 (see
    :func:`distill`)."""
    import torch

    from classifier.models.student import StudentModel, companion_features

    emit = log or _stderr
    torch.manual_seed(config.seed)
    n_extra = len(labels) if companion is not None else 0
    net = _bag_net(embeddings, len(labels), config.hidden, n_extra)
    probe = StudentModel(labels, [0.5] * len(labels), tokenizer, embeddings, net.arrays(), max_tokens=config.max_tokens,
                         companion=companion)
    train_ids, val_ids = probe.piece_ids(texts), probe.piece_ids(validation[0])
    extra_train, extra_val = (torch.from_numpy(companion_features(companion.predict_proba(list(part))))
                              if companion is not None else torch.zeros((len(part), 0))
                              for part in (texts, validation[0]))
    y_train = torch.from_numpy(np.asarray(targets, dtype=np.float32))
    y_val = torch.from_numpy(np.asarray(validation[1], dtype=np.float32))
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=config.learning_rate,
                                  weight_decay=0.0)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order_rng = np.random.default_rng(config.seed)
    best, best_loss = net.arrays(), float("inf")
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        net.train()
        for rows in np.array_split(order_rng.permutation(len(train_ids)), max(1, len(train_ids) // config.batch_size)):
            optimizer.zero_grad()
            loss = loss_fn(net(*_bags([train_ids[i] for i in rows]), extra_train[rows]), y_train[rows])
            loss.backward()
            optimizer.step()
        val_loss = _evaluate_loss(net, val_ids, extra_val, y_val, loss_fn)
        emit(f"student epoch {epoch}/{config.epochs}: validation loss {val_loss:.4f} "
             f"({time.perf_counter() - started:.0f}s)")
        if val_loss < best_loss:
            best, best_loss = net.arrays(), val_loss
    return StudentModel(labels, [0.5] * len(labels), tokenizer, embeddings, best, max_tokens=config.max_tokens,
                        companion=companion)


def _bags(ids: list[list[int]]) -> tuple[Any, Any, Any]:
    """Flat piece ids, bag offsets and each piece's bag, as the torch student takes them."""
    import torch

    lengths = torch.tensor([len(row) for row in ids], dtype=torch.long)
    flat = torch.tensor([i for row in ids for i in row], dtype=torch.long)
    offsets = torch.cumsum(lengths, 0) - lengths
    return flat, offsets, torch.repeat_interleave(torch.arange(len(ids)), lengths)


def _evaluate_loss(net: Any, ids: list[list[int]], extra: Any, y: Any, loss_fn: Any) -> float:
    import torch

    net.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(ids), 2048):
            part = ids[start:start + 2048]
            rows = slice(start, start + len(part))
            total += float(loss_fn(net(*_bags(part), extra[rows]), y[rows])) * len(part)
    return total / max(1, len(ids))


def _bag_net_class() -> Any:
    import torch
    import torch.nn.functional as functional

    from classifier.models.student import LAYER_NORM_EPS

    class BagNet(torch.nn.Module):
        """The student in torch, for training; :meth:`arrays` gives the weights the numpy student predicts with."""

        def __init__(self, embeddings: np.ndarray, n_labels: int, hidden: int, n_extra: int) -> None:
            super().__init__()
            vocab, dim = embeddings.shape
            self.embeddings = torch.nn.Parameter(torch.from_numpy(np.asarray(embeddings, np.float32)),
                                                 requires_grad=False)
            self.token_weight = torch.nn.Parameter(torch.zeros(vocab))
            self.norm = torch.nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
            self.hidden = torch.nn.Linear(dim + n_extra, hidden)
            self.out = torch.nn.Linear(hidden, n_labels)
            self.dropout = torch.nn.Dropout(0.1)

        def forward(self, flat: Any, offsets: Any, bag: Any, extra: Any) -> Any:
            weight = functional.softplus(self.token_weight[flat])
            summed = functional.embedding_bag(flat, self.embeddings, offsets, mode="sum", per_sample_weights=weight)
            total = torch.zeros(len(offsets)).index_add_(0, bag, weight).clamp_min(1e-6)
            features = torch.cat([self.norm(summed / total[:, None]), extra], dim=1)
            return self.out(self.dropout(torch.relu(self.hidden(features))))

        def arrays(self) -> dict[str, np.ndarray]:
            return {name: tensor.detach().numpy().copy() for name, tensor in (
                ("token_weight", self.token_weight), ("norm_weight", self.norm.weight), ("norm_bias", self.norm.bias),
                ("hidden_weight", self.hidden.weight), ("hidden_bias", self.hidden.bias),
                ("out_weight", self.out.weight), ("out_bias", self.out.bias))}

    return BagNet


def _bag_net(embeddings: np.ndarray, n_labels: int, hidden: int, n_extra: int = 0) -> Any:
    return _bag_net_class()(embeddings, n_labels, hidden, n_extra)


def distill(config: DistillConfig, *, attach: bool = False, log: Log | None = None) -> Path:
    """Run the steps of the module's notes; returns the student's directory (``<teacher>/student`` with
    ``attach``, else ``config.output_dir/student``).

    Raises:
        ValueError: an invalid config, or no paragraphs to learn from.
        ModelLoadError: the teacher cannot be loaded.
    """
    from classifier.models.base import load_paragraph_model
    from classifier.models.student import embedding_matrix
    from classifier.training.pretrain import PretrainConfig, pretraining_texts

    config.validate()
    emit = log or _stderr
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = pretraining_texts(PretrainConfig(dmoz=config.dmoz, mapp=config.mapp, c3pa=config.c3pa,
                                             appsi139=config.appsi139, seed=config.seed, max_texts=config.texts))
    emit(f"{len(texts)} distinct paragraphs")
    teacher = load_paragraph_model(config.teacher, full=True)  # a teacher with a student is still the teacher
    scores = teacher_scores(teacher, texts, out / "teacher_scores.safetensors", log=emit)
    tokenizer, embeddings = embedding_matrix(config.teacher)
    # the teacher's TF-IDF member, when it has one, becomes the student's companion (see classifier.models.student)
    companion = getattr(teacher, "tfidf", None)
    student, figures = train_and_tune(texts, scores, list(teacher.labels), teacher.thresholds, tokenizer, embeddings,
                                      config, companion=companion, log=emit)
    student.shared, student.margin = attach, figures["margin"]["margin"]
    where = Path(config.teacher) / "student" if attach else out / "student"
    metrics = {"config": asdict(config), "teacher": str(config.teacher), **figures}
    student.save_pretrained(where, metrics=metrics)
    card = Path(config.teacher) / "README.md"
    if attach and card.is_file():
        from classifier.files import atomic_write
        from classifier.training.modelcard import set_card_section, student_section

        atomic_write(card, set_card_section(card.read_text(encoding="utf-8"), "Distilled student",
                                            student_section(figures)))
    emit(f"student saved to {where}: margin {figures['margin']['margin']}, escalates "
         f"{figures['margin']['escalated']:.1%} of validation paragraphs at agreement "
         f"{figures['margin']['agreement']:.4f}")
    return where


def train_and_tune(texts: Sequence[str], scores: np.ndarray, labels: list[str], teacher_thresholds: Sequence[float],
                   tokenizer: Any, embeddings: np.ndarray, config: DistillConfig, *, companion: Any = None,
                   log: Log | None = None) -> tuple[Any, dict[str, Any]]:
    """Steps 3 and 4 on texts the teacher scored: the student (thresholds set) and its validation figures."""
    from classifier.evaluation.metrics import tune_thresholds

    n_val = max(1, round(len(texts) * config.validation_fraction))
    val, train = slice(0, n_val), slice(n_val, None)  # the texts come shuffled
    student = fit_student(texts[train], scores[train], labels, tokenizer, embeddings, config,
                          validation=(texts[val], scores[val]), companion=companion, log=log)
    teacher_labels = scores[val] >= np.asarray(teacher_thresholds)
    student_probs = student.predict_proba(texts[val])
    student.thresholds = tune_thresholds(teacher_labels.astype(np.int8), student_probs)
    alone, per_label = label_agreement(teacher_labels, student_probs >= np.asarray(student.thresholds))
    margin = cascade_margin(student_probs, student.thresholds, scores[val], teacher_thresholds, config.fidelity)
    return student, {"validation_paragraphs": n_val, "training_paragraphs": len(texts) - n_val,
                     "student_agreement": alone, "student_agreement_per_label": dict(zip(labels, per_label.tolist())),
                     "margin": margin}


def _digest(parts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

