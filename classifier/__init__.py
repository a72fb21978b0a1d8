"""policy-clause-classifier: label every paragraph of a privacy policy with OPP-115 categories.

The public API is re-exported here; heavy modules (torch, transformers, datasets) load on first use, so that
``import classifier`` and ``policy-classifier --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Paragraph": "classifier.text.segment",
    "segment_policy": "classifier.text.segment",
    "segment_text": "classifier.text.segment",
    "PolicyInputError": "classifier.text.reading",
    "read_policy": "classifier.text.reading",
    "normalize_text": "classifier.text.reading",
    "LABELS": "classifier.labels",
    "LABEL_IDS": "classifier.labels",
    "CARD_LABELS": "classifier.labels",
    "Scheme": "classifier.labels",
    "to_card": "classifier.labels",
    "load_opp115": "classifier.data.corpus",
    "load_jsonl": "classifier.data.corpus",
    "load_mapp": "classifier.data.mapp",
    "load_c3pa": "classifier.data.c3pa",
    "load_appsi139": "classifier.data.appsi139",
    "split_by_policy": "classifier.data.splits",
    "kfold_by_policy": "classifier.data.splits",
    "load_seed_corpus": "classifier.data.seed_corpus",
    "validate_seed_corpus": "classifier.data.seed_corpus",
    "PolicyClassifier": "classifier.models.transformer",
    "load_paragraph_model": "classifier.models.base",
    "Prediction": "classifier.models.transformer",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'classifier' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
