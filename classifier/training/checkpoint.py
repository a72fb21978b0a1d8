"""Epoch checkpoints for resuming an interrupted training run, stored without pickle.

A checkpoint directory holds ``model.safetensors`` (current weights), ``best.safetensors`` (best weights so far),
``optimizer.safetensors`` (AdamW moments and steps), and ``state.json`` (epoch, history, best metrics, scheduler
state, and the random states that make the resumed run continue exactly as an uninterrupted one).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(directory: Path, *, model: Any, optimizer: Any, scheduler: Any, rng: random.Random,
                    state: dict[str, Any], best_state: dict[str, Any] | None) -> None:
    """Write a checkpoint atomically (to a temporary directory renamed into place)."""
    import shutil

    import torch
    from safetensors.torch import save_file, save_model

    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))  # stores a tied weight (an MLM decoder) once
    if best_state is not None:
        save_file({k: v.cpu().contiguous() for k, v in best_state.items()}, str(tmp / "best.safetensors"))
    optim = optimizer.state_dict()
    tensors = {f"{index}.{name}": value.detach().cpu().contiguous()
               for index, entry in optim["state"].items() for name, value in entry.items()}
    tensors["torch_rng"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    version, internal, gauss = rng.getstate()
    payload = {**state, "param_groups": optim["param_groups"], "scheduler": scheduler.state_dict(),
               "python_rng": [version, list(internal), gauss]}
    (tmp / "state.json").write_text(json.dumps(payload) + "\n")
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(directory: Path, *, model: Any, optimizer: Any, scheduler: Any,
                    rng: random.Random) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Restore a checkpoint into the given objects; returns ``(state, best weights or None)``."""
    import torch
    from safetensors.torch import load_file, load_model

    payload = json.loads((directory / "state.json").read_text())
    load_model(model, str(directory / "model.safetensors"))
    tensors = load_file(str(directory / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("torch_rng"))
    optim_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        optim_state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": optim_state, "param_groups": payload.pop("param_groups")})
    scheduler.load_state_dict(payload.pop("scheduler"))
    version, internal, gauss = payload.pop("python_rng")
    rng.setstate((version, tuple(internal), gauss))
    best_path = directory / "best.safetensors"
    return payload, (load_file(str(best_path)) if best_path.exists() else None)
