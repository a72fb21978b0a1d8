"""Fitting the TF-IDF model on the data a training config names (the same split and threshold tuning as
:func:`classifier.training.loop.train`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from classifier.data.corpus import label_names, multi_hot
from classifier.evaluation.metrics import report_at_thresholds, tune_thresholds
from classifier.training.config import TrainConfig
from classifier.training.data import split_for_training

__all__ = ["train_tfidf"]


def train_tfidf(config: TrainConfig, *, log: Any = None) -> tuple[Any, dict[str, Any]]:
    """Fit the TF-IDF model, tune its thresholds on the validation policies and save it to ``<output_dir>/model``.

    Returns:
        ``(model, metrics)``.

    Raises:
        ValueError: an invalid config, or one without validation data (the thresholds are tuned there).
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
    probs = model.predict_proba(validation_data["text"])
    y_val = multi_hot(validation_data)
    model.thresholds = tune_thresholds(y_val, probs)
    report = report_at_thresholds(y_val, probs, labels, model.thresholds)
    metrics = {"validation": report, "thresholds": dict(zip(labels, model.thresholds, strict=True)),
               "train_seconds": round(time.perf_counter() - started, 1), "n_train": len(train_data)}
    emit(f"TF-IDF baseline: val micro-F1 {report['micro_f1']:.4f}  macro-F1 {report['macro_f1']:.4f}")
    model.save_pretrained(Path(config.output_dir) / "model", metrics=metrics)
    emit(f"saved baseline to {Path(config.output_dir) / 'model'}")
    return model, metrics
