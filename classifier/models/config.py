"""Checks on a saved model's settings, made once when it loads: a bad value fails there, naming its field.

A model directory is user input: a threshold of 5.0 would silently give no labels, NaN never that label, an unknown
label id would break CSV output later, a ``max_length`` past the encoder's positions would fail on the first long
paragraph, and an ``auto_map`` entry asks transformers to run Python code shipped in the folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifier.labels import LABEL_IDS, Scheme

__all__ = [
    "ModelConfigError",
    "check_attribute_keys",
    "check_labels",
    "check_scheme",
    "check_thresholds",
    "read_transformer_config",
    "refuse_remote_code",
]

# The fewest tokens a paragraph may be cut to: [CLS], [SEP] and a few words.
MIN_MAX_LENGTH = 8


class ModelConfigError(ValueError):
    """A saved model's settings are invalid; the message names the file and the field."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_labels(labels: Any, where: str, *, custom_labels: bool = False) -> list[str]:
    """The model's label ids, checked: unique non-empty strings, and the project's schema unless ``custom_labels``.

    Raises:
        ModelConfigError: naming ``where``.
    """
    if not isinstance(labels, list) or not labels:
        raise ModelConfigError(f"{where}: no label list (id2label or labels)")
    for label in labels:
        if not isinstance(label, str) or not label:
            raise ModelConfigError(f"{where}: label {label!r} is not a label id")
    if len(set(labels)) != len(labels):
        raise ModelConfigError(f"{where}: a label id appears twice")
    unknown = [label for label in labels if label not in LABEL_IDS]
    missing = [label for label in LABEL_IDS if label not in labels]
    if not custom_labels and (unknown or missing):
        detail = f"unknown label id {unknown[0]!r}" if unknown else f"label {missing[0]!r} missing"
        raise ModelConfigError(f"{where}: {detail}; a model for this tool predicts {', '.join(LABEL_IDS)} "
                               "(a model trained with --labels-from-data loads with custom_labels=True, as evaluate "
                               "does)")
    return labels


def check_thresholds(thresholds: Any, n_labels: int, where: str) -> list[float]:
    """One finite threshold in [0, 1] per label (0.5 each when absent).

    Raises:
        ModelConfigError: naming ``where`` and the first bad value.
    """
    if thresholds is None:
        return [0.5] * n_labels
    if not isinstance(thresholds, list) or len(thresholds) != n_labels:
        count = len(thresholds) if isinstance(thresholds, list) else type(thresholds).__name__
        raise ModelConfigError(f"{where}: thresholds must be a list of {n_labels} numbers, got {count}")
    for i, value in enumerate(thresholds):
        if not _number(value) or not 0.0 <= value <= 1.0:
            raise ModelConfigError(f"{where}: thresholds[{i}] is {value!r}; thresholds are numbers in [0, 1]")
    return [float(value) for value in thresholds]


def check_scheme(labels: Sequence[str], scheme: Scheme | str) -> Scheme:
    """The view, refused when it needs the project's labels and the model has others.

    Raises:
        ValueError: the card view asked of a model with custom labels; an unknown view.
    """
    view = Scheme(scheme)
    if view is Scheme.card and set(labels) != set(LABEL_IDS):
        raise ValueError("the card view needs a model with the project's label ids; this one has custom labels")
    return view


