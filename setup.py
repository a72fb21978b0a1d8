"""Build hook: a wheel (or a non-editable ``pip install .``) carries the shipped model inside the package.

Everything else is declared in ``pyproject.toml``. The model lives in ``models/policy-minilm`` in the repository;
the build copies it to ``classifier/shipped/policy-minilm``, where ``classifier.models.transformer.shipped_model_dir``
looks first. An editable install reads it from the checkout instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED_MODEL = Path(__file__).resolve().parent / "models" / "policy-minilm"


class BuildWithShippedModel(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        if not (SHIPPED_MODEL / "model.safetensors").is_file():
            raise SystemExit(f"the shipped model is missing: {SHIPPED_MODEL}")
        target = Path(self.build_lib) / "classifier" / "shipped" / SHIPPED_MODEL.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(SHIPPED_MODEL, target)


setup(cmdclass={"build_py": BuildWithShippedModel})
