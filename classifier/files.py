"""Writing what the library saves: whole or not at all, with the modes an ordinary ``open()`` would give."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["atomic_write", "umask_mode"]


def umask_mode(*paths: str | os.PathLike[str]) -> None:
    """Give each file or directory the mode the process umask gives a new one (``0o666`` or ``0o777``, masked).

    safetensors 0.8 writes through a temporary file created ``0600`` and renamed into place (safetensors issue
    #782), and :func:`tempfile.mkdtemp` makes ``0700`` directories. Left so, a model trained by one user of a shared
    server, or saved into a container image as root, could not be loaded by anyone else, while its ``config.json``
    beside it could be read.

    Raises:
        OSError: a path is missing or its mode cannot be changed.
    """
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    for path in paths:
        os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~mask)


def atomic_write(path: str | os.PathLike[str], content: str | bytes) -> None:
    """Write ``content`` (str as UTF-8, or bytes) to ``path`` through a hidden temporary file beside it.

    The file is flushed to disk and renamed over ``path``, so a reader, or a run interrupted half-way, sees the old
    file or the new one, never a torn one.

    Raises:
        OSError: the directory is missing or not writable.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:  # an interrupt too: no stale temporary file beside the target
        tmp.unlink(missing_ok=True)
        raise
