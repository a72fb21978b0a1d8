"""The partially annotated corpora by id: loading one split of MAPP, C3PA or APPSI-139, and telling which a
directory holds. Each corpus's loader and mapping table are in its own module and in ``classifier.labels``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["PARTIAL_CORPORA", "load_partial", "partial_corpus"]

# corpus id -> a file or folder only its directory has
PARTIAL_CORPORA = {"mapp": "English_consolidation", "c3pa": "Annotations", "appsi139": "train.txt"}


def load_partial(corpus: str, directory: str | Path | None, split: str) -> Dataset:
    """One split (``train``, ``test`` or ``all``) of a partially annotated corpus, by id.

    Raises:
        ValueError: an unknown corpus id or split.
        CorpusError: the corpus cannot be read.
    """
    from classifier.data.appsi139 import load_appsi139
    from classifier.data.c3pa import load_c3pa
    from classifier.data.mapp import load_mapp

    loaders = {"mapp": load_mapp, "c3pa": load_c3pa, "appsi139": load_appsi139}
    if corpus not in loaders:
        raise ValueError(f"unknown corpus {corpus!r} (one of {', '.join(loaders)})")
    return loaders[corpus](directory, split=split)


def partial_corpus(path: Path) -> str | None:
    """Which partially annotated corpus a directory holds, if any."""
    return next((name for name, marker in PARTIAL_CORPORA.items() if (path / marker).exists()), None)
