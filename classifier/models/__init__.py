"""The models: shared prediction types, the fine-tuned transformer, the TF-IDF model and their ensemble."""
