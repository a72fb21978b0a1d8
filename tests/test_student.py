"""The distilled student: numpy prediction, saving and loading, agreement with its torch twin, training, the margin
rule, and resumable teacher scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifier.labels import LABEL_IDS
from classifier.models.base import ModelLoadError
from classifier.models.student import StudentModel, embedding_matrix
from classifier.training.distill import DistillConfig, cascade_margin, fit_student, label_agreement, teacher_scores
from tests.conftest import TOY_ROWS

TEXTS = [text for text, _ in TOY_ROWS]
GOLD = np.asarray([[label in labels for label in LABEL_IDS] for _, labels in TOY_ROWS], dtype=np.float32)


def _random_student(model_dir: Path, seed: int = 0, hidden: int = 8) -> StudentModel:
    tokenizer, embeddings = embedding_matrix(model_dir)
    rng = np.random.default_rng(seed)
    vocab, dim = embeddings.shape
    weights = {"token_weight": rng.normal(size=vocab), "norm_weight": np.ones(dim), "norm_bias": np.zeros(dim),
               "hidden_weight": rng.normal(size=(hidden, dim)), "hidden_bias": rng.normal(size=hidden),
               "out_weight": rng.normal(size=(len(LABEL_IDS), hidden)), "out_bias": rng.normal(size=len(LABEL_IDS))}
    return StudentModel(LABEL_IDS, [0.5] * len(LABEL_IDS), tokenizer, embeddings, weights, max_tokens=16)


def test_embedding_matrix_reads_a_saved_model_without_torch_names(tiny_model_dir: Path) -> None:
    tokenizer, embeddings = embedding_matrix(tiny_model_dir)
    assert embeddings.dtype == np.float32 and embeddings.shape == (tokenizer.get_vocab_size(), 32)


def test_rows_do_not_depend_on_the_batch(tiny_model_dir: Path) -> None:
    student = _random_student(tiny_model_dir)
    together = student.predict_proba([*TEXTS, "", "x " * 500], batch_size=4)
    alone = np.vstack([student.predict_proba([text]) for text in [*TEXTS, "", "x " * 500]])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    assert not np.allclose(together[0], together[1])  # the features differ by text


def test_pieces_are_cut_at_max_tokens(tiny_model_dir: Path) -> None:
    student = _random_student(tiny_model_dir)
    long = "we collect your data " * 20
    assert len(student.piece_ids([long])[0]) == 16
    np.testing.assert_allclose(student.predict_proba([long]), student.predict_proba([long + " children age"]))


@pytest.mark.parametrize("shared", [False, True])
def test_save_and_load_round_trip(tiny_model_dir: Path, tmp_path: Path, shared: bool) -> None:
    import shutil

    home = tmp_path / "model"
    shutil.copytree(tiny_model_dir, home)
    student = _random_student(home)
    student.shared = shared
    student.thresholds = [0.3] * len(LABEL_IDS)
    student.save_pretrained(home / "student", metrics={"margin": {"margin": 0.1}})
    assert (home / "student" / "embeddings.safetensors").exists() is not shared
    loaded = StudentModel.from_pretrained(home / "student")
    assert loaded.thresholds == [0.3] * len(LABEL_IDS) and StudentModel.is_student_dir(home / "student")
    # the weights are stored in fp16
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), student.predict_proba(TEXTS), atol=2e-3)


def test_broken_student_dirs_give_one_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    student = _random_student(tiny_model_dir)
    student.save_pretrained(tmp_path / "s")
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    (tmp_path / "s" / "config.json").write_text(json.dumps(config | {"hidden": 3, "labels": ["nope"]}))
    with pytest.raises(ModelLoadError, match=r"nope|label"):
        StudentModel.from_pretrained(tmp_path / "s")
    (tmp_path / "s" / "config.json").write_text(json.dumps(config))
    (tmp_path / "s" / "weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelLoadError, match="cannot load the distilled student"):
        StudentModel.from_pretrained(tmp_path / "s")
    with pytest.raises(ModelLoadError, match="not a distilled student"):
        StudentModel.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def toy_tfidf():
    from classifier.models.tfidf import TfidfBaseline

    return TfidfBaseline.fit(TEXTS * 3, np.tile(GOLD, (3, 1)).astype(int), LABEL_IDS)


@pytest.mark.parametrize("with_companion", [False, True])
def test_numpy_student_equals_its_torch_twin(tiny_model_dir: Path, toy_tfidf, with_companion: bool) -> None:
    import torch

    from classifier.models.student import companion_features
    from classifier.training.distill import _bag_net, _bags

    tokenizer, embeddings = embedding_matrix(tiny_model_dir)
    companion = toy_tfidf if with_companion else None
    torch.manual_seed(0)
    net = _bag_net(embeddings, len(LABEL_IDS), 8, len(LABEL_IDS) if with_companion else 0)
    with torch.no_grad():
        net.token_weight.normal_()
    net.eval()
    student = StudentModel(LABEL_IDS, [0.5] * len(LABEL_IDS), tokenizer, embeddings, net.arrays(), max_tokens=16,
                           companion=companion)
    extra = (torch.from_numpy(companion_features(toy_tfidf.predict_proba(TEXTS))) if with_companion
             else torch.zeros((len(TEXTS), 0)))
    with torch.no_grad():
        expected = torch.sigmoid(net(*_bags(student.piece_ids(TEXTS)), extra)).numpy()
    np.testing.assert_allclose(student.predict_proba(TEXTS), expected, atol=1e-5)


def test_a_student_with_a_companion_saves_it_and_gives_its_attributes(tiny_model_dir: Path, toy_tfidf,
                                                                        tmp_path: Path) -> None:
    tokenizer, embeddings = embedding_matrix(tiny_model_dir)
    base = _random_student(tiny_model_dir)
    weights = dict(base.weights)
    weights["hidden_weight"] = np.hstack([weights["hidden_weight"], np.ones((8, len(LABEL_IDS)))])
    student = StudentModel(LABEL_IDS, [0.5] * len(LABEL_IDS), tokenizer, embeddings, weights, max_tokens=16,
                           companion=toy_tfidf)
    without = StudentModel(LABEL_IDS, [0.5] * len(LABEL_IDS), tokenizer, embeddings, base.weights, max_tokens=16)
    assert not np.allclose(student.predict_proba(TEXTS), without.predict_proba(TEXTS))  # the companion counts
    student.save_pretrained(tmp_path / "s")
    loaded = StudentModel.from_pretrained(tmp_path / "s")
    assert loaded.companion is not None and (tmp_path / "s" / "tfidf" / "config.json").exists()
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), student.predict_proba(TEXTS), atol=2e-3)
    with pytest.raises(ValueError, match="companion"):
        StudentModel(["first_party_collection"], [0.5], tokenizer, embeddings, weights, companion=toy_tfidf)


@pytest.mark.parametrize("with_companion", [False, True])
def test_fit_student_learns_its_targets(tiny_model_dir: Path, toy_tfidf, with_companion: bool) -> None:
    tokenizer, embeddings = embedding_matrix(tiny_model_dir)
    texts, targets = TEXTS * 20, np.tile(GOLD, (20, 1))
    config = DistillConfig(hidden=32, epochs=40, batch_size=16, learning_rate=1e-2)
    student = fit_student(texts, targets, LABEL_IDS, tokenizer, embeddings, config, validation=(TEXTS, GOLD),
                          companion=toy_tfidf if with_companion else None, log=lambda line: None)
    assert (student.companion is not None) == with_companion
    agreement, _ = label_agreement(GOLD > 0.5, student.predict_proba(TEXTS) >= 0.5)
    assert agreement > 0.9


def test_label_agreement_counts_labels_nobody_gives_as_agreeing() -> None:
    reference = np.array([[1, 0], [0, 0]], dtype=bool)
    assert label_agreement(reference, reference)[0] == 1.0
    score, per_label = label_agreement(reference, np.array([[0, 0], [1, 0]], dtype=bool))
    assert per_label.tolist() == [0.0, 1.0] and score == 0.5


def test_margin_is_the_smallest_that_reaches_the_fidelity() -> None:
    full = np.array([[0.9], [0.1], [0.9], [0.1]])
    # the fast model is right far from its threshold and wrong close to it
    fast = np.array([[0.95], [0.05], [0.45], [0.56]])
    chosen = cascade_margin(fast, [0.5], full, [0.5], fidelity=1.0)
    assert chosen["agreement"] == 1.0 and chosen["escalated"] == 0.5
    assert 0.06 < chosen["margin"] <= 0.065  # |0.56 - 0.5| must be inside the margin, |0.95 - 0.5| outside
    assert cascade_margin(fast, [0.5], full, [0.5], fidelity=0.1)["margin"] == 0.0


class _CountingTeacher:
    def __init__(self, fail_after: int | None = None) -> None:
        self.labels, self.thresholds = ["a", "b"], [0.5, 0.5]
        self.seen: list[str] = []
        self.fail_after = fail_after

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.seen) >= self.fail_after:
            raise KeyboardInterrupt
        self.seen += texts
        return np.array([[len(t) / 10, 0.5] for t in texts], dtype=np.float32)


def test_teacher_scores_resume_without_rescoring(tmp_path: Path) -> None:
    texts = [f"paragraph {i}" for i in range(10)]
    first = _CountingTeacher(fail_after=4)
    with pytest.raises(KeyboardInterrupt):
        teacher_scores(first, texts, tmp_path / "scores.safetensors", chunk=4, log=lambda line: None)
    second = _CountingTeacher()
    scores = teacher_scores(second, texts, tmp_path / "scores.safetensors", chunk=4, log=lambda line: None)
    assert second.seen == texts[4:]
    np.testing.assert_allclose(scores[:, 0], [len(t) / 10 for t in texts])
    # other texts: the cache is not taken
    third = _CountingTeacher()
    teacher_scores(third, texts[::-1], tmp_path / "scores.safetensors", chunk=4, log=lambda line: None)
    assert third.seen == texts[::-1]


def test_distill_config_names_every_bad_value() -> None:
    with pytest.raises(ValueError, match=r"hidden=0.*fidelity=1\.5"):
        DistillConfig(hidden=0, fidelity=1.5).validate()
    with pytest.raises(ValueError, match="no text"):
        DistillConfig(dmoz=[], mapp=[], c3pa=[], appsi139=[]).validate()


def test_distill_attaches_a_student_that_loads_as_the_models_cascade(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from classifier.models.base import load_paragraph_model
    from classifier.models.cascade import CascadeModel
    from classifier.training.distill import distill

    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_model_dir, teacher)
    (teacher / "README.md").write_text("# card\n")
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    for i in range(12):
        body = "\n\n".join(f"{text} Page {i} paragraph {j} says more about it here." for j, text in enumerate(TEXTS))
        (crawl / f"page{i}.txt").write_text(f"https://example.com/{i}\n{body}\n")
    config = DistillConfig(teacher=str(teacher), dmoz=[str(crawl)], mapp=[], c3pa=[], appsi139=[], hidden=8,
                           epochs=2, output_dir=str(tmp_path / "run"))
    lines: list[str] = []
    where = distill(config, attach=True, log=lines.append)
    assert where == teacher / "student" and StudentModel.is_student_dir(where)
    assert any(line.startswith("teacher: 120/120") for line in lines)
    assert "## Distilled student" in (teacher / "README.md").read_text()
    metrics = json.loads((where / "metrics.json").read_text())
    assert metrics["validation_paragraphs"] == 12 and 0 <= metrics["margin"]["escalated"] <= 1
    cascade = load_paragraph_model(teacher, device="cpu", precision="fp32")
    assert isinstance(cascade, CascadeModel) and cascade.margin == metrics["margin"]["margin"]
    assert len(cascade.predict(TEXTS[:3])) == 3
    # a second run takes the teacher's scores from the cache
    again: list[str] = []
    distill(config, log=again.append)
    assert not any(line.startswith("teacher:") for line in again)
