"""Evaluation: metrics, scoring models on labelled data, cross-validation by policy and reports."""
