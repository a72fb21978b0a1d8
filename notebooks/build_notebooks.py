"""Write the project's notebooks from their cell sources (run once after editing; CI executes the results)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

QUICKSTART = [
    new_markdown_cell("# Quick start: classify a privacy policy\n\nThis notebook labels every paragraph of one of "
                      "the seed policies with the shipped model, using only the public API of `classifier`."),
    new_code_cell("from pathlib import Path\n\nfrom classifier import PolicyClassifier\n\n"
                  "clf = PolicyClassifier.from_pretrained()  # the shipped model, offline\n"
                  "clf.labels"),
    new_markdown_cell("Single paragraphs: `predict` returns labels (per-label thresholds applied) and a score for "
                      "every label."),
    new_code_cell("pred = clf.predict([\"We share your e-mail address with advertising partners.\"])[0]\n"
                  "pred.labels, {k: v for k, v in pred.scores.items() if v > 0.1}"),
    new_markdown_cell("A whole policy: `classify_document` segments it (text, Markdown or HTML) and labels each "
                      "paragraph; `summary()` tells which categories the policy covers and where."),
    new_code_cell("policy = Path(\"../data/seed_corpus/policies/004_15b5bc9b73d89d32.txt\")\n"
                  "doc = clf.classify_document(policy, scheme=\"card\")\n"
                  "len(doc.paragraphs)"),
    new_code_cell("for label, item in doc.summary().items():\n"
                  "    evidence = (item.evidence_text or '')[:90]\n"
                  "    print(f\"{label:24} covered={item.covered!s:5} paragraphs={item.n_paragraphs:3}  {evidence}\")"),
    new_code_cell("for p in doc.paragraphs[:8]:\n    print(p.index, p.labels, ' > '.join(p.section)[-40:], '|', "
                  "p.text[:70])"),
]

EVALUATION = [
    new_markdown_cell("# Reading an evaluation\n\nLoads an evaluation directory written by `policy-classifier "
                      "evaluate --out DIR` (or `crossval`) and shows its tables and plots. Set `EVAL_DIR` to your own "
                      "run; by default it reads the directory CI writes."),
    new_code_cell("import os\nfrom pathlib import Path\n\nfrom IPython.display import Image, Markdown, display\n\n"
                  "from classifier.evaluation.report import load_evaluation, render_report\n\n"
                  "EVAL_DIR = Path(os.environ.get(\"EVAL_DIR\", \"../runs/notebook-eval\"))\n"
                  "metrics = load_evaluation(EVAL_DIR)\n"
                  "[(r[\"model\"], r[\"data\"], r[\"n_paragraphs\"]) for r in metrics[\"results\"]]"),
    new_code_cell("display(Markdown(render_report(metrics)))"),
    new_code_cell("for png in sorted(EVAL_DIR.glob(\"*.png\")):\n    print(png.name)\n    display(Image(filename=png))"),
    new_markdown_cell("The worst policies, and the most confident errors of one label:"),
    new_code_cell("result = metrics[\"results\"][0]\nresult[\"per_policy\"][:5]"),
    new_code_cell("[e for e in result[\"errors\"] if e[\"label\"] == \"first_party_collection\"][:3]"),
]

if __name__ == "__main__":
    for name, cells in (("quickstart", QUICKSTART), ("evaluation", EVALUATION)):
        notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                       "language": "python"}})
        nbformat.write(notebook, HERE / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb")
