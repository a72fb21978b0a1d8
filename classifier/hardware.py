"""Hardware probes, in one place: the device to run on, what the CPU can do fast, and versions for the records.

Every probe is read-only: nothing here changes torch's settings or the environment.
"""

from __future__ import annotations

__all__ = ["amx_available", "bf16_is_fast", "cpu_flags", "cpu_name", "gpu_driver_present", "int8_available",
           "library_versions", "resolve_device"]

# Where the Linux kernel lists the CPU's model and features (read at each call; absent elsewhere).
CPUINFO = "/proc/cpuinfo"


def resolve_device(device: str | None) -> str:
    """Return ``device`` or, for ``None``/``"auto"``, ``"cuda"`` when a GPU is present and ``"cpu"`` otherwise."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no GPU is available")
    return device


def gpu_driver_present() -> bool:
    """Whether an NVIDIA or ROCm driver is loaded (checked without importing torch, which takes a second): where
    none is, :func:`resolve_device` would say ``"cpu"``."""
    from pathlib import Path

    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/kfd").exists()


def int8_available() -> bool:
    import torch

    try:
        return bool({"x86", "fbgemm", "qnnpack"} & set(torch.backends.quantized.supported_engines))
    except AttributeError:
        return False


def amx_available() -> bool:
    """Whether the CPU has AMX tiles (Intel Sapphire Rapids and later), where bf16 matrix products run in hardware."""
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a private torch helper: treat its absence as "no AMX"
        return False


def _cpuinfo(field: str) -> str:
    """The first value of ``field`` in the Linux kernel's /proc/cpuinfo ('' elsewhere, or when unreadable)."""
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return ""


def cpu_flags() -> set[str]:
    """The CPU feature flags the Linux kernel reports (empty elsewhere, or when they cannot be read)."""
    return set(_cpuinfo("flags").split())


def cpu_name() -> str:
    """The CPU's model name, for records of where a run or a benchmark ran."""
    import platform

    return _cpuinfo("model name") or platform.processor() or platform.machine()


def bf16_is_fast(device: str) -> bool:
    """Whether bf16 autocast makes training faster than fp32 on ``device``.

    On CPU only bf16 matrix hardware counts (AMX tiles, or the AVX512_BF16 dot-product instructions): AVX-512
    alone, as on Skylake/Cascade Lake, emulates bf16 and is slower than fp32.
    """
    import torch

    if device.startswith("cuda"):
        try:  # pre-Ampere GPUs (T4, V100) only emulate bf16, which torch counts as support by default
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # a torch without the argument counts native support only
            return bool(torch.cuda.is_bf16_supported())
    return amx_available() or bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def library_versions() -> dict[str, str]:
    """Return the versions of the libraries a model was saved with."""
    import importlib.metadata as md

    versions = {}
    for name in ("policy-clause-classifier", "torch", "transformers", "tokenizers", "safetensors", "datasets",
                 "scikit-learn"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions
