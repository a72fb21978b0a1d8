"""Labelled corpora: OPP-115, labelled JSONL, the seed corpus, splits by policy and annotator agreement."""
