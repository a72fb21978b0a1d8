"""File modes of what the library saves: the ones an ordinary ``open()`` would have given them."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["umask_mode"]


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
