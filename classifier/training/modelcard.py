"""The model card (``README.md``) written beside a saved model."""

from __future__ import annotations

from typing import Any

__all__ = ["cv_reference", "detector_section", "render_card", "set_card_section", "student_section"]


def cv_reference(name: str, run: str, record: dict[str, Any], entry: str, against: dict[str, Any],
                 against_entry: str) -> dict[str, Any]:
    """Summarise one entry of another cross-validation for the card's comparison rows.

    Args:
        name: what the card calls it (``"MPNet-base, 3 epochs"``); run: where it came from (a directory, as given).
        record, entry: the other run (:func:`classifier.evaluation.crossval.read_cv_record`) and which of its models.
        against, against_entry: the model's own cross-validation record and entry, whose folds it must share.

    Returns:
        ``{"name", "run", "entry", "environment", "opp115_folds": {metric: {"mean", "sd", "folds"}}}``, the form
        ``render_card`` reads from ``metrics["cross_validation_references"]``.

    Raises:
        ValueError: no such entry, or the runs' folds differ, so their figures are not comparable.
    """
    from classifier.evaluation.folds import compare_folds

    if entry not in record["models"]:
        raise ValueError(f"{run}: no model {entry!r} (has {', '.join(record['models'])})")
    compare_folds(against, record, against_entry, entry)
    folds = record["models"][entry].get("opp115_folds", record["models"][entry])
    return {"name": name, "run": run, "entry": entry, "environment": record.get("environment"),
            "opp115_folds": {metric: {k: v for k, v in figure.items() if k in ("mean", "sd", "folds")}
                             for metric, figure in folds.items() if isinstance(figure, dict) and "mean" in figure}}


def render_card(labels: list[str], train_config: dict[str, Any], metrics: dict[str, Any]) -> str:
    """Render a Markdown model card from the label set, training config and metrics of a run."""
    validation = metrics.get("validation", {})
    cv_text = _cv_section(metrics)
    ensemble_text = _ensemble_note(validation.get("tfidf_weight"))
    data = _data_line(train_config)
    schedule, split = _schedule(train_config, validation)
    return f"""# Privacy-policy paragraph classifier

Multi-label classifier that labels privacy-policy paragraphs with the OPP-115 categories plus `children`
(project `policy-clause-classifier`). Load it with `classifier.PolicyClassifier.from_pretrained(path)` or with
plain `transformers.AutoModelForSequenceClassification` (sigmoid outputs; apply the per-label thresholds stored in
`config.json` under `policy_classifier.thresholds`).

## Training

- Base encoder: `{train_config.get('encoder')}`; max length {train_config.get('max_length')} tokens (head+tail);
  lr {train_config.get('learning_rate')}, batch {train_config.get('batch_size')},
  {schedule}, BCE with positive weights sqrt(neg/pos) capped at
  {train_config.get('max_pos_weight')}, seed {train_config.get('seed')}.
- Data: {data}. {split}
- Training time: {metrics.get('train_seconds')} s on {metrics.get('device')}
  ({metrics.get('n_train')} training paragraphs).{ensemble_text}
{_thresholds_section(labels, metrics, validation)}{cv_text}{_attributes_section(metrics)}{_calibration_section(metrics)}
## Intended use and limits

For research, auditing and compliance triage of English privacy policies: finding which paragraphs talk about
which practice. It is not legal advice, it does not decide whether a practice is lawful, and it is weaker on rare
categories (Do Not Track, Data Retention) and on policies unlike its training data (OPP-115: US websites, 2015;
seed corpus: five policies of Chinese companies, 2020-2023). OPP-115 is licensed for research, teaching and
scholarship only (CC BY-NC spirit); models trained on it inherit that restriction.
"""


def _attribute_order() -> dict[str, int]:
    from classifier.attributes import ATTRIBUTE_IDS

    return {attr: i for i, attr in enumerate(ATTRIBUTE_IDS)}


