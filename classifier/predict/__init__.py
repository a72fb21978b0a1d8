"""Labelling whole documents and batches of files with a loaded model."""
