"""``PolicyClassifier``: a multi-label paragraph classifier over a fine-tuned transformer encoder.

A saved model is a directory that plain ``transformers`` can load (``AutoModelForSequenceClassification``,
``id2label`` in ``config.json``) plus what this project adds: per-label decision thresholds and the input length
in ``config.json`` (``policy_classifier`` key), ``train_config.json``, ``metrics.json`` and a ``README.md`` card.
Weights are only ever read with safetensors.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier import hardware
from classifier.files import umask_mode
from classifier.models.base import (
    DEFAULT_BATCH_SIZE,
    InferencePrecision,
    ModelLoadError,
    ParagraphModel,
    check_batch_size,
    check_texts,
    read_calibration,
)
from classifier.text.reading import normalize_text

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["DEFAULT_MODEL_DIR", "PolicyClassifier", "encode_texts", "pad_batch", "quiet_transformers",
           "shipped_model_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Inference precisions PolicyClassifier accepts (see from_pretrained).
PRECISIONS = tuple(p.value for p in InferencePrecision)
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
# torch's intra-op thread count is process-wide: streamed calls of different classifiers must not interleave.
_CPU_STREAMS_LOCK = threading.Lock()


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Tokenize normalised texts to input ids of at most ``max_length`` tokens.

    Texts longer than that keep their head and tail (three quarters head): privacy-policy paragraphs state the
    practice up front and often qualify it at the end, and measured OPP-115 segments are p50 75 / p99 275 tokens.
    """
    # The fast tokenizer's backend skips the python wrapper's per-call length warning (we cut long texts on
    # purpose below) without touching transformers' global logging on the hot path.
    backend = tokenizer.backend_tokenizer
    if backend.truncation is not None or backend.padding is not None:
        # Sentence-transformers checkpoints ship tokenizer.json with fixed 128-token truncation and padding, which
        # the backend applies on every call: pads would become content and long texts lose their tail. Turned off
        # once (idempotent), before the first encoding.
        backend.no_truncation()
        backend.no_padding()
    encodings = backend.encode_batch([normalize_text(t) for t in texts], add_special_tokens=False)
    encoded = [encoding.ids for encoding in encodings]
    budget = max_length - 2
    head = (budget * 3) // 4
    out = []
    for ids in encoded:
        if len(ids) > budget:
            ids = ids[:head] + ids[len(ids) - (budget - head):]
        out.append([tokenizer.cls_token_id, *ids, tokenizer.sep_token_id])
    return out


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars while loading or saving a model, then restore them.

    Used only around loading and saving (never on the prediction path): the head of a new classifier is expectedly
    missing from a base encoder, and that report would only alarm users.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def pad_batch(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a batch of id lists to its longest member; returns ``(input_ids, attention_mask)``."""
    import torch

    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = 1
    return input_ids, mask


class PolicyClassifier(ParagraphModel):
    """Label privacy-policy paragraphs.

    Use :meth:`from_pretrained` to load a saved model (the shipped one by default), :meth:`predict` for labels and
    scores, :meth:`predict_proba` for a probability matrix and :meth:`classify_document` for a whole policy.
    Calls are thread-safe. On a CPU, batches run in two streams by default (see :attr:`cpu_streams`): torch's
    process-wide intra-op thread count is divided between them while a call runs and restored afterwards; pass
    ``streams=1`` to leave it alone.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        thresholds: Sequence[float] | None = None,
        max_length: int = 256,
        device: str | None = None,
        precision: str = "auto",
        tfidf: Any = None,
        tfidf_weight: float = 0.0,
        streams: int | None = None,
    ) -> None:
        self.model = model
        # The float model is what gets saved: a quantized copy cannot be written back as plain weights.
        self._float_model = model
        self.tokenizer = tokenizer
        config = model.config
        # The head's outputs: the categories, then any attribute values ("purpose/advertising"; see
        # classifier.attributes.split_key), which one encoder learns beside them.
        self.outputs: list[str] = [config.id2label[i] for i in range(config.num_labels)]
        self.labels: list[str] = [name for name in self.outputs if "/" not in name]
        if any("/" not in name for name in self.outputs[len(self.labels):]):
            raise ValueError("a model's attribute outputs must come after its categories")
        self.output_thresholds = list(thresholds) if thresholds is not None else [0.5] * len(self.outputs)
        self.max_length = max_length
        self.device = hardware.resolve_device(device)
        # Optional TF-IDF member: probabilities are averaged, (1 - w) * transformer + w * tfidf.
        self.tfidf = tfidf
        self.tfidf_weight = float(tfidf_weight) if tfidf is not None else 0.0
        if streams is not None and streams < 1:
            raise ValueError(f"streams must be at least 1, got {streams}")
        self.streams = streams
        self.model.to(self.device)
        self.model.eval()
        self._lock = threading.Lock()
        self._onnx: Any = None
        self.precision = precision  # the property below: resolves "auto" and builds the bf16/int8/ONNX copy

    @property
    def output_thresholds(self) -> list[float]:
        """The thresholds of the head's outputs: :attr:`thresholds` (categories), then its attribute outputs'."""
        return [*self.thresholds, *self._head_attribute_thresholds]

    @output_thresholds.setter
    def output_thresholds(self, thresholds: Sequence[float]) -> None:
        if len(thresholds) != len(self.outputs):
            raise ValueError(f"{len(thresholds)} thresholds for {len(self.outputs)} outputs")
        self.thresholds = list(thresholds[:len(self.labels)])
        self._head_attribute_thresholds = list(thresholds[len(self.labels):])

    @property
    def _attribute_member(self) -> Any:
        """The TF-IDF member when it, not the head, has the attribute outputs (the shipped recipe, #29)."""
        has_head_outputs = len(self.outputs) > len(self.labels)
        return None if has_head_outputs or not getattr(self.tfidf, "attribute_keys", ()) else self.tfidf

    @property
    def attribute_keys(self) -> list[str]:  # type: ignore[override]
        """The attribute outputs: the head's after the categories, else the TF-IDF member's."""
        member = self._attribute_member
        return list(member.attribute_keys) if member is not None else self.outputs[len(self.labels):]

    @property
    def attribute_thresholds(self) -> list[float]:  # type: ignore[override]
        member = self._attribute_member
        return list(member.attribute_thresholds) if member is not None else self._head_attribute_thresholds

    @attribute_thresholds.setter
    def attribute_thresholds(self, thresholds: Sequence[float]) -> None:
        if len(thresholds) != len(self.attribute_keys):
            raise ValueError(f"{len(thresholds)} thresholds for {len(self.attribute_keys)} attribute outputs")
        member = self._attribute_member
        if member is not None:
            member.attribute_thresholds = list(thresholds)
        else:
            self._head_attribute_thresholds = list(thresholds)

    # --------------------------------------------------------------------------------------------- precision
    @property
    def precision(self) -> str:
        """The inference precision in use (``"auto"`` resolved on a CPU); see :meth:`from_pretrained`.

        Setting it rebuilds the inference copy from the float model (the bf16 weights, int8 quantization or ONNX
        session), so a change takes effect on the next call; do not set it while calls are running.

        Raises:
            ValueError: an unknown precision, or one the device cannot run (int8 and onnx-int8 are CPU-only).
        """
        return self._precision

    @precision.setter
    def precision(self, precision: str) -> None:
        if precision == "auto" and self.device == "cpu":
            # Measured on 2 cores (benchmarks/throughput.py, batch_dependence.py): with AMX, bf16 weights are the
            # fastest CPU path (1.6x int8) and change 2 of 41,525 label decisions against fp32. Elsewhere dynamic
            # int8: on an AVX2-only AMD EPYC it ran 1.6x fp32 and 10x emulated bf16 weights; on an earlier machine
            # it beat bf16 autocast; macro-F1 within 0.001 of fp32.
            if hardware.amx_available():
                precision = "bf16"
            elif hardware.int8_available():
                precision = "int8"
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision in ("int8", "onnx-int8") and self.device != "cpu":
            raise ValueError(f"{precision} runs on the CPU only")
        import torch

        with self._lock:
            model, onnx = self._float_model, None
            if precision == "onnx-int8":
                from classifier.models.onnx_backend import OnnxRunner

                # One session shared by the streams; each run stays on its calling thread when streams split the
                # cores.
                onnx = OnnxRunner(model, threads=max(1, torch.get_num_threads() // self.cpu_streams))
            elif precision == "bf16" and self.device == "cpu":
                import copy

                # Weights held in bf16 (a copy: the float model stays for save_pretrained). On a CPU this beats
                # autocast, which re-casts every fp32 weight on every forward pass.
                model = copy.deepcopy(model).to(torch.bfloat16)
            elif precision == "int8":
                # Dynamic int8 quantization of the Linear layers: weights int8, activations quantized on the fly.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch flags its eager quantization API as deprecated
                    model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            self.model, self._onnx, self._precision = model, onnx, precision

    # ----------------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        device: str | None = None,
        precision: str = "auto",
        streams: int | None = None,
        custom_labels: bool = False,
    ) -> PolicyClassifier:
        """Load a saved model directory (default: the shipped model in ``models/``).

        Args:
            path: a directory written by :meth:`save_pretrained`.
            device: ``"cpu"``, ``"cuda"`` or ``None`` for the GPU when present.
            precision: ``"auto"`` (on a CPU: bf16 weights where it has AMX, else int8; on a GPU: bf16 autocast
                where supported), ``"fp32"``, ``"bf16"`` (bf16 weights on a CPU, autocast on a GPU),
                ``"bf16-autocast"`` (fp32 weights, bf16 matrix products: what training validates with), ``"int8"``
                (torch dynamic quantization, CPU) or ``"onnx-int8"`` (ONNX Runtime, CPU, ``onnx`` extra).
            streams: CPU batches run side by side, each on its share of torch's threads (``None``: 2 when torch
                has at least 2 threads; 1 leaves torch's thread setting untouched). See :attr:`cpu_streams`.
            custom_labels: accept labels other than the project's (a ``--labels-from-data`` model, for
                ``evaluate``); the card view is then refused.

        Raises:
            ModelLoadError: the directory is missing, lacks a required file, holds corrupt weights, or its
                ``config.json`` is invalid: not an object, an ``auto_map`` (code shipped with the model, never run),
                an unknown architecture, a missing or unknown label, a threshold not in [0, 1], a ``max_length``
                past the encoder's positions (see :mod:`classifier.models.config`).
            ValueError: an unknown precision, or a CPU-only precision on a GPU.
        """
        directory = Path(path) if path is not None else shipped_model_dir()
        if not directory.is_dir():
            raise ModelLoadError(f"model directory not found: {directory}")
        missing = [name for name in _REQUIRED_FILES if not (directory / name).is_file()]
        if missing:
            raise ModelLoadError(f"{directory}: not a saved model (missing {', '.join(missing)})")
        from classifier.models.config import ModelConfigError, read_transformer_config

        try:  # before transformers sees the folder: it would offer to run code named by auto_map
            settings = read_transformer_config(directory, custom_labels=custom_labels)
        except ModelConfigError as exc:
            raise ModelLoadError(str(exc)) from None
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            with quiet_transformers():
                # local_files_only: a folder that fails to load is reported, never looked up on a model hub
                tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=False, local_files_only=True)
                model = AutoModelForSequenceClassification.from_pretrained(
                    directory, use_safetensors=True, dtype=torch.float32, trust_remote_code=False,
                    local_files_only=True,
                )
        except Exception as exc:  # transformers raises many types for corrupt files; report one line
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"{directory}: cannot load model ({reason})") from None
        tfidf = None
        if (directory / "tfidf").is_dir():  # averaged in (tfidf_weight), or the attribute outputs' model, or both
            from classifier.models.tfidf import TfidfBaseline

            tfidf = TfidfBaseline.from_pretrained(directory / "tfidf", custom_labels=custom_labels)
            if tfidf.labels != [label for label in settings["labels"] if "/" not in label]:
                raise ModelLoadError(f"{directory}/tfidf: its labels differ from the transformer's")
        classifier = cls(model, tokenizer, thresholds=settings["thresholds"], max_length=settings["max_length"],
                         device=device, precision=precision, tfidf=tfidf, tfidf_weight=settings["tfidf_weight"],
                         streams=streams)
        classifier.calibration = read_calibration(directory, classifier.labels)
        return classifier

    def save_pretrained(
        self,
        path: str | os.PathLike[str],
        *,
        half: bool = False,
        train_config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        card: str | None = None,
    ) -> Path:
        """Save weights (safetensors), tokenizer, labels, thresholds and provenance to a directory.

        Args:
            path: target directory (created).
            half: store weights in fp16 (half the size; loading casts back to fp32).
            train_config: written to ``train_config.json``.
            metrics: written to ``metrics.json``.
            card: Markdown model card written to ``README.md``.

        Returns:
            The directory.
        """
        import torch

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        model = self._float_model
        config = model.config
        config.problem_type = "multi_label_classification"
        config.policy_classifier = {
            "thresholds": [round(float(t), 4) for t in self.output_thresholds],
            "max_length": self.max_length,
            "tfidf_weight": self.tfidf_weight,
            "versions": hardware.library_versions(),
        }
        if self.tfidf is not None:
            self.tfidf.save_pretrained(directory / "tfidf", half=half)
        if self.calibration is not None:
            self.calibration.save(directory)
        with quiet_transformers():
            if half:
                state = {k: v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()
                         for k, v in model.state_dict().items()}
                model.save_pretrained(directory, state_dict=state, safe_serialization=True)
                config_json = json.loads((directory / "config.json").read_text())
                config_json["dtype"] = "float16"
                (directory / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")
            else:
                model.save_pretrained(directory, safe_serialization=True)
            self.tokenizer.save_pretrained(directory)
        umask_mode(*directory.glob("*.safetensors"))
        for name, content in (("train_config.json", train_config), ("metrics.json", metrics)):
            if content is not None:
                (directory / name).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
        if card is not None:
            (directory / "README.md").write_text(card, encoding="utf-8")
        return directory

    # -------------------------------------------------------------------------------------------- inference
    def _autocast(self) -> Any:
        import contextlib

        import torch

        if self.precision == "bf16" and self.device == "cpu":
            return contextlib.nullcontext()  # the weights themselves are bf16
        wants_bf16 = self.precision in ("bf16", "bf16-autocast") or (
            self.precision == "auto" and hardware.bf16_is_fast(self.device))
        if not wants_bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda" if self.device.startswith("cuda") else "cpu", dtype=torch.bfloat16)

    @property
    def cpu_streams(self) -> int:
        """How many batches run side by side on the CPU.

        Measured on 2 cores (``benchmarks/throughput.py``): two single-threaded streams beat one two-threaded
        stream by 1.05-1.15x, because small per-batch matrix products parallelise poorly inside one operation.
        The torch and ONNX Runtime CPU paths use streams (an ONNX session gets its share of the threads when it
        is created); GPUs run one batch at a time.
        """
        import torch

        if self.device != "cpu":
            return 1
        if self.streams is not None:
            return self.streams
        return 2 if torch.get_num_threads() >= 2 else 1

    def _probabilities(self, ids: Sequence[Sequence[int]], batch_size: int,
                       beside: Callable[[], Any] | None = None) -> tuple[np.ndarray, Any]:
        """Transformer probabilities for token ids, and the result of ``beside`` (run as one more task in the
        streams, so that CPU work outside the transformer, the TF-IDF member, does not leave a core idle)."""
        import numpy as np
        import torch

        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # length-sorted batches cut padding
        batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
        out = np.zeros((len(ids), len(self.outputs)), dtype=np.float32)
        pad = self.tokenizer.pad_token_id or 0

        def run(chunk: list[int]) -> None:
            input_ids, mask = pad_batch([ids[i] for i in chunk], pad)
            # inference mode and autocast are per thread: entered here, in whichever thread runs the batch
            with torch.inference_mode(), self._autocast():
                if self._onnx is not None:
                    logits = torch.from_numpy(self._onnx(input_ids.numpy(), mask.numpy()))
                else:
                    logits = self.model(input_ids=input_ids.to(self.device),
                                        attention_mask=mask.to(self.device)).logits
                out[chunk] = torch.sigmoid(logits.float()).cpu().numpy()

        streams = min(self.cpu_streams, len(batches) + (beside is not None))
        if streams <= 1:
            with self._lock:
                for chunk in batches:
                    run(chunk)
            return out, beside() if beside is not None else None
        from concurrent.futures import ThreadPoolExecutor

        with self._lock, _CPU_STREAMS_LOCK:
            threads = torch.get_num_threads()
            torch.set_num_threads(max(1, threads // streams))
            try:
                with ThreadPoolExecutor(streams, thread_name_prefix="policy-classifier") as pool:
                    side = pool.submit(beside) if beside is not None else None
                    list(pool.map(run, batches))
                    side_result = side.result() if side is not None else None
            finally:
                torch.set_num_threads(threads)
        return out, side_result

    def predict_proba(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Return an ``(n_texts, n_labels)`` array of probabilities, columns in :attr:`labels` order (the attribute
        outputs are not computed)."""
        return self._scores(check_texts(texts), batch_size, attributes=False)[0]

    def predict_scores(self, texts: list[str], *,
                       batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray | None]:
        """The categories' probabilities (averaged with the TF-IDF member's) and the attribute outputs' (``None``
        for a model without them), from one pass of the encoder."""
        return self._scores(texts, batch_size, attributes=bool(self.attribute_keys))

    def _scores(self, texts: list[str], batch_size: int, *,
                attributes: bool) -> tuple[np.ndarray, np.ndarray | None]:
        import numpy as np

        check_batch_size(batch_size)
        texts = check_texts(texts)
        if not texts:
            return (np.zeros((0, len(self.labels)), dtype=np.float32),
                    np.zeros((0, len(self.attribute_keys)), dtype=np.float32) if attributes else None)
        member = self._attribute_member if attributes else None
        tfidf: Any = self.tfidf if self.tfidf is not None and (self.tfidf_weight > 0 or member is not None) else None
        side = ((lambda: tfidf.predict_scores(texts)) if member is not None
                else (lambda: (tfidf.predict_proba(texts), None)) if tfidf is not None else None)
        outputs, beside = self._probabilities(encode_texts(self.tokenizer, texts, self.max_length), batch_size,
                                              beside=side)
        probs = outputs[:, :len(self.labels)]
        if beside is not None and self.tfidf_weight > 0:
            probs = (1 - self.tfidf_weight) * probs + self.tfidf_weight * beside[0]
        if member is not None and beside is not None:
            return probs, beside[1]
        return probs, outputs[:, len(self.labels):] if attributes else None


def shipped_model_dir() -> Path:
    """The shipped model: inside the installed package (a wheel), else ``models/`` of a source checkout."""
    for candidate in (_PACKAGE_DIR / "shipped" / "policy-minilm", _PACKAGE_DIR.parent / "models" / "policy-minilm"):
        if candidate.is_dir():
            return candidate
    return _PACKAGE_DIR.parent / "models" / "policy-minilm"


DEFAULT_MODEL_DIR = shipped_model_dir()