def _calibration_section(metrics: dict[str, Any]) -> str:
    """The calibration saved with the model (``policy-classifier calibrate``) and what it measured."""
    figures = metrics.get("calibration")
    if not figures:
        return ""
    states = figures["states"]
    return (
        "\n## Calibration\n\n"
        f"`calibration.json`: one isotonic map per label, fitted on the out-of-fold predictions of `{figures['cv']}` "
        f"(`{figures['entry']}`, {figures['rows']:,} paragraphs). Expected calibration error out of fold, mean over "
        f"the labels: {figures['ece_raw']:.3f} raw, {figures['ece_calibrated']:.3f} calibrated. Report states "
        f"(policy x category, unsure floor {figures['unsure_floor']}): *covered* right "
        f"{states['covered']['gold_has_it']}/{states['covered']['n']}, *not found* wrong "
        f"{states['not found']['gold_has_it']}/{states['not found']['n']}, *unsure* in the gold "
        f"{states['unsure']['gold_has_it']}/{states['unsure']['n']}. Thresholds apply to the raw scores.\n"
    )


def _attributes_section(metrics: dict[str, Any]) -> str:
    """The cross-validated attribute figures (a model with attribute outputs): the shipped entry against the TF-IDF
    baseline of the same folds, per attribute."""
    reports = metrics.get("attributes")
    # release-attributes names the cross-validated entry whose attribute outputs the model took
    entry = metrics.get("attribute_source", {}).get("entry") or metrics.get("cross_validation_entry", "transformer")
    if not reports or entry not in reports or "tfidf_baseline" not in reports:
        return ""
    mine, base = reports[entry]["attributes"], reports["tfidf_baseline"]["attributes"]
    rows = [f"| `{attr}` | {figures['paragraph']['support']} | {figures['paragraph']['f1']:.3f} | "
            f"{base[attr]['paragraph']['f1']:.3f} | {figures['policy']['f1']:.3f} | {base[attr]['policy']['f1']:.3f} |"
            for attr, figures in sorted(mine.items(), key=lambda item: _attribute_order().get(item[0], 99))]
    return (
        "\n## Attributes (cross-validated)\n\n"
        "What a paragraph states (`Prediction.attributes`): micro-F1 over each attribute's values on the OPP-115 "
        "policies each fold's model never saw, at paragraph level and at policy level (\"does the policy state it "
        f"anywhere?\") of the cross-validated `{entry}`, its values gated by its categories; the baseline is one "
        "TF-IDF logistic regression per value on the same folds, threshold 0.5."
        + (f" The attribute outputs were added to the released model by `policy-classifier release-attributes` "
           f"from `{metrics['attribute_source']['file']}`: its categories are unchanged."
           if "attribute_source" in metrics else "") + "\n\n"
        "| attribute | support | paragraph F1 | baseline | policy F1 | baseline |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )


def _data_line(train_config: dict[str, Any]) -> str:
    """The training data: the fully annotated sources, then the partially annotated corpora with their split,
    weights and the masked loss, and the corpora the thresholds are tuned for."""
    data = ", ".join(train_config.get("opp115", []) + train_config.get("seed_corpus", [])
                     + train_config.get("jsonl", []))
    partial = [f"{d} ({corpus})" for corpus in ("mapp", "c3pa", "appsi139") for d in train_config.get(corpus, [])]
    if partial:
        weights = train_config.get("corpus_weights") or {}
        data += (f"; partially annotated, their {train_config.get('partial_split', 'train')} parts: "
                 + ", ".join(partial) + " (a category a corpus does not annotate is left out of the loss, not a "
                 "negative)")
        if weights:
            data += "; rows drawn per epoch by corpus: " + ", ".join(f"{k} {v}" for k, v in sorted(weights.items()))
    if train_config.get("tune_on"):
        data += f"; thresholds and epochs tuned for {', '.join(train_config['tune_on'])}"
    return data


def _cv_section(metrics: dict[str, Any]) -> str:
    """The cross-validated figures the model's recipe reached, with comparison rows from other runs."""
    cv = metrics.get("cross_validation")
    if not cv:
        return ""
    cv_rows = []
    for name, entry in cv["models"].items():
        for subset in ("opp115_out_of_fold", "data_out_of_fold", "seed_corpus_out_of_fold"):
            figures = entry.get(subset)
            if figures:
                cv_rows.append(
                    f"| {name} | {subset.replace('_out_of_fold', '')} (pooled) | {figures['micro_f1']:.3f} | "
                    f"{figures['macro_f1']:.3f} | {figures['children_f1'] or 0:.3f} | "
                    f"{figures['card_macro_f1'] or 0:.3f} |")
        folds = entry.get("opp115_folds", entry)
        cv_rows.append(f"| {name} | OPP-115 folds, mean ± sd | "
                       f"{folds['micro_f1']['mean']:.3f} ± {folds['micro_f1']['sd']:.3f} | "
                       f"{folds['macro_f1']['mean']:.3f} ± {folds['macro_f1']['sd']:.3f} | "
                       f"{folds.get('children_f1', {}).get('mean', 0):.3f} | "
                       f"{folds.get('card_macro_f1', {}).get('mean', 0):.3f} |")
        for corpus in ("mapp", "c3pa", "appsi139"):  # over the categories each annotates
            figures = entry.get(f"{corpus}_out_of_fold")
            if figures:
                cv_rows.append(f"| {name} | {corpus} (pooled, its categories) | {figures['micro_f1']:.3f} | "
                               f"{figures['macro_f1']:.3f} | – | – |")
    return (
        f"\n## Cross-validated figures ({cv['settings'].get('k')}-fold by policy, seed policies spread over the "
        "folds)\n\n"
        "Micro/macro-F1 over the ten OPP-115 categories on policies the fold's model never saw; "
        f"this model corresponds to `{metrics.get('cross_validation_entry', 'transformer')}`.\n\n"
        "| model | data | micro-F1 | macro-F1 | children F1 | card macro-F1 |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        + "\n".join(cv_rows) + "\n" + _references_table(metrics.get("cross_validation_references") or [])
    )


def _references_table(references: list[dict[str, Any]]) -> str:
    if not references:
        return ""
    rows = [f"| {ref['name']} (`{ref['entry']}` of `{ref['run']}`) | "
            f"{_mean_sd(ref['opp115_folds'], 'micro_f1')} | {_mean_sd(ref['opp115_folds'], 'macro_f1')} | "
            f"{_mean_sd(ref['opp115_folds'], 'children_f1')} |" for ref in references]
    return ("\nOther models cross-validated on the same folds, for comparison (not part of this model; "
            "OPP-115 folds, mean ± sd):\n\n"
            "| model | micro-F1 | macro-F1 | children F1 |\n"
            "| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n")


def _ensemble_note(weight: float | None) -> str:
    if not weight:
        return ""
    return (
        f"\n- Ensemble: the transformer's probabilities are averaged with a TF-IDF + logistic-regression member "
        f"(`tfidf/`, weight {weight}, fitted on the same training policies; its word and character n-gram "
        "settings are in `tfidf/config.json`); the thresholds in `config.json` "
        "apply to the average. Plain `transformers` users get the transformer alone; its own thresholds are "
        "`transformer_thresholds` in `metrics.json`."
    )


def _schedule(train_config: dict[str, Any], validation: dict[str, Any]) -> tuple[str, str]:
    """How long it trained, and on what split."""
    if train_config.get("validation_fraction", 0) or train_config.get("validation_jsonl"):
        return (f"up to {train_config.get('epochs')} epochs with early stopping on validation macro-F1 (best "
                f"epoch {validation.get('epoch')})",
                f"Validation: {train_config.get('validation_fraction')} of the policies, held out by policy.")
    return (f"a fixed {train_config.get('epochs')} epochs",
            "Trained on all of it (no validation split); the recipe's accuracy on unseen policies comes "
            "from cross-validating it (`policy-classifier crossval`).")


def _mean_sd(folds: dict[str, Any], key: str) -> str:
    """``mean ± sd`` of one figure over the folds, or ``n/a`` where the run did not report it."""
    figure = folds.get(key)
    if not figure:
        return "n/a"
    return f"{figure['mean']:.3f} ± {figure['sd']:.3f}"


def _thresholds_section(labels: list[str], metrics: dict[str, Any], validation: dict[str, Any]) -> str:
    """Validation figures and thresholds, or (a model trained on everything) where its thresholds came from."""
    thresholds = metrics["thresholds"]
    per_label = validation.get("per_label", {})
    if per_label:
        rows = "\n".join(
            f"| `{label}` | {per_label[label]['precision']:.3f} | {per_label[label]['recall']:.3f} | "
            f"{per_label[label]['f1']:.3f} | {per_label[label]['support']} | {thresholds[label]:.3f} |"
            for label in labels if label in per_label)
        return f"""
## Validation figures (held-out policies, tuned thresholds)

Micro-F1 {validation.get('micro_f1', float('nan')):.3f}, macro-F1 {validation.get('macro_f1', float('nan')):.3f}
over the ten OPP-115 categories ({validation.get('n_examples')} paragraphs). The thresholds were tuned on these
same validation paragraphs, so these figures are optimistic; see the project README for cross-validated figures.

| label | precision | recall | F1 | support | threshold |
| --- | --- | --- | --- | --- | --- |
{rows}
"""
    source = metrics.get("threshold_source") or {}
    lines = []
    for name, figures in (source.get("estimate") or {}).items():
        lines.append(f"| {name} | {figures['opp115_micro_f1'][0]:.3f} ± {figures['opp115_micro_f1'][1]:.3f} | "
                     f"{figures['opp115_macro_f1'][0]:.3f} ± {figures['opp115_macro_f1'][1]:.3f} | "
                     f"{figures['seed_micro_f1'] or 0:.3f} | {figures['seed_macro_f1'] or 0:.3f} |")
    estimate = ("\nHow well that works, estimated on the cross-validation itself (for each fold, thresholds tuned on "
                "the other folds' out-of-fold predictions, against the fold's own validation-tuned ones):\n\n"
                "| thresholds | OPP-115 folds micro-F1 | OPP-115 folds macro-F1 | seed micro-F1 | seed macro-F1 |\n"
                "| --- | --- | --- | --- | --- |\n" + "\n".join(lines) + "\n") if lines else ""
    rows = "\n".join(f"| `{label}` | {thresholds[label]:.3f} |" for label in labels)
    return f"""
## Thresholds

With no validation split, the per-label thresholds were tuned on the out-of-fold predictions of the
cross-validation of this recipe (`{source.get('entry', 'n/a')}` in `{source.get('file', 'n/a')}`): every paragraph
predicted by a fold model that never saw its policy.
{estimate}
| label | threshold |
| --- | --- |
{rows}
"""


def set_card_section(card: str, title: str, body: str) -> str:
    """The card with its ``## title`` section replaced by ``body`` (added at the end when absent)."""
    lines = card.rstrip("\n").split("\n")
    head = f"## {title}"
    if head in lines:
        start = lines.index(head)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines = lines[:start] + lines[end:]
        if start < len(lines):  # keep the section where it was
            return "\n".join([*lines[:start], head, "", body.rstrip("\n"), "", *lines[start:]]) + "\n"
    return "\n".join([*lines, "", head, "", body.rstrip("\n")]) + "\n"


def detector_section(metrics: dict[str, Any], threshold: float) -> str:
    """The card's account of the privacy-policy detector fitted for this model (``detector.json``)."""
    test, rule = metrics["test"], metrics["test_practice_share_rule"]
    return (f"`detector.json` says which pages are privacy policies (`classify` marks every row, `--policies-only` "
            f"skips the rest): a logistic regression over page features from this model's output and the page "
            f"text, fitted on {metrics['train_pages']} labelled DMOZ pages (`policy-classifier fit-detector`), "
            f"threshold {threshold:.3f}. On {test['pages']} held-out pages, *not a policy*: precision "
            f"{test['not_policy_precision']:.3f}, recall {test['not_policy_recall']:.3f}, F1 "
            f"{test['not_policy_f1']:.3f} (the share-of-practice-paragraphs rule: F1 {rule['not_policy_f1']:.3f}). "
            "Refit it after retraining the model: its features are this model's outputs.")


def student_section(figures: dict[str, Any]) -> str:
    """The card's account of the distilled student in ``student/`` and the cascade it runs in."""
    margin = figures["margin"]
    return (f"`student/` is a distilled student (`policy-classifier distill --attach`): a weighted bag of this model's "
            f"word-piece embeddings and its TF-IDF member's logits, one hidden layer, trained on this model's "
            f"probabilities over {figures['training_paragraphs']:,} unlabelled crawled paragraphs. On "
            f"{figures['validation_paragraphs']:,} held-out unlabelled paragraphs it reproduces this model's labels "
            f"with macro-F1 {figures['student_agreement']:.3f}. On a CPU the model runs as a cascade by default: "
            f"the student labels every paragraph and this model only those with a score within "
            f"{margin['margin']:.3f} of a student threshold ({margin['escalated']:.1%} of the validation paragraphs; "
            f"agreement with this model's labels {margin['agreement']:.3f}, the rule asks "
            f"{margin['fidelity']:.2f}); `--full-model` runs this model alone. Held-out accuracy of the same recipe: "
            "docs/results.md, *The student and the cascade*.")
