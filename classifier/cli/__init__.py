"""The ``policy-classifier`` command line (also ``python -m classifier``): a thin typer layer over the library.

One module per group of commands: ``classify`` (segment, classify, labels), ``evaluate`` (evaluate, crossval),
``train`` (train, release) and ``data`` (data validate, data agreement).
"""

from classifier.cli import classify, data, evaluate, train  # noqa: F401  (each registers its commands)
from classifier.cli.app import app, main

__all__ = ["app", "main"]
