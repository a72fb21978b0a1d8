"""Training: the run configuration, data assembly, the fine-tuning loop, checkpoints, the model card, releases."""
