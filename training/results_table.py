"""Print the README's results tables from a cross-validation directory (``policy-classifier crossval --out DIR``).

    python training/results_table.py runs/cv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _ms(entry: dict, key: str) -> str:
    value = entry.get(key)
    return f"{value['mean']:.3f} ± {value['sd']:.3f}" if value else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cv_dir")
    args = parser.parse_args()
    cv = json.loads((Path(args.cv_dir) / "cv.json").read_text())
    models = cv["models"]
    print("| model | OPP-115 micro-F1 | OPP-115 macro-F1 | OPP-115 children F1 | card macro-F1 |")
    print("| --- | --- | --- | --- | --- |")
    for name, entry in models.items():
        folds = entry.get("opp115_folds", {})
        print(f"| {name} | {_ms(folds, 'micro_f1')} | {_ms(folds, 'macro_f1')} | {_ms(folds, 'children_f1')} | "
              f"{_ms(folds, 'card_macro_f1')} |")
    print()
    print("| model | data (pooled out-of-fold) | micro-F1 [95% CI] | macro-F1 [95% CI] | children F1 | card micro-F1 | "
          "card macro-F1 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, entry in models.items():
        for subset in ("opp115", "seed_corpus"):
            f = entry.get(f"{subset}_out_of_fold")
            if not f:
                continue
            print(f"| {name} | {subset} ({f['n_policies']} policies) | {f['micro_f1']:.3f} "
                  f"[{f['micro_f1_ci'][0]:.3f}, {f['micro_f1_ci'][1]:.3f}] | {f['macro_f1']:.3f} "
                  f"[{f['macro_f1_ci'][0]:.3f}, {f['macro_f1_ci'][1]:.3f}] | {f['children_f1'] or 0:.3f} | "
                  f"{f['card_micro_f1'] or 0:.3f} | {f['card_macro_f1'] or 0:.3f} |")
    print()
    seed_rows = {name: entry.get("seed_corpus_folds", {}).get("fold_details", []) for name, entry in models.items()}
    if any(seed_rows.values()):
        print("| model | " + " | ".join(f"seed fold {i + 1}" for i in range(len(next(iter(seed_rows.values())))))
              + " |")
        print("| --- |" + " --- |" * len(next(iter(seed_rows.values()))))
        for name, rows in seed_rows.items():
            print(f"| {name} micro/macro | " + " | ".join(f"{r['micro_f1']:.3f} / {r['macro_f1']:.3f}" for r in rows)
                  + " |")
    labels = next(iter(models.values())).get("opp115_folds", {}).get("fold_details", [{}])[0].get("per_label_f1", {})
    if labels:
        print()
        print("| label | " + " | ".join(models) + " |")
        print("| --- |" + " --- |" * len(models))
        for label in labels:
            cells = []
            for entry in models.values():
                values = [f["per_label_f1"][label] for f in entry["opp115_folds"]["fold_details"]]
                cells.append(f"{sum(values) / len(values):.3f}")
            print(f"| `{label}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
