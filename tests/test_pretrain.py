"""Domain-adaptive pretraining on the tiny encoder: text selection, resumption after a kill, the encoder it makes."""

from pathlib import Path

import numpy as np
import pytest

from classifier.training.pretrain import PretrainConfig, pretrain, pretraining_texts


def _crawl(root: Path) -> Path:
    pages = root / "dmoz" / "cat1"
    pages.mkdir(parents=True)
    footer = "We share your data with partners and keep it for two years to protect your account."
    for n in range(6):
        body = "\n\n".join([f"We collect your email address and name when you register, number {n}.",
                            "Home", footer, f"You can opt out of cookies in your browser settings at any time ({n})."])
        (pages / f"site{n}-com-1.txt").write_text(f"https://site{n}.example/privacy\n{body}\n")
    return root / "dmoz"


def test_pretraining_texts_skip_urls_short_lines_and_repeats(tmp_path):
    texts = pretraining_texts(PretrainConfig(dmoz=[str(_crawl(tmp_path))]))
    assert len(texts) == 13  # 6 + 6 page-specific paragraphs, the footer once; "Home" and the URLs left out
    assert not any(text.startswith("https://") for text in texts) and "Home" not in texts
    assert texts == pretraining_texts(PretrainConfig(dmoz=[str(tmp_path / "dmoz")]))  # seeded order
    assert len(pretraining_texts(PretrainConfig(dmoz=[str(tmp_path / "dmoz")], max_texts=5))) == 5
    with pytest.raises(ValueError, match="no text"):
        PretrainConfig().validate()
    with pytest.raises(ValueError, match="no such directory of crawled pages"):
        pretraining_texts(PretrainConfig(dmoz=[str(tmp_path / "missing")]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no paragraphs of 8 words or more"):
        pretraining_texts(PretrainConfig(dmoz=[str(tmp_path / "empty")]))


def test_an_interrupted_pretraining_resumes_to_the_same_encoder(tiny_encoder, tmp_path, monkeypatch):
    from safetensors.numpy import load_file

    crawl = _crawl(tmp_path)
    settings = dict(encoder=str(tiny_encoder), dmoz=[str(crawl)], max_steps=6, batch_size=4, max_length=32,
                    save_every=2, device="cpu", learning_rate=1e-3)
    whole = pretrain(PretrainConfig(**settings, output_dir=str(tmp_path / "whole")), log=lambda line: None)

    from classifier.training import checkpoint

    saves = []
    real_checkpoint = checkpoint.save_checkpoint

    def killed_after_second_checkpoint(*args, **kwargs):
        real_checkpoint(*args, **kwargs)
        saves.append(kwargs["state"]["step"])
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_checkpoint", killed_after_second_checkpoint)
    config = PretrainConfig(**settings, output_dir=str(tmp_path / "split"))
    with pytest.raises(KeyboardInterrupt):
        pretrain(config, log=lambda line: None)
    assert saves == [2, 4]
    monkeypatch.setattr(checkpoint, "save_checkpoint", real_checkpoint)
    lines = []
    resumed = pretrain(config, resume=True, log=lines.append)
    assert "resuming after step 4" in lines
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6)
    with pytest.raises(ValueError, match="other settings"):
        pretrain(PretrainConfig(**{**settings, "max_steps": 8}, output_dir=str(tmp_path / "split")), resume=True,
                 log=lambda line: None)


def test_the_adapted_encoder_fine_tunes(tiny_encoder, toy_jsonl, tmp_path):
    from classifier.training.config import TrainConfig
    from classifier.training.loop import train

    encoder = pretrain(PretrainConfig(encoder=str(tiny_encoder), dmoz=[str(_crawl(tmp_path))], max_steps=2,
                                      batch_size=4, max_length=32, save_every=2, device="cpu",
                                      output_dir=str(tmp_path / "dapt")), log=lambda line: None)
    assert (encoder / "model.safetensors").is_file() and (encoder / "tokenizer.json").is_file()
    clf, _ = train(TrainConfig(encoder=str(encoder), jsonl=[str(toy_jsonl)], epochs=1, batch_size=8, max_length=32,
                               device="cpu", precision="fp32", output_dir=str(tmp_path / "run")), save=False,
                   log=lambda line: None)
    assert clf.predict_proba(["we share data"]).shape == (1, 11)