def read_transformer_config(directory: Path, *, custom_labels: bool = False,
                            check_architecture: bool = True) -> dict[str, Any]:
    """Read and check ``config.json`` (and ``tokenizer_config.json``) of a saved :class:`PolicyClassifier`.

    ``check_architecture=False`` skips the ``model_type`` check, which imports transformers (and torch): for a
    cascade that loads the encoder only when needed, and checks it then.

    Returns:
        The project's settings: ``labels``, ``thresholds``, ``max_length``, ``tfidf_weight``.

    Raises:
        ModelConfigError: a file that is not a JSON object, an ``auto_map`` (code shipped with the model), an unknown
            ``model_type``, or a bad label list, threshold, length or weight (the field is named).
    """
    where = f"{directory}/config.json"
    config = _json_object(directory / "config.json")
    refuse_remote_code(directory)
    if check_architecture:
        _check_model_type(config.get("model_type"), where)
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ModelConfigError(f"{where}: no id2label label list")
    try:
        ordered = sorted((int(key), value) for key, value in id2label.items())
    except (TypeError, ValueError):
        raise ModelConfigError(f"{where}: id2label keys must be 0, 1, 2, ...") from None
    if [key for key, _ in ordered] != list(range(len(ordered))):
        raise ModelConfigError(f"{where}: id2label keys must be 0, 1, 2, ...")
    outputs = [value for _, value in ordered]
    categories = [value for value in outputs if not (isinstance(value, str) and "/" in value)]
    check_labels(categories, f"{where}: id2label", custom_labels=custom_labels)
    check_attribute_keys(outputs[len(categories):], f"{where}: id2label")
    extra = config.get("policy_classifier", {})
    if not isinstance(extra, dict):
        raise ModelConfigError(f"{where}: policy_classifier must be an object, got {json.dumps(extra)}")
    section = f"{where}: policy_classifier"
    _no_section_context(extra.get("section_context", False), section)
    return {
        "labels": outputs,
        "thresholds": check_thresholds(extra.get("thresholds"), len(outputs), section),
        "max_length": _max_length(extra.get("max_length", 256), config.get("max_position_embeddings"), section),
        "tfidf_weight": _weight(extra.get("tfidf_weight", 0.0), section),
    }


def check_attribute_keys(keys: list[Any], where: str) -> None:
    """Attribute outputs (after the categories) must be keys of the attribute schema."""
    from classifier.attributes import split_key

    for key in keys:
        if not isinstance(key, str) or "/" not in key:
            raise ModelConfigError(f"{where}: the attribute outputs must come after the categories")
        try:
            split_key(key)
        except ValueError as exc:
            raise ModelConfigError(f"{where}: {exc}") from None


def refuse_remote_code(directory: Path) -> None:
    """Refuse a model or encoder folder whose configs name Python code of its own (``auto_map``).

    Checked before transformers sees the folder: given such a folder, transformers would ask on the terminal whether
    to run that code, and this tool never does.

    Raises:
        ModelConfigError: ``config.json`` or ``tokenizer_config.json`` has ``auto_map``, or is not a JSON object.
    """
    for name in ("config.json", "tokenizer_config.json"):
        path = directory / name
        if path.exists() and "auto_map" in _json_object(path):
            raise ModelConfigError(f"{path}: has auto_map, i.e. asks to run Python code shipped with the model; "
                                   "this tool never runs a model's own code")


def _json_object(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelConfigError(f"{path}: unreadable ({' '.join(str(exc).split())})") from None
    if not isinstance(content, dict):
        raise ModelConfigError(f"{path}: must hold a JSON object, got a {type(content).__name__}")
    return content


def _check_model_type(model_type: Any, where: str) -> None:
    from transformers import CONFIG_MAPPING

    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ModelConfigError(f"{where}: model_type {model_type!r} is not an architecture transformers knows")


def _max_length(value: Any, positions: Any, where: str) -> int:
    limit = positions if isinstance(positions, int) and not isinstance(positions, bool) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_MAX_LENGTH or (
            limit is not None and value > limit):
        bound = f"{MIN_MAX_LENGTH}..{limit}" if limit is not None else f"at least {MIN_MAX_LENGTH}"
        raise ModelConfigError(f"{where}.max_length is {value!r}; it must be an integer {bound} (the encoder's "
                               "positions)")
    return value


def _weight(value: Any, where: str) -> float:
    if not _number(value) or not 0.0 <= value <= 1.0:
        raise ModelConfigError(f"{where}.tfidf_weight is {value!r}; it must be a number in [0, 1]")
    return float(value)


def _no_section_context(value: Any, where: str) -> None:
    # Models read with their section heading in front were an experiment (not adopted, removed in 0.2): such a
    # model would silently get other inputs than it was trained on, so it is refused.
    if value is not False:
        raise ModelConfigError(f"{where}.section_context is {value!r}; models trained with section context are no "
                               "longer supported")
