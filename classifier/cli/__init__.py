"""The ``policy-classifier`` command line (also ``python -m classifier``): a thin typer layer over the library.

One module per group of commands: ``classify`` (segment, classify, labels), ``evaluate`` (evaluate, crossval),
``train`` (train, release, pretrain, fit-detector), ``report`` (report, corpus-report), ``serve`` (serve) and
``data`` (data validate, data agreement, data page-agreement).
"""

from classifier.cli import classify, data, evaluate, report, serve, train  # noqa: F401  (each registers its commands)
from classifier.cli.app import app, main

__all__ = ["app", "main"]
