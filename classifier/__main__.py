"""``python -m classifier``: the same command line as ``policy-classifier``."""

from classifier.cli import main

main()
