"""The ``policy-classifier`` command line (also ``python -m classifier``)."""

from classifier.cli.app import app, main

__all__ = ["app", "main"]
