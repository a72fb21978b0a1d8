"""TF-IDF + logistic regression baseline (one-vs-rest), saved without pickle.

Features are two TF-IDF blocks, each L2-normalised: word uni- and bi-grams, and character 2-5-grams inside word
boundaries (scikit-learn's ``char_wb``), which catch spelling variants, plurals and compounds ("cookie",
"cookies", "third-party") that the word block splits apart. Fitting uses scikit-learn; a saved baseline is plain
data (``vocab.json``, ``char_vocab.json``, ``config.json`` and a safetensors file with the idf vector and the
per-label weights), and prediction needs only numpy, so loading it never executes code from the file.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.files import umask_mode
from classifier.models.base import (
    ModelLoadError,
    ParagraphModel,
    check_batch_size,
    check_texts,
    read_calibration,
    save_extras,
)
from classifier.text.reading import normalize_text

__all__ = ["TfidfBaseline"]

# Fitting settings; _analyze, _char_grams and TfidfBaseline._logits reproduce what they mean at prediction time.
_VECTORIZER: dict[str, Any] = {"ngram_range": (1, 2), "min_df": 2, "max_df": 0.9, "sublinear_tf": True,
                               "lowercase": True, "strip_accents": "unicode"}
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
# Chosen on the out-of-fold predictions of the README's 5-fold cross-validation (OPP-115 macro-F1 of the
# MiniLM + TF-IDF average): word-only features 0.787, word + char 2-5-grams 0.797-0.800 for C 4-20 and char ranges
# 2-5, 3-5, 2-6 alike; C=10 sits in the middle of that plateau.
DEFAULT_C = 10.0
DEFAULT_CHAR_NGRAMS = (2, 5)
# The most frequent terms kept per block (words, character n-grams). On OPP-115 and the seeds alone the blocks hold
# 25k and 33k terms, under the cap; trained on every corpus they grew to 138k and 118k, and the model to 12 MB,
# which the shipped model's 50 MB could not hold. 40k + 40k terms keep it near 3 MB.
DEFAULT_MAX_FEATURES = 40_000
# Attribute outputs (#29): one logistic regression per value, refitted on its ATTRIBUTE_TERMS strongest terms so
# that 66 outputs weigh about 0.6 MB. On the OPP-115 folds of `cv-opp-attr` (paragraph micro-F1, personal
# information type / purpose / third-party entity): every term at C 10 0.685 / 0.656 / 0.555, at C 3 0.689 / 0.657 /
# 0.566; the 1,500 strongest refitted 0.681 / 0.646 / 0.565 (kept without refitting: 0.654 / 0.620 / 0.471).
# Thresholds stay at 0.5 with balanced class weights: tuned per value on out-of-fold rows they lost 0.5-3 points.
ATTRIBUTE_C = 3.0
ATTRIBUTE_TERMS = 1_500


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _analyze(text: str) -> list[str]:
    """Words and word bigrams of a text, as scikit-learn's word analyzer gives them for :data:`_VECTORIZER`."""
    words = _TOKEN.findall(_strip_accents(text.lower()))
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


_HASH_MULT = 0x100000001B3  # the 64-bit FNV prime: any odd multiplier mixes code points well enough here
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


def _padded_words(text: str) -> str:
    """A text lower-cased, accent-stripped and with its words padded by single spaces: ``" w1 w2 "``."""
    return " " + " ".join(_strip_accents(text.lower()).split()) + " "


def _gram_hash(gram: str) -> int:
    """The 64-bit polynomial hash of one n-gram that :func:`_char_counts` computes for every window at once."""
    value = 1  # a start of 1, not 0, keeps n-grams of different lengths apart
    for ch in gram:
        value = (value * _HASH_MULT + ord(ch)) & _MASK64
    return value


