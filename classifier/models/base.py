"""What every paragraph model shares: the prediction type, argument checks and the probabilities-to-labels rule.

A model here is anything with ``labels``, per-label ``thresholds`` and ``predict_proba(texts)``: the transformer
(:class:`~classifier.models.transformer.PolicyClassifier`), the TF-IDF model
(:class:`~classifier.models.tfidf.TfidfBaseline`) and their average. :class:`ParagraphModel` turns those
probabilities into :class:`Prediction` objects and whole policies into classified documents, the same way for all.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from classifier.labels import Scheme, card_label_ids, card_scores, to_card

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from classifier.models.calibration import Calibration
    from classifier.predict.document import ClassifiedDocument
    from classifier.text.retention import RetentionPeriod

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "InferencePrecision",
    "ModelLoadError",
    "ParagraphModel",
    "Prediction",
    "check_batch_size",
    "load_paragraph_model",
    "check_texts",
    "check_threshold",
    "to_prediction",
]

# Measured on 2 CPU cores (benchmarks/throughput.py): 16 beats 64, whose length-sorted batches still pad more.
DEFAULT_BATCH_SIZE = 16


class InferencePrecision(str, Enum):
    """The arithmetic a transformer predicts in (see :meth:`PolicyClassifier.from_pretrained`)."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    bf16_autocast = "bf16-autocast"
    int8 = "int8"
    onnx_int8 = "onnx-int8"


class ModelLoadError(RuntimeError):
    """A model directory is missing, incomplete or corrupt; the message says which and why."""


@dataclass(frozen=True)
class Prediction:
    """Labels and scores for one paragraph.

    ``labels`` are the label ids whose probability reached their threshold, in canonical order; ``scores`` holds a
    probability for every label of the view. ``attributes`` says what the paragraph states, ``{attribute id: {value
    id: score}}`` (``{"purpose": {"advertising": 0.91}}``; empty from a model without attribute outputs; see
    :func:`classifier.attributes.gate_attributes`), and ``retention`` the retention periods it quotes when it is
    about data retention (:func:`classifier.text.retention.find_retention_periods`).
    """

    labels: list[str]
    scores: dict[str, float] = field(repr=False)
    attributes: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    retention: tuple[RetentionPeriod, ...] = ()


def check_threshold(threshold: Any) -> None:
    """Refuse a decision threshold that is not a finite number in [0, 1] (``None``, the tuned ones, passes).

    Raises:
        ValueError: out of range, NaN, or not a number.
    """
    if threshold is None:
        return
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")


def check_batch_size(value: Any, name: str = "batch_size") -> None:
    """Refuse a batch size that is not a positive integer.

    Raises:
        ValueError: zero, negative or not an integer.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_texts(texts: Iterable[str]) -> list[str]:
    """Return ``texts`` as a list of strings.

    Raises:
        TypeError: ``texts`` is a lone string or bytes (iterating it would give one text per character), or holds
            something other than strings.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"expected a list of texts, got a single {type(texts).__name__}; "
                        "wrap one text in a list: predict([text])")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, not str")
    return texts


def to_prediction(labels: Sequence[str], thresholds: Sequence[float], row: Sequence[float], scheme: Scheme,
                  threshold: float | None = None) -> Prediction:
    """The rule from one paragraph's probabilities to its labels.

    A label is given when its probability reaches its threshold (``threshold`` replaces them all when given). In
    the card view the six user-facing categories take the labels mapped onto them and, as scores, the highest
    probability among their OPP-115 categories (:func:`classifier.labels.card_scores`).
    """
    scores = {label: round(float(p), 4) for label, p in zip(labels, row, strict=True)}
    cuts = [threshold] * len(labels) if threshold is not None else thresholds
    given = [label for label, p, cut in zip(labels, row, cuts, strict=True) if p >= cut]
    if scheme is Scheme.card:
        card = card_scores(scores)
        return Prediction(labels=to_card(given), scores={k: card[k] for k in card_label_ids()})
    return Prediction(labels=given, scores=scores)


