"""Optional ONNX Runtime int8 inference path (``precision="onnx-int8"``; needs the ``onnx`` extra).

The model is exported to ONNX once, quantized dynamically to int8 with ONNX Runtime, and cached under
``$POLICY_CLASSIFIER_CACHE`` (default ``~/.cache/policy-clause-classifier``) keyed by the weights' digest, so later
loads skip the export.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OnnxRunner", "cache_dir"]


def cache_dir() -> Path:
    """Where exported ONNX models are kept."""
    return Path(os.environ.get("POLICY_CLASSIFIER_CACHE", Path.home() / ".cache" / "policy-clause-classifier"))


def _digest(model: Any) -> str:
    sha = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        sha.update(name.encode())
        sha.update(tensor.detach().cpu().float().numpy().tobytes()[:4096])
        sha.update(str(tuple(tensor.shape)).encode())
    return sha.hexdigest()[:16]


class OnnxRunner:
    """Runs a sequence-classification model through ONNX Runtime (int8 weights) on the CPU."""

    def __init__(self, model: Any, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
            from onnxruntime.quantization import QuantType, quantize_dynamic
        except ImportError:
            raise ValueError("precision 'onnx-int8' needs onnxruntime: pip install 'policy-clause-classifier[onnx]'")\
                from None
        import torch

        target = cache_dir() / "onnx" / _digest(model)
        quantized = target / "model-int8.onnx"
        if not quantized.is_file():
            target.mkdir(parents=True, exist_ok=True)
            plain = target / "model.onnx"
            example = torch.ones((2, 8), dtype=torch.long)
            was_training = model.training
            model.eval()
            # The tracer's warnings concern Python branches on shapes that hold for every input here.
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model, (example, torch.ones_like(example)), str(plain), input_names=["input_ids",
                                                                                          "attention_mask"],
                    output_names=["logits"], opset_version=17, dynamo=False,
                    dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                  "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}},
                )
            model.train(was_training)
            tmp = target / "model-int8.tmp.onnx"
            # onnxruntime logs a pre-processing hint on the root logger: a filter there drops onnxruntime's own
            # records for the call, where logging.disable would silence every logger in the process.
            root = logging.getLogger()
            root.addFilter(_drop_onnxruntime_records)
            try:
                quantize_dynamic(str(plain), str(tmp), weight_type=QuantType.QInt8)
            finally:
                root.removeFilter(_drop_onnxruntime_records)
            os.replace(tmp, quantized)
            plain.unlink(missing_ok=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1  # one graph runs sequentially; parallelism comes from the caller's streams
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Return logits for int64 ``(batch, sequence)`` inputs."""
        return self.session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]


def _drop_onnxruntime_records(record: logging.LogRecord) -> bool:
    return "onnxruntime" not in record.pathname
