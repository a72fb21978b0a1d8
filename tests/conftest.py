"""Shared fixtures: paths to the real corpora and a tiny randomly initialised model built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POLICY_SHARED_DIR", ROOT.parent / "shared"))
# The seed policies are part of the repository (data/seed_corpus), so the tests that read them run on a fresh clone.
SEEDS_DIR = ROOT / "data" / "seed_corpus" / "policies"
OPP115_DIR = SHARED / "opp115"


@pytest.fixture(scope="session")
def seed_files() -> list[Path]:
    files = sorted(SEEDS_DIR.glob("*.txt"))
    assert len(files) == 5, f"the five seed policies are missing from {SEEDS_DIR}"
    return files


@pytest.fixture(scope="session")
def shared_seeds() -> list[Path]:
    files = sorted((SHARED / "seeds").glob("*.txt"))
    if not files:
        pytest.skip(f"no seed policies in {SHARED / 'seeds'}")
    return files


def _shared_corpus(name: str, marker: str) -> Path:
    path = SHARED / "corpora" / name
    if not (path / marker).exists():
        pytest.skip(f"{name} not found in {path}")
    return path


@pytest.fixture(scope="session")
def mapp_dir() -> Path:
    return _shared_corpus("mapp", "English_consolidation")


@pytest.fixture(scope="session")
def c3pa_dir() -> Path:
    return _shared_corpus("c3pa", "Annotations")


@pytest.fixture(scope="session")
def appsi_dir() -> Path:
    return _shared_corpus("appsi139", "train.txt")


@pytest.fixture(scope="session")
def opp115_dir() -> Path:
    if not (OPP115_DIR / "sanitized_policies").is_dir():
        pytest.skip(f"OPP-115 not found in {OPP115_DIR}")
    return OPP115_DIR


@pytest.fixture(scope="session")
def opp115(opp115_dir: Path):
    from classifier.data.corpus import load_opp115

    return load_opp115(opp115_dir)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--e2e", action="store_true", default=False,
                     help="also run the end-to-end tests (always on when the CI environment variable is set)")


def run_e2e(config: pytest.Config) -> bool:
    return bool(config.getoption("--e2e")) or os.environ.get("CI", "") not in ("", "0", "false")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The end-to-end tests (the shipped model, the real corpora, the notebooks) take minutes: opt-in locally,
    # always on in CI, where .ci/run sets CI=1.
    if run_e2e(config):
        return
    skip = pytest.mark.skip(reason="end-to-end: run with --e2e (CI always does)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


TINY_WORDS = (
    "we collect share your personal information data with third parties partners advertisers cookies keep for "
    "days years delete access correct opt out consent children under age security encrypt protect policy change "
    "update notify do not track contact us email address name phone device location retain store transfer "
    "country law request account the a an of to and or in on by is are may will you our this"
).split()


def build_tiny_encoder(directory: Path) -> Path:
    """Save a randomly initialised 2-layer BERT with a word-level WordPiece tokenizer to ``directory``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens = specials + sorted(set(TINY_WORDS)) + list("abcdefghijklmnopqrstuvwxyz")
    vocab = {token: i for i, token in enumerate(tokens)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


TOY_ROWS = [
    ("We collect your email address and name when you register.", ["first_party_collection"]),
    ("We share your device data with advertising partners.", ["third_party_sharing"]),
    ("You may opt out of marketing email at any time.", ["user_choice_control"]),
    ("You can access, correct or delete your account data.", ["user_access_edit_deletion"]),
    ("We keep your data for two years and then delete it.", ["data_retention"]),
    ("We encrypt your data and protect it with access controls.", ["data_security"]),
    ("We may update this policy and will notify you of changes.", ["policy_change"]),
    ("We do not respond to do not track signals.", ["do_not_track"]),
    ("Children under age 13 may not use the service.", ["international_specific_audiences", "children"]),
    ("Contact us at privacy@example.com.", ["other"]),
]


@pytest.fixture(scope="session")
def toy_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few dozen labelled rows over eight 'policies' (toy data for training tests)."""
    import json

    path = tmp_path_factory.mktemp("toy") / "toy.jsonl"
    lines = []
    for copy in range(4):
        for i, (text, labels) in enumerate(TOY_ROWS):
            lines.append(json.dumps({"text": text, "labels": labels, "policy": f"p{(i + copy) % 8}"}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved PolicyClassifier over the tiny random encoder, with the eleven schema labels and mixed thresholds."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from classifier.labels import LABEL_IDS
    from classifier.models.transformer import PolicyClassifier

    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_encoder, num_labels=len(LABEL_IDS), id2label=dict(enumerate(LABEL_IDS)),
        label2id={label: i for i, label in enumerate(LABEL_IDS)}, problem_type="multi_label_classification")
    # A bias that puts 'first_party_collection' near certainty and 'do_not_track' near zero makes threshold
    # behaviour observable on a random encoder.
    with torch.no_grad():
        model.classifier.bias.zero_()
        model.classifier.bias[0] = 8.0
        model.classifier.bias[7] = -8.0
    thresholds = [0.5] * len(LABEL_IDS)
    clf = PolicyClassifier(model, AutoTokenizer.from_pretrained(tiny_encoder), thresholds=thresholds, max_length=32,
                           device="cpu", precision="fp32")
    return clf.save_pretrained(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model_dir: Path):
    from classifier.models.transformer import PolicyClassifier

    return PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32")


ATTRIBUTE_OUTPUTS = ("personal_information_type/contact", "purpose/advertising",
                     "third_party_sharing/third_party_entity/unnamed_third_party", "retention_period/stated_period")


@pytest.fixture(scope="session")
def tiny_attribute_model_dir(tiny_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved PolicyClassifier whose head also has attribute outputs (:data:`ATTRIBUTE_OUTPUTS`), with fixed
    scores: first-party collection and data retention given, nothing else; contact, advertising and the unnamed
    third party near 1, a stated period near 0."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from classifier.labels import LABEL_IDS
    from classifier.models.transformer import PolicyClassifier

    outputs = [*LABEL_IDS, *ATTRIBUTE_OUTPUTS]
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_encoder, num_labels=len(outputs), id2label=dict(enumerate(outputs)),
        label2id={label: i for i, label in enumerate(outputs)}, problem_type="multi_label_classification")
    with torch.no_grad():
        model.classifier.weight.zero_()  # the scores are the biases, whatever the text
        model.classifier.bias.fill_(-8.0)
        for name in ("first_party_collection", "data_retention", *ATTRIBUTE_OUTPUTS[:3]):
            model.classifier.bias[outputs.index(name)] = 8.0
    clf = PolicyClassifier(model, AutoTokenizer.from_pretrained(tiny_encoder), max_length=32, device="cpu",
                           precision="fp32")
    return clf.save_pretrained(tmp_path_factory.mktemp("tiny-attribute-model") / "model")
