"""The label schema: stable label ids, display names, descriptions and the two label views.

Label ids are the contract between data files, saved models (``id2label``), the CLI and the API, so they never
change. Two views are offered:

* ``opp115``: the ten OPP-115 categories plus ``children`` (OPP-115's *International and Specific Audiences*
  with ``Audience Type = Children``), eleven labels in all. Models predict this view.
* ``card``: the six user-facing categories named in the project card, derived from the ``opp115`` view by
  :func:`to_card`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "CARD_LABELS",
    "APPSI139_MAPPING",
    "APPSI139_TOPICS",
    "C3PA_MAPPING",
    "CARD_MAP",
    "CORPUS_MAPPINGS",
    "CorpusMapping",
    "MAPP_MAPPING",
    "LABELS",
    "LABEL_IDS",
    "OPP115_CATEGORY_TO_ID",
    "OPP115_IDS",
    "Label",
    "Scheme",
    "card_label_ids",
    "card_scores",
    "label_ids",
    "to_card",
    "validate_label_ids",
]


@dataclass(frozen=True)
class Label:
    """One label of a view: its stable ``id``, a ``name`` for people and a one-line ``description``."""

    id: str
    name: str
    description: str


class Scheme(str, Enum):
    """Which label view to show: the OPP-115 categories (plus children) or the six user-facing ones."""

    opp115 = "opp115"
    card = "card"


LABELS: tuple[Label, ...] = (
    Label("first_party_collection", "First Party Collection/Use",
          "How and why the service provider collects or uses user information."),
    Label("third_party_sharing", "Third Party Sharing/Collection",
          "How user information is shared with, or collected by, third parties."),
    Label("user_choice_control", "User Choice/Control",
          "Choices and control options (opt-in, opt-out, consent) available to users."),
    Label("user_access_edit_deletion", "User Access, Edit and Deletion",
          "Whether and how users may access, edit or delete their information."),
    Label("data_retention", "Data Retention",
          "How long user information is stored."),
    Label("data_security", "Data Security",
          "How user information is protected."),
    Label("policy_change", "Policy Change",
          "If and how users are informed of changes to the privacy policy."),
    Label("do_not_track", "Do Not Track",
          "If and how Do Not Track signals are honoured."),
    Label("international_specific_audiences", "International and Specific Audiences",
          "Practices that concern a specific group of users (children, Europeans, Californians, ...)."),
    Label("other", "Other",
          "Introductory or generic text, contact information, and practices not covered above."),
    Label("children", "Children",
          "Practices that concern children or minors (OPP-115 specific audience = children)."),
)
LABEL_IDS: tuple[str, ...] = tuple(label.id for label in LABELS)
# The ten OPP-115 categories, in LABELS order; 'children' is an attribute value there, not a category.
OPP115_IDS: tuple[str, ...] = LABEL_IDS[:10]

OPP115_CATEGORY_TO_ID: dict[str, str] = {
    label.name: label.id for label in LABELS if label.id != "children"
}

CARD_LABELS: tuple[Label, ...] = (
    Label("first_party_collection", "First-party collection",
          "What the service itself collects and why."),
    Label("third_party_sharing", "Third-party sharing",
          "What is shared with, or collected by, third parties."),
    Label("retention", "Retention", "How long data is kept."),
    Label("user_rights", "User rights",
          "Choices, consent, opt-out, and access, correction or deletion of one's data."),
    Label("children", "Children", "Practices that concern children or minors."),
    Label("security", "Security", "How data is protected."),
)

# opp115 id -> card id. Labels missing here (policy change, DNT, audiences, other) have no card category.
CARD_MAP: dict[str, str] = {
    "first_party_collection": "first_party_collection",
    "third_party_sharing": "third_party_sharing",
    "data_retention": "retention",
    "user_choice_control": "user_rights",
    "user_access_edit_deletion": "user_rights",
    "children": "children",
    "data_security": "security",
}


@dataclass(frozen=True)
class CorpusMapping:
    """How another corpus's labels become the project's: one table per corpus.

    Attributes:
        corpus: the corpus id (the ``corpus`` column of its rows).
        table: each of the corpus's labels -> the project label ids it stands for (``()``: none). A target
            outside ``annotates`` is positive-only: a row with it is a positive, a row without it says nothing.
        annotates: the project labels the corpus decides for every row: a row without one of them is a negative
            for it. Every other project label is unknown for the corpus's rows (a masked loss ignores it).
        unsure: corpus labels whose rows say nothing reliable about some annotated labels (a span about how to
            exercise rights may describe access or opt-out): those cells are unknown too, unless a positive.
    """

    corpus: str
    table: Mapping[str, tuple[str, ...]]
    annotates: tuple[str, ...]
    unsure: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        used = {label for labels in (*self.table.values(), *self.unsure.values(), self.annotates) for label in labels}
        unknown = sorted(used - set(LABEL_IDS))
        if unknown:
            raise ValueError(f"{self.corpus}: unknown label id {unknown[0]!r}")

    def convert(self, source_labels: Iterable[str]) -> tuple[set[str], set[str]]:
        """``(labels, known)`` of a row that carries ``source_labels``: its project labels, and the project labels
        its row decides (positives and negatives).

        Raises:
            KeyError: a source label the table does not list (a corpus changed under us: fail loudly).
        """
        source = set(source_labels)
        labels = {label for name in source for label in self.table[name]}
        unknown = {label for name in source for label in self.unsure.get(name, ())}
        return labels, (set(self.annotates) - unknown) | labels


# MAPP (Arora et al., LREC 2022) annotates OPP-115's two collection categories only, with OPP-115's names.
MAPP_MAPPING = CorpusMapping(
    corpus="mapp",
    table={"First Party": ("first_party_collection",), "Third Party": ("third_party_sharing",)},
    annotates=("first_party_collection", "third_party_sharing"),
)

# C3PA (Musa et al., EMNLP 2024): the CCPA's disclosures and rights. A right to know, delete or correct is
# OPP-115's access, edit and deletion; opting out of sale and limiting use are user choices; how to exercise rights
# may be either, and non-discrimination neither. "Others" decides nothing.
_C3PA_ALL = ("first_party_collection", "third_party_sharing", "user_choice_control", "user_access_edit_deletion",
             "policy_change")
C3PA_MAPPING = CorpusMapping(
    corpus="c3pa",
    table={
        "Categories of Personal Information Collected": ("first_party_collection",),
        "Categories of Personal Information Shared / Disclosed": ("third_party_sharing",),
        "Categories of Personal Information Sold": ("third_party_sharing",),
        "Description of Right to Know PI Collected": ("user_access_edit_deletion",),
        "Description of Right to Know PI sold / shared": ("user_access_edit_deletion",),
        "Description of Right to Delete": ("user_access_edit_deletion",),
        "Description of Right to Correct Information": ("user_access_edit_deletion",),
        "Description of Right to Opt-out of sale of PI": ("user_choice_control",),
        "Description of Right to Limit use of PI": ("user_choice_control",),
        "Updated Privacy Policy": ("policy_change",),
        "Methods to exercise rights": (),
        "Description of Right to Non-discrimination on exercising rights": (),
        "Others": (),
    },
    annotates=_C3PA_ALL,
    unsure={"Methods to exercise rights": ("user_choice_control", "user_access_edit_deletion"),
            "Description of Right to Non-discrimination on exercising rights": ("user_choice_control",),
            "Others": _C3PA_ALL},
)


# APPSI-139 (ACL 2026): topics of app-policy sentences, vector positions in this order (checked by hand on
# single-label sentences and keywords, docs/corpora.md). Usage and permissions are OPP-115's first-party
# collection/use. Edit/Control is choice or access or both: unknown for those two. Contact information is OPP-115's
# 'other' (privacy contact), positive-only: APPSI has no 'other' topic, so its absence says nothing. Specific
# audiences are positive-only too (a quarter of the region and children sentences lack the topic), and unsure for
# children (children or a region: the topic does not say which). Cease Operation (5 sentences) decides nothing.
APPSI139_TOPICS: tuple[str, ...] = (
    "First Party Collection", "Permission Acquisition", "Third Party Sharing", "Usage", "Data Retention",
    "Data Security", "Edit/Control", "Contact Information", "Policy Change", "Cease Operation", "Specific Audiences",
)
_APPSI_ANNOTATES = ("first_party_collection", "third_party_sharing", "user_choice_control",
                    "user_access_edit_deletion", "data_retention", "data_security", "policy_change", "children")
APPSI139_MAPPING = CorpusMapping(
    corpus="appsi139",
    table={
        "First Party Collection": ("first_party_collection",),
        "Permission Acquisition": ("first_party_collection",),
        "Third Party Sharing": ("third_party_sharing",),
        "Usage": ("first_party_collection",),
        "Data Retention": ("data_retention",),
        "Data Security": ("data_security",),
        "Edit/Control": (),
        "Contact Information": ("other",),
        "Policy Change": ("policy_change",),
        "Cease Operation": (),
        "Specific Audiences": ("international_specific_audiences",),
    },
    annotates=_APPSI_ANNOTATES,
    unsure={"Edit/Control": ("user_choice_control", "user_access_edit_deletion"),
            "Specific Audiences": ("children",),
            "Cease Operation": _APPSI_ANNOTATES},
)

# Every other corpus's mapping, by corpus id.
CORPUS_MAPPINGS: dict[str, CorpusMapping] = {m.corpus: m for m in (MAPP_MAPPING, C3PA_MAPPING, APPSI139_MAPPING)}


def label_ids(scheme: Scheme | str = Scheme.opp115) -> tuple[str, ...]:
    """Return the label ids of a view, in their canonical order.

    Args:
        scheme: ``"opp115"`` (eleven labels) or ``"card"`` (six labels).

    Raises:
        ValueError: for an unknown scheme.
    """
    scheme = Scheme(scheme)
    return LABEL_IDS if scheme is Scheme.opp115 else card_label_ids()


def card_label_ids() -> tuple[str, ...]:
    """Return the six user-facing label ids in their canonical order."""
    return tuple(label.id for label in CARD_LABELS)


def to_card(labels: Iterable[str]) -> list[str]:
    """Map ``opp115``-view label ids to the ``card`` view (deduplicated, canonical order).

    Labels without a card category (``policy_change``, ``do_not_track``, ``other`` ...) are dropped.
    """
    mapped = {CARD_MAP[label] for label in labels if label in CARD_MAP}
    return [label for label in card_label_ids() if label in mapped]


def card_scores(scores: dict[str, float]) -> dict[str, float]:
    """Map per-label probabilities to the card view: a card category scores the max of its sources."""
    out = dict.fromkeys(card_label_ids(), 0.0)
    for label, score in scores.items():
        if label in CARD_MAP:
            card = CARD_MAP[label]
            out[card] = max(out[card], float(score))
    return out


def validate_label_ids(labels: Sequence[str], allowed: Sequence[str] = LABEL_IDS) -> None:
    """Raise ``ValueError`` naming the first label id that is not in ``allowed``."""
    allowed_set = set(allowed)
    for label in labels:
        if label not in allowed_set:
            raise ValueError(f"unknown label id {label!r}; expected one of: {', '.join(allowed)}")