class _HashTable:
    """An open-addressing table from 64-bit n-gram hashes to feature columns, looked up for many hashes at once.

    Three to four times faster than a binary search over the sorted hashes for the ~1,500 windows of a paragraph.
    Kept at most a quarter full so that most lookups end at the first slot; the key 0 marks an empty slot (an
    n-gram whose hash is 0, a 2**-64 chance, would go unfound).
    """

    _MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads the low bits, where the last code point sits

    def __init__(self, hashes: Sequence[int], columns: Sequence[int]) -> None:
        bits = max(4, (4 * len(hashes)).bit_length())
        self._shift, self._mask = np.uint64(64 - bits), (1 << bits) - 1
        keys, values = [0] * (1 << bits), [-1] * (1 << bits)
        for key, column, slot in zip(hashes, columns, self._slots(np.array(hashes, dtype=np.uint64)).tolist(),
                                     strict=True):
            while keys[slot] != 0:
                slot = (slot + 1) & self._mask
            keys[slot], values[slot] = key, column
        self._keys = np.array(keys, dtype=np.uint64)
        self._values = np.array(values, dtype=np.int64)

    def _slots(self, hashes: np.ndarray) -> np.ndarray:
        return ((hashes * self._MIX) >> self._shift).astype(np.int64)  # wraps modulo 2**64

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """The column of each hash, -1 where it is not in the table."""
        out = np.full(len(hashes), -1, dtype=np.int64)
        pending, slots = np.arange(len(hashes)), self._slots(hashes)
        while len(pending):
            keys = self._keys[slots]
            hit = keys == hashes[pending]
            out[pending[hit]] = self._values[slots[hit]]
            probing = ~hit & (keys != 0)  # an occupied slot holding another key: try the next one
            pending, slots = pending[probing], (slots[probing] + 1) & self._mask
        return out


def _char_counts(texts: Sequence[str], ngrams: tuple[int, int], table: _HashTable,
                 width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count the vocabulary's character n-grams in each text, as scikit-learn's ``char_wb`` analyzer would.

    ``char_wb`` takes the n-grams of each word padded as ``" word "``; in :func:`_padded_words` those are exactly the
    windows with no space inside them (for a smallest n of 2 or 3). A fitted vocabulary holds no other windows, so
    hashing every window of every text with numpy and looking the hashes up in ``table`` (columns below ``width``)
    gives scikit-learn's counts, several times faster than slicing strings in Python.

    Returns:
        ``(rows, cols, counts)`` of the non-zero counts, sorted by row.
    """
    padded = [_padded_words(t) for t in texts]
    starts = np.cumsum([0] + [len(p) + 1 for p in padded[:-1]])
    # NUL between texts: windows across two texts hold it, and no vocabulary n-gram does
    codes = np.frombuffer("\0".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    window = np.ones(len(codes) + 1, dtype=np.uint64)
    found, cols = [], []
    for n in range(1, ngrams[1] + 1):
        window = window[: len(codes) - n + 1] * np.uint64(_HASH_MULT) + codes[n - 1:]  # wraps modulo 2**64
        if n >= ngrams[0]:
            columns = table.lookup(window)
            hit = columns >= 0
            found.append(np.flatnonzero(hit))
            cols.append(columns[hit])
    rows = np.searchsorted(starts, np.concatenate(found), side="right") - 1
    keys, counts = np.unique(rows * width + np.concatenate(cols), return_counts=True)
    return keys // width, keys % width, counts


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def _logistic(c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=2000, solver="liblinear", random_state=seed)


def _fit_outputs(x: Any, y: np.ndarray, mask: np.ndarray | None, *, c: float, seed: int,
                 sample_weight: np.ndarray | None, terms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(coef, intercept)`` of one balanced logistic regression per column of ``y`` on the TF-IDF rows ``x``, each
    on the rows ``mask`` says decide it; a column without both classes gets a constant score. With ``terms``, each
    regression is fitted again on its ``terms`` largest weights' columns, the others left at 0 (stored sparse)."""
    coef = np.zeros((y.shape[1], x.shape[1]))
    intercept = np.full(y.shape[1], -10.0)
    for j in range(y.shape[1]):
        rows = np.flatnonzero(mask[:, j] > 0) if mask is not None else np.arange(len(y))
        target = y[rows, j] > 0.5
        if target.all() or not target.any():
            intercept[j] = 10.0 if target.all() and target.size else -10.0
            continue
        weight = None if sample_weight is None else sample_weight[rows]
        columns = np.arange(x.shape[1])
        model = _logistic(c, seed).fit(x[rows], target, sample_weight=weight)
        if terms is not None and len(columns) > terms:
            columns = np.sort(np.argsort(-np.abs(model.coef_[0]), kind="stable")[:terms])
            model = _logistic(c, seed).fit(x[rows][:, columns], target, sample_weight=weight)
        coef[j, columns], intercept[j] = model.coef_[0], model.intercept_[0]
    return coef, intercept


def _add_dense(out: np.ndarray, coef_t: np.ndarray, rows: np.ndarray, cols: np.ndarray,
               weights: np.ndarray) -> None:
    """Add the features ``(rows, cols, weights)`` times the weights ``coef_t`` (one row per term) to ``out``."""
    contributions = weights[:, None] * coef_t[cols]
    firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # rows arrive sorted
    out[rows[firsts]] += np.add.reduceat(contributions, firsts, axis=0)


def _add_sparse(out: np.ndarray, by_term: tuple[np.ndarray, np.ndarray, np.ndarray], rows: np.ndarray,
                cols: np.ndarray, weights: np.ndarray) -> None:
    """:func:`_add_dense` for weights stored by term (``indptr``, output, weight): only the pairs that are not 0."""
    indptr, outputs, values = by_term
    starts, lengths = indptr[cols], indptr[cols + 1] - indptr[cols]
    total = int(lengths.sum())
    if not total:
        return
    hit = np.repeat(np.arange(len(cols)), lengths)  # the feature each stored weight multiplies
    position = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths) + starts[hit]
    flat = rows[hit] * out.shape[1] + outputs[position]
    out += np.bincount(flat, weights=weights[hit] * values[position], minlength=out.size).reshape(out.shape)


