"""The batch run on Ray Data, for a crawl larger than one machine (``classify --engine ray``, ``ray`` extra).

Ray Data carries the page paths to a pool of actors (``map_batches`` with a callable class): each actor loads the
model once and reads, segments and labels its pages with the same code as the local engine (one
:class:`classifier.predict.batch` run per batch of pages, into memory). The driver receives each page's rows in
input order and writes them through the local engine's writer, so the output has the same columns and, in fp32,
the same labels and scores; the progress journal, ``--resume`` and the failures file work as they do locally (pages
already journalled are not sent to the cluster again). The page paths must be readable by every worker: on a
cluster, a shared file system or object store mount.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from classifier.predict.batch import BatchResult

__all__ = ["RayOptions", "run_batch_ray"]


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: ``address`` of an existing cluster (``None`` starts a local instance, ``"auto"`` joins
    the one this machine belongs to), ``actors`` in the pool, ``cpus_per_actor`` (also its torch threads) and
    ``pages_per_batch`` sent to an actor at a time."""

    address: str | None = None
    actors: int = 1
    cpus_per_actor: float = 1.0
    pages_per_batch: int = 16

    def check(self) -> None:
        if self.actors < 1 or self.cpus_per_actor <= 0 or self.pages_per_batch < 1:
            raise ValueError(f"invalid Ray options: {self}")


class _PageLabeller:
    """A Ray actor: loads the model once, then turns batches of page paths into rows (JSON) or failure reasons."""

    def __init__(self, model_dir: str, device: str | None, precision: str, settings: dict[str, Any],
                 threads: int, full: bool = False) -> None:
        import torch

        from classifier.models.base import load_paragraph_model
        from classifier.predict.detector import load_detector

        torch.set_num_threads(threads)
        self.model = load_paragraph_model(Path(model_dir), device=device, precision=precision, full=full)
        self.detector = load_detector(model_dir) if settings.pop("detect") else None
        self.settings = settings

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        from classifier.predict.batch import collect_pages

        sources = [str(s) for s in batch["source"]]
        pages = collect_pages(self.model, sources, detector=self.detector, **self.settings)
        return {"source": sources, "failure": [pages[s].get("failure", "") for s in sources],
                "rows": [json.dumps(pages[s].get("rows", []), ensure_ascii=False) for s in sources],
                "page": [json.dumps(pages[s].get("page", {})) for s in sources],
                "recovered": [pages[s].get("recovered", "") for s in sources]}


def run_batch_ray(model_dir: Path, inputs: list[str], *, output: Path, options: RayOptions,
                  device: str | None = None, precision: str = "auto", detect: bool = True, full: bool = False,
                  on_error: Callable[[str, str], None] | None = None,
                  on_progress: Callable[[str, int], None] | None = None, **settings: Any) -> BatchResult:
    """Classify ``inputs`` on Ray (see the module docstring); ``settings`` are :func:`run_batch`'s (format,
    scheme, threshold, batch_size, resume, max_bytes, max_paragraphs, policies_only); ``full`` as for
    :func:`classifier.models.base.load_paragraph_model`."""
    import ray

    from classifier.predict.batch import driver_run

    options.check()
    started_here = not ray.is_initialized()
    if started_here:
        # a local instance gets the CPUs the pool needs; an existing cluster brings its own
        cpus = max(1, int(options.actors * options.cpus_per_actor)) if options.address is None else None
        ray.init(address=options.address, num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        with driver_run(output, inputs, on_error=on_error, on_progress=on_progress, **settings) as (run, sink, todo):
            if not todo:
                return run.result
            todo_set = set(todo)
            worker = {"scheme": run.scheme.value, "threshold": run.threshold, "batch_size": run.batch_size,
                      "max_bytes": run.max_bytes, "max_paragraphs": run.max_paragraphs,
                      "policies_only": run.policies_only, "max_seconds": run.max_seconds, "detect": detect,
                      "strip_boilerplate": bool(settings.get("strip_boilerplate")),
                      "urls": {source: url for source, url in (settings.get("urls") or {}).items()
                               if source in todo_set}}
            context = ray.data.DataContext.get_current()
            context.execution_options.preserve_order = True  # rows reach the output in input order
            pages = ray.data.from_items([{"source": source} for source in todo]).map_batches(
                _PageLabeller, batch_size=options.pages_per_batch, concurrency=options.actors,
                num_cpus=options.cpus_per_actor, batch_format="numpy",
                fn_constructor_kwargs={"model_dir": str(model_dir), "device": device, "precision": precision,
                                       "settings": worker, "threads": max(1, int(options.cpus_per_actor)),
                                       "full": full})
            for done, item in enumerate(pages.iter_rows(), 1):
                _write_page(run, sink, item)
                if done % options.pages_per_batch == 0:
                    sink.flush()
            return run.result
    finally:
        if started_here:
            ray.shutdown()


def _write_page(run: Any, sink: Any, item: dict[str, Any]) -> None:
    source = str(item["source"])
    if item["recovered"]:
        run.result.recovered.append((source, str(item["recovered"])))
    if item["failure"]:
        run.fail(source, str(item["failure"]))
        return
    page = json.loads(item["page"])
    if page.get("is_policy") is False:
        run.result.not_policies.append(source)
    run.emit(source, json.loads(item["rows"]), page, sink)
