"""One policy's report: for every category a state a person can act on (*covered*, *unsure*, *not found*) with its
confidence, the strongest evidence paragraphs, what the policy states (attributes, retention periods), and the
whole text with every paragraph's labels; rendered by :mod:`classifier.report.render`.

The rule for a category's state, from the scores of its paragraphs (:data:`UNSURE_FLOOR`):

* **covered**: at least one paragraph was given the category (its score reached the model's threshold);
* **unsure**: none was, but the best paragraph's (calibrated) score is at least :data:`UNSURE_FLOOR`;
* **not found**: every paragraph's score is below it.

The confidence shown is the best paragraph's score for *covered* and *unsure* (how likely the policy covers it),
and one minus it for *not found* (how likely it does not). Scores are calibrated when the model has a calibration
(``calibration.json``, see :mod:`classifier.models.calibration`), and the report says whether they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.labels import CARD_LABELS, LABELS, Scheme, card_scores

if TYPE_CHECKING:
    from classifier.models.base import ParagraphModel
    from classifier.predict.document import ClassifiedDocument, ClassifiedParagraph
    from classifier.report.practices import PolicyStatements

__all__ = ["EVIDENCE_PARAGRAPHS", "UNSURE_FLOOR", "CategoryState", "PolicyReport", "build_report", "excerpt"]

# Below this best-paragraph (calibrated) score a category is "not found". Out of fold on OPP-115 and the seeds
# (training/results/cv-shipped/calibration.md), "not found" was wrong for 4.7% of policy x category cases at 0.2,
# 2.8% at 0.1 and 7.2% at 0.3; 0.2 is the largest floor that keeps it under 5%.
UNSURE_FLOOR = 0.2
EVIDENCE_PARAGRAPHS = 3  # evidence paragraphs shown per category

COVERED, UNSURE, NOT_FOUND = "covered", "unsure", "not found"


@dataclass(frozen=True)
class CategoryState:
    """One category of one policy: its state, the confidence in it, how many paragraphs have it, and the evidence
    paragraphs (their indices, best first: the labelled ones, or for *unsure* the nearest candidates)."""

    label: str
    name: str
    scheme: str
    state: str
    confidence: float
    n_paragraphs: int
    evidence: tuple[int, ...]


@dataclass
class PolicyReport:
    """Everything a policy's page shows (see :func:`build_report`)."""

    source: str | None
    url: str | None
    title: str
    paragraphs: list[ClassifiedParagraph]
    card: list[CategoryState]
    categories: list[CategoryState]
    statements: PolicyStatements
    card_labels: dict[int, list[str]]
    model: dict[str, Any] = field(default_factory=dict)

    @property
    def n_characters(self) -> int:
        return sum(len(p.text) for p in self.paragraphs)

    @property
    def n_words(self) -> int:
        return sum(len(p.text.split()) for p in self.paragraphs)

    def __post_init__(self) -> None:
        self._positions = {p.index: i for i, p in enumerate(self.paragraphs)}

    def paragraph(self, index: int) -> ClassifiedParagraph:
        """The paragraph with this index (the ``¶`` number pages show)."""
        return self.paragraphs[self._positions[index]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (states, evidence indices, statements; not the paragraphs' text)."""
        from dataclasses import asdict

        return {"source": self.source, "url": self.url, "title": self.title, "n_paragraphs": len(self.paragraphs),
                "n_characters": self.n_characters, "card": [asdict(s) for s in self.card],
                "categories": [asdict(s) for s in self.categories],
                "statements": self.statements.sentence(), "model": self.model}


def build_report(document: ClassifiedDocument, model: ParagraphModel, *,
                 model_name: str | None = None) -> PolicyReport:
    """The report of a document classified in the OPP-115 view by ``model`` (whose thresholds and calibration
    decide the states).

    Raises:
        ValueError: a document in the card view (the report shows both views from the OPP-115 one).
    """
    from classifier.labels import to_card

    if document.scheme is not Scheme.opp115:
        raise ValueError("a report is built from a document classified in the opp115 view")
    calibration = getattr(model, "calibration", None)
    calibrated = [calibration.apply_scores(p.scores) if calibration is not None else dict(p.scores)
                  for p in document.paragraphs]
    given = [set(p.labels) for p in document.paragraphs]
    categories = [_state(label.id, label.name, "opp115", document.paragraphs, given, calibrated)
                  for label in LABELS]
    card_given = [set(to_card(p.labels)) for p in document.paragraphs]
    card = [_state(label.id, label.name, "card", document.paragraphs, card_given,
                   [card_scores(scores) for scores in calibrated]) for label in CARD_LABELS]
    return PolicyReport(
        source=document.source, url=document.url, title=_title(document), paragraphs=list(document.paragraphs),
        card=card, categories=categories, statements=document.statements(),
        card_labels={p.index: to_card(p.labels) for p in document.paragraphs},
        model=_model_facts(model, model_name, calibrated=calibration is not None))


def _state(label: str, name: str, scheme: str, paragraphs: list[ClassifiedParagraph], given: list[set[str]],
           scores: list[dict[str, float]]) -> CategoryState:
    ranked = sorted(range(len(paragraphs)), key=lambda i: -scores[i].get(label, 0.0))
    with_label = [i for i in ranked if label in given[i]]
    best = scores[ranked[0]].get(label, 0.0) if ranked else 0.0
    if with_label:
        state, confidence, evidence = COVERED, best, with_label
    elif best >= UNSURE_FLOOR:
        state, confidence, evidence = UNSURE, best, ranked
    else:
        state, confidence, evidence = NOT_FOUND, 1.0 - best, []
    return CategoryState(label=label, name=name, scheme=scheme, state=state, confidence=round(confidence, 4),
                         n_paragraphs=len(with_label),
                         evidence=tuple(paragraphs[i].index for i in evidence[:EVIDENCE_PARAGRAPHS]))


def excerpt(text: str, limit: int) -> str:
    """The start of a paragraph, cut at a word boundary before ``limit`` characters (with an ellipsis)."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _title(document: ClassifiedDocument) -> str:
    """The policy's first heading, else its site (from its URL), else its file name, else "Privacy policy"."""
    from urllib.parse import urlsplit

    for paragraph in document.paragraphs[:3]:
        if paragraph.section:
            return paragraph.section[0]
    if document.url and urlsplit(document.url).hostname:
        return f"Privacy policy of {urlsplit(document.url).hostname}"
    if document.source and document.source != "-":
        return Path(document.source).name
    return "Privacy policy"


def _model_facts(model: ParagraphModel, name: str | None, *, calibrated: bool) -> dict[str, Any]:
    import classifier

    return {"name": name or type(model).__name__, "tool_version": classifier.__version__,
            "thresholds": dict(zip(model.labels, (round(float(t), 4) for t in model.thresholds), strict=True)),
            "attribute_outputs": len(getattr(model, "attribute_keys", ()) or ()), "calibrated": calibrated,
            "unsure_floor": UNSURE_FLOOR}
