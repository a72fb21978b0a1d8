"""How a model trained on some corpora does on others: the table that shows the gap between OPP-115 and modern
policies, and what each corpus adds.

Each *scenario* trains one model on some of the corpora a config names (their ``train`` parts) and scores it on the
held-out part of every corpus: MAPP's own test split, the held-out policies of C3PA and APPSI-139 (see their
loaders), and OPP-115 whole where a scenario leaves it out. The scenarios:

* ``opp115+seed``: the fully annotated corpora alone, the model as it was before the other corpora;
* ``all``: every corpus;
* ``all but X``: every corpus but X, scored on X (leave-one-corpus-out).

Scores are over the labels each test corpus decides (:func:`classifier.evaluation.evaluate.evaluate`), with
intervals by policy. Thresholds are tuned per label on a held-out 10% of the training policies, pooled over every
training corpus that annotates the label (the use this serves: one model for policies of any kind). Each finished
scenario is saved at once, so an interrupted table goes on where it stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.data.partial import PARTIAL_CORPORA, load_partial
from classifier.files import atomic_write
from classifier.training.config import DATA_FIELDS, TrainConfig

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["Scenario", "render_table", "scenarios", "transfer_table"]

_FULL = ("opp115", "seed_corpus", "jsonl")


@dataclass(frozen=True)
class Scenario:
    """One training run of the table: its name and the corpora it trains on."""

    name: str
    corpora: tuple[str, ...]

    def config(self, base: TrainConfig) -> TrainConfig:
        """``base`` with only this scenario's corpora left in its data lists."""
        lists: dict[str, Any] = {name: (getattr(base, name) if name in self.corpora else []) for name in DATA_FIELDS}
        return replace(base, **lists)


def scenarios(config: TrainConfig) -> list[Scenario]:
    """The scenarios a config's corpora make: the fully annotated ones alone, all, and all but each one."""
    present = tuple(name for name in DATA_FIELDS if getattr(config, name))
    full = tuple(name for name in present if name in _FULL)
    out = [Scenario("+".join(full), full)] if full and len(full) < len(present) else []
    out.append(Scenario("all", present))
    out += [Scenario(f"all but {name}", tuple(c for c in present if c != name))
            for name in present if name in PARTIAL_CORPORA or name == "opp115"]
    return [s for s in out if s.corpora]


def transfer_table(config: TrainConfig, out_dir: str | os.PathLike[str], fit: Callable[[TrainConfig], Any], *,
                   n_boot: int = 1000, only: Sequence[str] = (), log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train each scenario with ``fit`` (a config -> model with thresholds) and score it on every held-out part.

    ``only`` names the scenarios to train (all when empty): a transformer per scenario takes hours on a CPU. The
    table also shows every other scenario saved in ``out_dir`` under the same settings.

    Raises:
        ValueError: a config that trains on the partial corpora's test parts (``partial_split`` ``all``), or an
            unknown scenario in ``only``.
    """
    from classifier.evaluation.evaluate import evaluate

    if config.partial_split != "train":
        raise ValueError("the transfer table scores the corpora's held-out parts: partial_split must be 'train'")
    out = Path(out_dir)
    (out / "scenarios").mkdir(parents=True, exist_ok=True)
    chosen = scenarios(config)
    unknown = sorted(set(only) - {s.name for s in chosen})
    if unknown:
        raise ValueError(f"no scenario {unknown[0]!r} (scenarios: {', '.join(s.name for s in chosen)})")
    tests = _test_sets(config)
    results = {}
    for scenario in chosen:
        path = out / "scenarios" / f"{scenario.name.replace(' ', '-').replace('+', '_')}.json"
        settings = asdict(scenario.config(config))
        saved = json.loads(path.read_text()) if path.is_file() else None
        if saved is not None and saved.get("settings") == settings:
            log(f"{scenario.name}: taken from {path}")
            results[scenario.name] = saved
            continue
        if only and scenario.name not in only:  # neither asked for nor saved: left out of this table
            continue
        log(f"{scenario.name}: training on {', '.join(scenario.corpora)}")
        model = fit(scenario.config(config))
        scores = {name: _figures(evaluate(model, data, model_name=scenario.name, data_name=name, n_boot=n_boot))
                  for name, (corpus, data) in tests.items() if _held_out(corpus, scenario)}
        results[scenario.name] = {"corpora": list(scenario.corpora), "settings": settings, "scores": scores}
        atomic_write(path, json.dumps(results[scenario.name], indent=2) + "\n")
        for name, figures in scores.items():
            log(f"  {name}: micro-F1 {figures['micro_f1']:.4f} macro-F1 {figures['macro_f1']:.4f}")
    table = {"scenarios": results, "tests": {name: corpus for name, (corpus, _) in tests.items()}}
    atomic_write(out / "transfer.json", json.dumps(table, indent=2) + "\n")
    atomic_write(out / "transfer.md", render_table(table))
    return table


def _test_sets(config: TrainConfig) -> dict[str, tuple[str, Dataset]]:
    """name -> (corpus, rows): each partial corpus's test part, and OPP-115 whole."""
    from classifier.data.corpus import load_opp115

    tests = {}
    for corpus in PARTIAL_CORPORA:
        for directory in getattr(config, corpus):
            tests[f"{corpus}-test"] = (corpus, load_partial(corpus, directory, "test"))
    for directory in config.opp115:
        tests["opp115"] = ("opp115", load_opp115(directory))
    return tests


def _held_out(corpus: str, scenario: Scenario) -> bool:
    """A partial corpus's test part is never trained on; OPP-115 whole only where the scenario leaves it out."""
    return corpus in PARTIAL_CORPORA or corpus not in scenario.corpora


def _figures(result: Any) -> dict[str, Any]:
    view = result.metrics["views"]["opp115"]
    return {"micro_f1": view["micro_f1"], "macro_f1": view["macro_f1"],
            "micro_f1_ci": view["bootstrap_ci"]["micro_f1"], "macro_f1_ci": view["bootstrap_ci"]["macro_f1"],
            "averaged_over": view["averaged_over"], "n_policies": result.metrics["n_policies"],
            "n_paragraphs": result.metrics["n_paragraphs"],
            "per_label_f1": {label: view["per_label"][label]["f1"] for label in view["averaged_over"]}}


def render_table(table: dict[str, Any]) -> str:
    """The table in Markdown: one row per scenario, micro / macro-F1 per held-out corpus."""
    tests = list(table["tests"])
    lines = ["| trained on | " + " | ".join(tests) + " |", "| --- |" + " --- |" * len(tests)]
    for name, entry in table["scenarios"].items():
        cells = [f"{entry['scores'][t]['micro_f1']:.3f} / {entry['scores'][t]['macro_f1']:.3f}"
                 if t in entry["scores"] else "–" for t in tests]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return ("Micro / macro-F1 on each corpus's held-out part, over the labels it annotates "
            "(`policy-classifier transfer`).\n\n" + "\n".join(lines) + "\n")
