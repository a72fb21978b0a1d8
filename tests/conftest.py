"""Shared fixtures: paths to the real corpora and a tiny randomly initialised model built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POLICY_SHARED_DIR", ROOT.parent / "shared"))
SEEDS_DIR = SHARED / "seeds"
OPP115_DIR = SHARED / "opp115"


@pytest.fixture(scope="session")
def seed_files() -> list[Path]:
    files = sorted(SEEDS_DIR.glob("*.txt"))
    if len(files) != 5:
        pytest.skip(f"seed policies not found in {SEEDS_DIR}")
    return files


@pytest.fixture(scope="session")
def opp115_dir() -> Path:
    if not (OPP115_DIR / "sanitized_policies").is_dir():
        pytest.skip(f"OPP-115 not found in {OPP115_DIR}")
    return OPP115_DIR


@pytest.fixture(scope="session")
def opp115(opp115_dir: Path):
    from classifier.corpus import load_opp115

    return load_opp115(opp115_dir)