class ParagraphModel:
    """Labels, documents and streams on top of a subclass's ``predict_proba``.

    Subclasses set ``labels`` and ``thresholds`` and implement ``predict_proba(texts, *, batch_size)``.
    """

    labels: list[str]
    thresholds: list[float]
    # the attribute outputs (classifier.attributes.split_key) and their thresholds; a model with none keeps these
    attribute_keys: Sequence[str] = ()
    attribute_thresholds: Sequence[float] = ()
    # per-label calibration of the scores (classifier.models.calibration), when the model has one
    calibration: Calibration | None = None

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE,
                scheme: Scheme | str = Scheme.opp115, threshold: float | None = None) -> list[Prediction]:
        """Label paragraphs.

        Args:
            texts: paragraph texts (Markdown marks are ignored).
            batch_size: paragraphs per forward pass.
            scheme: ``"opp115"`` (the model's labels) or ``"card"`` (the six user-facing categories).
            threshold: one threshold for every label instead of the tuned per-label ones.

        Returns:
            One :class:`Prediction` per text, in input order.

        Raises:
            TypeError: ``texts`` is a lone string (pass ``[text]``) or holds something other than strings.
            ValueError: ``threshold`` is not in [0, 1], ``batch_size`` is not a positive integer, or the card view
                of a model with other labels than the project's.
        """
        from classifier.models.config import check_scheme

        check_threshold(threshold)
        view = check_scheme(self.labels, scheme)
        texts = check_texts(texts)
        probs, attribute_probs = self.predict_scores(texts, batch_size=batch_size)
        predictions = [to_prediction(self.labels, self.thresholds, row, view, threshold) for row in probs]
        return self._described(texts, probs, attribute_probs, predictions, threshold)

    def predict_scores(self, texts: list[str], *,
                       batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray | None]:
        """The categories' probabilities and, from a model with attribute outputs (``attribute_keys``), theirs."""
        return self.predict_proba(texts, batch_size=batch_size), None

    def _described(self, texts: list[str], probs: np.ndarray, attribute_probs: np.ndarray | None,
                   predictions: list[Prediction], threshold: float | None) -> list[Prediction]:
        """Predictions with what each paragraph states: attribute values, gated by the OPP-115 categories it was
        given (in either view), and the retention periods a data-retention paragraph quotes."""
        import numpy as np

        from classifier.attributes import gate_attributes
        from classifier.text.retention import find_retention_periods

        cuts = np.full(len(self.labels), threshold) if threshold is not None else np.asarray(self.thresholds)
        given = np.asarray(probs) >= cuts
        attributes = (gate_attributes(self.attribute_keys, self.attribute_thresholds, attribute_probs, given,
                                      self.labels) if attribute_probs is not None else [{}] * len(texts))
        retention_column = self.labels.index("data_retention") if "data_retention" in self.labels else None
        out = []
        for row, (text, prediction) in enumerate(zip(texts, predictions, strict=True)):
            quoted = (tuple(find_retention_periods(text))
                      if retention_column is not None and given[row, retention_column] else ())
            out.append(replace(prediction, attributes=attributes[row], retention=quoted)
                       if attributes[row] or quoted else prediction)
        return out

    def iter_predict(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE, chunk_size: int = 1024,
                     scheme: Scheme | str = Scheme.opp115, threshold: float | None = None) -> Iterator[Prediction]:
        """Stream predictions for any iterable of texts, ``chunk_size`` texts at a time (constant memory)."""
        check_batch_size(chunk_size, "chunk_size")
        if isinstance(texts, (str, bytes)):
            check_texts(texts)  # raises the TypeError a lone string gets everywhere
        text_iter = iter(texts)
        while chunk := list(itertools.islice(text_iter, chunk_size)):
            yield from self.predict(chunk, batch_size=batch_size, scheme=scheme, threshold=threshold)

    def classify_document(self, source: Any, *, scheme: Scheme | str = Scheme.opp115,
                          batch_size: int = DEFAULT_BATCH_SIZE, threshold: float | None = None) -> ClassifiedDocument:
        """Segment a whole policy (str, bytes, path or ``PolicyText``) and label every paragraph.

        Raises:
            PolicyInputError: the policy cannot be read.
        """
        from classifier.predict.document import classify_document

        return classify_document(self, source, scheme=scheme, batch_size=batch_size, threshold=threshold)

    def report(self, source: Any, *, format: str = "html", compare_with: Any = None,
               batch_size: int = DEFAULT_BATCH_SIZE) -> str:
        """A report a person reads of one policy (str, bytes, path or ``PolicyText``): for every category *covered*,
        *unsure* or *not found* with its confidence and evidence paragraphs, what the policy states, and its text
        with each paragraph's labels (:mod:`classifier.report.policy`).

        Args:
            format: ``"html"`` (one self-contained page) or ``"md"`` (Markdown).
            compare_with: an older version (or another policy): the page then compares it with ``source``.

        Raises:
            ValueError: an unknown ``format``.
            PolicyInputError: a policy cannot be read.
        """
        from classifier.report.policy import build_report
        from classifier.report.render import FORMATS, render

        if format not in FORMATS:
            raise ValueError(f"format must be 'html' or 'md', got {format!r}")

        new = build_report(self.classify_document(source, batch_size=batch_size), self)
        if compare_with is None:
            return render(new, format)
        from classifier.report.compare import compare_reports

        old = build_report(self.classify_document(compare_with, batch_size=batch_size), self)
        return render(compare_reports(old, new), format)

    def classify_documents(self, sources: Iterable[Any], *, scheme: Scheme | str = Scheme.opp115,
                           batch_size: int = DEFAULT_BATCH_SIZE,
                           threshold: float | None = None) -> list[ClassifiedDocument]:
        """Like :meth:`classify_document` for several policies, labelled in one call.

        1.6-1.9x as fast as one call per policy on 2 CPU cores: batches are length-sorted across all of them. Keep
        each call to a few thousand paragraphs; the batch CLI groups policies this way.

        Raises:
            PolicyInputError: a policy cannot be read (nothing is labelled then).
        """
        from classifier.predict.document import classify_documents

        return classify_documents(self, sources, scheme=scheme, batch_size=batch_size, threshold=threshold)


