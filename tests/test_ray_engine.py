"""The Ray Data engine (issue #28): the same rows as the local engine, resumable; on a local Ray instance started
here. Marked e2e: starting Ray takes seconds and spawns worker processes."""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.e2e


def _pages(folder, n=5):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"p{i}.txt").write_text(f"https://site{i}.example/privacy\nPrivacy Policy\n\n"
                                          + "\n\n".join(f"We collect item {i}-{j} of your data and share it."
                                                        for j in range(3)), encoding="utf-8")
    (folder / "broken.txt").write_bytes(bytes(range(256)) * 4)
    return sorted(str(p) for p in folder.glob("*.txt"))


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_the_ray_engine_writes_the_rows_the_local_engine_writes(tmp_path, tiny_model_dir, local_ray):
    from classifier.models.base import load_paragraph_model
    from classifier.predict.batch import run_batch
    from classifier.predict.ray_engine import RayOptions, run_batch_ray

    inputs = _pages(tmp_path / "crawl")
    model = load_paragraph_model(tiny_model_dir, device="cpu", precision="fp32")
    local = run_batch(model, inputs, output=tmp_path / "local.jsonl")
    failures = []
    remote = run_batch_ray(tiny_model_dir, inputs, output=tmp_path / "ray.jsonl", device="cpu", precision="fp32",
                           options=RayOptions(actors=2, pages_per_batch=2),
                           on_error=lambda source, reason: failures.append(source))
    assert remote.done == local.done and remote.failed == local.failed and failures == [inputs[0]]
    rows = [json.loads(line) for line in (tmp_path / "ray.jsonl").read_text().splitlines()]
    expected = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()]
    assert [(r["source"], r["paragraph"], r["labels"]) for r in rows] == \
        [(r["source"], r["paragraph"], r["labels"]) for r in expected]
    for got, want in zip(rows, expected, strict=True):
        assert got["scores"] == pytest.approx(want["scores"], abs=1e-6)
    assert json.loads((tmp_path / "ray.jsonl.failures.jsonl").read_text())["source"] == inputs[0]


def test_a_resumed_ray_run_sends_only_the_unfinished_pages(tmp_path, tiny_model_dir, local_ray):
    import pyarrow.parquet as pq

    from classifier.predict.ray_engine import RayOptions, run_batch_ray

    inputs = _pages(tmp_path / "crawl")[1:]  # the good pages
    out = tmp_path / "out.parquet"
    first = run_batch_ray(tiny_model_dir, inputs[:2], output=out, fmt="parquet", device="cpu", precision="fp32",
                          options=RayOptions(actors=1))
    assert first.done == inputs[:2]
    again = run_batch_ray(tiny_model_dir, inputs, output=out, fmt="parquet", resume=True, device="cpu",
                          precision="fp32", options=RayOptions(actors=1))
    assert again.skipped == inputs[:2] and again.done == inputs[2:]
    rows = pq.read_table(out).to_pylist()
    keys = [(r["source"], r["paragraph"]) for r in rows]
    assert len(keys) == len(set(keys)) == 3 * len(inputs)