def _char_vectorizer(ngrams: Sequence[int]) -> dict[str, Any]:
    """scikit-learn ``TfidfVectorizer`` settings of the character block."""
    return {**_VECTORIZER, "analyzer": "char_wb", "ngram_range": (int(ngrams[0]), int(ngrams[1]))}


class TfidfBaseline(ParagraphModel):
    """One-vs-rest logistic regression on word and character n-gram TF-IDF, with per-label thresholds.

    It offers the same ``predict``/``predict_proba``/``save_pretrained``/``from_pretrained`` surface as
    :class:`~classifier.models.transformer.PolicyClassifier`, so the evaluation harness and the CLI treat both alike.
    """

    kind = "tfidf"

    def __init__(self, labels: Sequence[str], vocabulary: dict[str, int], idf: np.ndarray, coef: np.ndarray,
                 intercept: np.ndarray, thresholds: Sequence[float] | None = None,
                 char_vocabulary: dict[str, int] | None = None,
                 char_ngrams: Sequence[int] | None = None, attribute_keys: Sequence[str] = (),
                 attribute_coef: np.ndarray | None = None, attribute_intercept: np.ndarray | None = None,
                 attribute_thresholds: Sequence[float] | None = None) -> None:
        """Build from fitted arrays (see :meth:`fit`): ``idf`` and ``coef`` columns cover the word terms first,
        then the character n-grams, whose ``char_vocabulary`` indices start after the words'. Attribute outputs
        (``attribute_keys``, see :func:`classifier.attributes.split_key`) have their own weights and thresholds."""
        self.labels = list(labels)
        self.vocabulary = vocabulary
        self.char_vocabulary = char_vocabulary or {}
        self.char_ngrams = (int(char_ngrams[0]), int(char_ngrams[1])) if char_ngrams else None
        self.idf = idf.astype(np.float64)
        self.coef = coef.astype(np.float64)
        self.intercept = intercept.astype(np.float64)
        self.thresholds = list(thresholds) if thresholds is not None else [0.5] * len(self.labels)
        self._coef_t = np.ascontiguousarray(self.coef.T)  # one row per term: a paragraph's terms gather fast
        self.attribute_keys = list(attribute_keys)
        n_attributes = len(self.attribute_keys)
        self.attribute_coef = (attribute_coef.astype(np.float32) if attribute_coef is not None
                               else np.zeros((n_attributes, len(self.idf)), dtype=np.float32))
        self.attribute_intercept = (attribute_intercept.astype(np.float64) if attribute_intercept is not None
                                    else np.full(n_attributes, -10.0))
        self.attribute_thresholds = (list(attribute_thresholds) if attribute_thresholds is not None
                                     else [0.5] * n_attributes)
        # by term: each term's attribute outputs and weights (CSR), since each output uses few terms
        terms, outputs = np.nonzero(self.attribute_coef.T)
        self._attribute_by_term = (np.searchsorted(terms, np.arange(len(self.idf) + 1)), outputs,
                                   self.attribute_coef[outputs, terms].astype(np.float64))
        self._char_table = _HashTable([_gram_hash(gram) for gram in self.char_vocabulary],
                                      list(self.char_vocabulary.values()))

    @classmethod
    def fit(cls, texts: Sequence[str], y: np.ndarray, labels: Sequence[str], *, c: float = DEFAULT_C,
            char_ngrams: tuple[int, int] | None = DEFAULT_CHAR_NGRAMS, seed: int = 13, mask: np.ndarray | None = None,
            sample_weight: np.ndarray | None = None, max_features: int | None = DEFAULT_MAX_FEATURES,
            attributes: tuple[np.ndarray, np.ndarray, Sequence[str]] | None = None) -> TfidfBaseline:
        """Fit on texts and a ``(n, k)`` 0/1 matrix; labels without positives get a constant low score.

        Args:
            c: inverse regularisation strength of each label's logistic regression.
            char_ngrams: smallest and largest character n-gram, or ``None`` for word features only.
            mask: ``(n, k)`` 0/1, the known cells (partial labels): each label's regression is fitted on the rows
                that decide it; the vocabulary on every text.
            sample_weight: ``(n,)`` weight of each row (corpus weights).
            max_features: the most frequent terms kept in each block (``None``: every term seen twice).
            attributes: ``(targets, known, keys)``: attribute outputs to learn too, two ``(n, len(keys))`` 0/1
                arrays (:func:`classifier.data.attributes.attribute_targets`); each value's regression is fitted on
                the rows that decide it, then again on its :data:`ATTRIBUTE_TERMS` strongest terms.

        Raises:
            ValueError: a character range that does not start at 2 or 3 (see :func:`_char_grams`).
        """
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        # _char_counts reproduces scikit-learn's char_wb counts only from a smallest n of 2 or 3
        if char_ngrams is not None and not (2 <= char_ngrams[0] <= 3 and char_ngrams[0] <= char_ngrams[1]):
            raise ValueError(f"char_ngrams must start at 2 or 3 and not end before it, got {char_ngrams}")
        normalized = [normalize_text(t) for t in texts]
        vectorizer = TfidfVectorizer(**_VECTORIZER, max_features=max_features)
        x = vectorizer.fit_transform(normalized)
        vocabulary = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        idf, char_vocabulary = vectorizer.idf_, {}
        if char_ngrams is not None:
            chars = TfidfVectorizer(**_char_vectorizer(char_ngrams), max_features=max_features)
            x = hstack([x, chars.fit_transform(normalized)]).tocsr()
            char_vocabulary = {gram: len(vocabulary) + int(i) for gram, i in chars.vocabulary_.items()}
            idf = np.concatenate([idf, chars.idf_])
        coef, intercept = _fit_outputs(x, y, mask, c=c, seed=seed, sample_weight=sample_weight)
        extra: dict[str, Any] = {}
        if attributes is not None:
            targets, known, keys = attributes
            attribute_coef, attribute_intercept = _fit_outputs(x, targets, known, c=ATTRIBUTE_C, seed=seed,
                                                               sample_weight=sample_weight, terms=ATTRIBUTE_TERMS)
            extra = {"attribute_keys": keys, "attribute_coef": attribute_coef,
                     "attribute_intercept": attribute_intercept}
        return cls(labels, vocabulary, idf, coef, intercept, char_vocabulary=char_vocabulary,
                   char_ngrams=char_ngrams, **extra)

    def _logits(self, texts: Sequence[str], *, chunk: int = 512,
                attributes: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """TF-IDF features times the weights, computed with numpy alone: the categories' logits, and the attribute
        outputs' when asked (``None`` otherwise).

        The same arithmetic as scikit-learn's ``TfidfVectorizer`` for each block (tested against it), but without
        importing scikit-learn and scipy, which took a second of a one-policy CLI run.
        """
        out = np.tile(self.intercept, (len(texts), 1))
        attribute_out = np.tile(self.attribute_intercept, (len(texts), 1)) if attributes else None
        for begin in range(0, len(texts), chunk):  # bounded memory for the character windows
            part = [normalize_text(t) for t in texts[begin:begin + chunk]]
            blocks = [self._word_counts(part)]
            if self.char_ngrams is not None:
                blocks.append(_char_counts(part, self.char_ngrams, self._char_table, len(self.idf)))
            for rows, cols, counts in blocks:
                if not len(rows):
                    continue
                weights = self._tfidf(rows, cols, counts)
                _add_dense(out[begin:begin + chunk], self._coef_t, rows, cols, weights)
                if attribute_out is not None:
                    _add_sparse(attribute_out[begin:begin + chunk], self._attribute_by_term, rows, cols, weights)
        return out, attribute_out

    def _word_counts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, counts)`` of the vocabulary's words and word bigrams in each text."""
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        for row, text in enumerate(texts):
            found: dict[int, int] = {}
            for index in map(self.vocabulary.get, _analyze(text)):
                if index is not None:
                    found[index] = found.get(index, 0) + 1
            rows.extend([row] * len(found))
            cols.extend(found)
            counts.extend(found.values())
        return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(counts, dtype=np.int64)

    def _tfidf(self, rows: np.ndarray, cols: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """One block's feature values: sublinear tf times idf, L2-normalised per row."""
        weights = (1.0 + np.log(counts)) * self.idf[cols]
        return weights / np.sqrt(np.bincount(rows, weights * weights))[rows]

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = 1024) -> np.ndarray:
        """Return an ``(n, k)`` probability matrix (``batch_size`` is checked but unused: numpy takes all)."""
        check_batch_size(batch_size)
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return _sigmoid(self._logits(texts)[0])

    def predict_scores(self, texts: list[str], *,
                       batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray | None]:
        """The categories' probabilities and, for a model with attribute outputs, theirs (one pass over the
        texts' terms)."""
        if not self.attribute_keys:
            return self.predict_proba(texts, batch_size=batch_size), None
        check_batch_size(batch_size)
        texts = check_texts(texts)
        if not texts:
            return (np.zeros((0, len(self.labels)), dtype=np.float32),
                    np.zeros((0, len(self.attribute_keys)), dtype=np.float32))
        categories, attributes = self._logits(texts, attributes=True)
        assert attributes is not None  # asked for
        return _sigmoid(categories), _sigmoid(attributes)

    def save_pretrained(self, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None,
                        half: bool = False) -> Path:
        """Write ``config.json``, ``vocab.json`` and ``weights.safetensors`` (and ``metrics.json``) to a directory.

        ``half`` stores the coefficient matrix in fp16 (half the size; loading casts it back). Attribute outputs'
        weights are stored sparse (each value's non-zero terms, row after row). Returns the directory.
        """
        from safetensors.numpy import save_file

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {"kind": self.kind, "labels": self.labels, "thresholds": self.thresholds,
                                  "vectorizer": {**_VECTORIZER, "ngram_range": [1, 2]},
                                  "char_vectorizer": ({**_char_vectorizer(self.char_ngrams),
                                                       "ngram_range": list(self.char_ngrams)}
                                                      if self.char_ngrams else None)}
        if self.attribute_keys:
            config |= {"attribute_keys": self.attribute_keys, "attribute_thresholds": self.attribute_thresholds}
        (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (directory / "vocab.json").write_text(json.dumps(self.vocabulary, ensure_ascii=False))
        if self.char_ngrams:
            (directory / "char_vocab.json").write_text(json.dumps(self.char_vocabulary, ensure_ascii=False))
        dtype = np.float16 if half else np.float32
        tensors: dict[str, np.ndarray] = {"idf": self.idf.astype(np.float32), "coef": self.coef.astype(dtype),
                                           "intercept": self.intercept.astype(np.float32)}
        if self.attribute_keys:
            rows, columns = np.nonzero(self.attribute_coef)
            tensors |= {"attribute_indptr": np.searchsorted(rows, np.arange(len(self.attribute_keys) + 1)),
                        "attribute_indices": columns.astype(np.int32),
                        "attribute_values": self.attribute_coef[rows, columns].astype(dtype),
                        "attribute_intercept": self.attribute_intercept.astype(np.float32)}
        save_file(tensors, str(directory / "weights.safetensors"))
        umask_mode(directory / "weights.safetensors")
        save_extras(directory, self.calibration, metrics)
        return directory

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], *, custom_labels: bool = False) -> TfidfBaseline:
        """Load a directory written by :meth:`save_pretrained` (``custom_labels`` as in
        :meth:`PolicyClassifier.from_pretrained`).

        Raises:
            ModelLoadError: missing or corrupt files, unknown labels or thresholds not in [0, 1].
        """
        from safetensors.numpy import load_file

        from classifier.models.config import ModelConfigError, check_labels, check_thresholds

        directory = Path(path)
        try:
            config = json.loads((directory / "config.json").read_text())
            vocabulary = json.loads((directory / "vocab.json").read_text())
            char_config = config.get("char_vectorizer")  # absent from baselines saved before character n-grams
            char_ngrams = char_config["ngram_range"] if char_config else None
            char_vocabulary = json.loads((directory / "char_vocab.json").read_text()) if char_config else {}
            tensors = load_file(str(directory / "weights.safetensors"))
        except Exception as exc:  # missing file, bad JSON or bad safetensors header: one line for the user
            raise ModelLoadError(f"{directory}: cannot load TF-IDF baseline ({exc})") from None
        if not isinstance(config, dict) or config.get("kind") != cls.kind:
            raise ModelLoadError(f"{directory}: not a TF-IDF baseline")
        try:
            labels = check_labels(config.get("labels"), f"{directory}/config.json", custom_labels=custom_labels)
            thresholds = check_thresholds(config.get("thresholds"), len(labels), f"{directory}/config.json")
        except ModelConfigError as exc:
            raise ModelLoadError(str(exc)) from None
        n_terms, n_labels = len(tensors["idf"]), len(config["labels"])
        if (tensors["coef"].shape != (n_labels, n_terms) or tensors["intercept"].shape != (n_labels,)
                or any(not 0 <= i < n_terms for i in itertools.chain(vocabulary.values(), char_vocabulary.values()))):
            raise ModelLoadError(f"{directory}: TF-IDF files do not fit together (vocabulary, idf and weights differ "
                                 "in size)")
        model = cls(labels, vocabulary, tensors["idf"], tensors["coef"], tensors["intercept"],
                    thresholds, char_vocabulary=char_vocabulary, char_ngrams=char_ngrams,
                    **_attribute_outputs(config, tensors, n_terms, directory))
        model.calibration = read_calibration(directory, model.labels)
        return model

    @staticmethod
    def is_baseline_dir(path: str | os.PathLike[str]) -> bool:
        """True when ``path`` holds a saved TF-IDF baseline."""
        config = Path(path) / "config.json"
        try:
            content = json.loads(config.read_text())
            return isinstance(content, dict) and content.get("kind") == TfidfBaseline.kind
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False