def read_calibration(directory: Any, labels: list[str]) -> Calibration | None:
    """A model directory's ``calibration.json`` (``None`` without one), or :class:`ModelLoadError`."""
    from classifier.models.calibration import CalibrationError, load_calibration

    try:
        return load_calibration(directory, labels)
    except CalibrationError as exc:
        raise ModelLoadError(str(exc)) from None


def save_extras(directory: Path, calibration: Calibration | None, metrics: dict[str, Any] | None) -> None:
    """What every saved numpy model writes beside its weights: ``calibration.json`` and ``metrics.json``, when
    it has them."""
    import json

    if calibration is not None:
        calibration.save(directory)
    if metrics is not None:
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def load_paragraph_model(path: Any = None, *, device: str | None = None, precision: str = "auto",
                         streams: int | None = None, full: bool = False) -> ParagraphModel:
    """A saved model folder: a TF-IDF baseline or a distilled student (CPU numpy; device, precision and streams do
    not apply), a transformer (the shipped model for ``None``), or -- on a CPU, for a transformer folder with a
    distilled student and unless ``full`` -- the cascade of the two (:func:`classifier.models.cascade.load_cascade`),
    whose encoder loads only when a paragraph needs it.

    Raises:
        ModelLoadError, ValueError: the folder is not a loadable model.
    """
    from classifier.models.cascade import has_student, load_cascade
    from classifier.models.student import StudentModel
    from classifier.models.tfidf import TfidfBaseline
    from classifier.models.transformer import PolicyClassifier, shipped_model_dir

    if path is not None and TfidfBaseline.is_baseline_dir(path):
        return TfidfBaseline.from_pretrained(path)
    if path is not None and StudentModel.is_student_dir(path):
        return StudentModel.from_pretrained(path)
    directory = path if path is not None else shipped_model_dir()
    if not full and has_student(directory) and _runs_on_cpu(device):
        return load_cascade(directory, device="cpu", precision=precision, streams=streams)
    return PolicyClassifier.from_pretrained(path, device=device, precision=precision, streams=streams)


def _runs_on_cpu(device: str | None) -> bool:
    """Whether a model would run on the CPU, without importing torch where no GPU driver is present."""
    from classifier import hardware

    if device == "cpu" or (device in (None, "auto") and not hardware.gpu_driver_present()):
        return True
    return hardware.resolve_device(device) == "cpu"
