"""Fitting the TF-IDF model on the data a training config names (the same split and threshold tuning as
:func:`classifier.training.loop.train`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.data.corpus import label_mask, label_names, multi_hot, tuning_mask
from classifier.evaluation.metrics import report_at_thresholds, tune_thresholds
from classifier.training.config import TrainConfig
from classifier.training.data import split_for_training

if TYPE_CHECKING:
    from datasets import Dataset

    from classifier.models.tfidf import TfidfBaseline

__all__ = ["fit_tfidf", "fit_tfidf_config", "train_tfidf"]


def train_tfidf(config: TrainConfig, *, log: Any = None) -> tuple[Any, dict[str, Any]]:
    """Fit the TF-IDF model, tune its thresholds on the validation policies and save it to ``<output_dir>/model``.

    Returns:
        ``(model, metrics)``.

    Raises:
        ValueError: an invalid config, or one without validation data (the thresholds are tuned there).
    """
    emit = log or (lambda line: print(line, file=sys.stderr, flush=True))
    started = time.perf_counter()
    model, report, n_train = fit_tfidf_config(config)
    metrics = {"validation": report, "thresholds": dict(zip(model.labels, model.thresholds, strict=True)),
               "train_seconds": round(time.perf_counter() - started, 1), "n_train": n_train}
    emit(f"TF-IDF baseline: val micro-F1 {report['micro_f1']:.4f}  macro-F1 {report['macro_f1']:.4f}")
    model.save_pretrained(Path(config.output_dir) / "model", metrics=metrics)
    emit(f"saved baseline to {Path(config.output_dir) / 'model'}")
    return model, metrics


def fit_tfidf_config(config: TrainConfig) -> tuple[TfidfBaseline, dict[str, Any], int]:
    """The TF-IDF model of a config, unsaved: fitted on its training policies, thresholds tuned on its validation
    policies (partial labels masked). Returns ``(model, validation report, training rows)``.

    Raises:
        ValueError: an invalid config, or one without validation data (the thresholds are tuned there).
    """
    config.validate()
    train_data, validation_data = split_for_training(config)
    if validation_data is None:
        raise ValueError("the TF-IDF baseline tunes its thresholds on validation data: validation_fraction > 0")
    model = fit_tfidf(train_data, seed=config.seed, corpus_weights=config.corpus_weights,
                      attributes=config.learns_attributes("tfidf"))
    probs = model.predict_proba(validation_data["text"])
    y_val, known = multi_hot(validation_data), tuning_mask(validation_data, config.tune_on)
    model.thresholds = tune_thresholds(y_val, probs, mask=known)
    return model, report_at_thresholds(y_val, probs, model.labels, model.thresholds, mask=known), len(train_data)


def fit_tfidf(data: Dataset, *, seed: int, corpus_weights: dict[str, float] | None = None, attributes: bool = False,
              **options: Any) -> TfidfBaseline:
    """The TF-IDF model fitted on ``data``: each label on the rows that decide it (partial labels), each row weighted
    by its corpus's weight; with ``attributes``, also the attribute outputs of its attribute columns
    (:func:`classifier.data.attributes.with_attribute_columns`). ``options`` go to :meth:`TfidfBaseline.fit`
    (``c``, ``char_ngrams``)."""
    import numpy as np

    from classifier.data.attributes import attribute_targets, has_attribute_columns
    from classifier.models.tfidf import TfidfBaseline

    if attributes and not has_attribute_columns(data):
        raise ValueError("the TF-IDF member learns attribute outputs from data with attribute columns")
    if attributes:
        options["attributes"] = (*attribute_targets(data), data.features["attribute_labels"].feature.names)

    mask = label_mask(data)
    weights = None
    if corpus_weights and "corpus" in data.column_names:
        row_weights = np.array([float(corpus_weights.get(corpus, 1.0)) for corpus in data["corpus"]])
        weights = None if (row_weights == 1.0).all() else row_weights
    return TfidfBaseline.fit(data["text"], multi_hot(data), label_names(data), seed=seed,
                             mask=None if mask.all() else mask, sample_weight=weights, **options)