def _attribute_outputs(config: dict[str, Any], tensors: dict[str, np.ndarray], n_terms: int,
                       directory: Path) -> dict[str, Any]:
    """The attribute outputs of a saved model (none when it has none), the sparse weights made dense again.

    Raises:
        ModelLoadError: attribute keys, thresholds and weights that do not fit together.
    """
    keys = config.get("attribute_keys") or []
    if not keys:
        return {}
    from classifier.models.config import ModelConfigError, check_attribute_keys, check_thresholds

    try:
        if not isinstance(keys, list):
            raise ModelConfigError(f"{directory}/config.json: attribute_keys must be a list")
        check_attribute_keys(keys, f"{directory}/config.json: attribute_keys")
        thresholds = check_thresholds(config.get("attribute_thresholds"), len(keys), f"{directory}/config.json")
        indptr, indices = tensors["attribute_indptr"], tensors["attribute_indices"]
        values, intercept = tensors["attribute_values"], tensors["attribute_intercept"]
    except (ModelConfigError, KeyError, ValueError) as exc:
        raise ModelLoadError(f"{directory}: bad attribute outputs ({exc})") from None
    if (indptr.shape != (len(keys) + 1,) or intercept.shape != (len(keys),) or indptr[0] != 0
            or indptr[-1] != len(indices) or len(values) != len(indices) or np.any(np.diff(indptr) < 0)
            or (len(indices) and not 0 <= int(indices.min()) <= int(indices.max()) < n_terms)):
        raise ModelLoadError(f"{directory}: TF-IDF attribute weights do not fit together")
    coef = np.zeros((len(keys), n_terms), dtype=np.float32)
    coef[np.repeat(np.arange(len(keys)), np.diff(indptr)), indices] = values
    return {"attribute_keys": keys, "attribute_coef": coef, "attribute_intercept": intercept,
            "attribute_thresholds": thresholds}
