"""What a policy says, as a sentence a person can check: data collected, who it is shared with and why, how long it
is kept, which choices the user has; every item with the paragraph that says it.

It reads a classified document's paragraphs (their categories, attribute values and quoted retention periods) and
nothing else. The rule, per item, is written in :data:`_CLAUSES`: a value counts when a paragraph of the clause's
category states it, and the paragraph with the highest score for it is its evidence. A paragraph that states
``does_not`` (and not ``does``) is left out of "collects" and "shares": "we do not sell your location" must not
read as "shares location".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from classifier.attributes import attribute

if TYPE_CHECKING:
    from classifier.predict.document import ClassifiedDocument, ClassifiedParagraph

__all__ = ["PolicyStatements", "Statement", "policy_statements"]

# (clause, the category whose paragraphs state it, attribute, leave out negated paragraphs)
_CLAUSES = (
    ("collects", "first_party_collection", "personal_information_type", True),
    ("uses_for", "first_party_collection", "purpose", True),
    ("shares", "third_party_sharing", "personal_information_type", True),
    ("shares_with", "third_party_sharing", "third_party_entity", True),
    ("shares_for", "third_party_sharing", "purpose", True),
    ("choices", "user_choice_control", "choice_type", False),
    ("access", "user_access_edit_deletion", "access_type", False),
    ("security", "data_security", "security_measure", False),
    ("audiences", "international_specific_audiences", "audience_type", False),
)
_WORDING = {  # how a value reads in a sentence where its OPP-115 name reads badly; others: the name, lowercase
    "ip_address_and_device_ids": "IP address and device IDs", "generic_personal_information": "personal information",
    "cookies_and_tracking_elements": "cookies and tracking", "user_online_activities": "online activity",
    "named_third_party": "named third parties", "unnamed_third_party": "unnamed third parties",
    "other_part_of_company_affiliate": "affiliates", "public": "the public",
    "basic_service_feature": "basic service", "additional_service_feature": "additional features",
    "analytics_research": "analytics and research", "personalization_customization": "personalization",
    "service_operation_and_security": "service operation and security",
    "opt_out_via_contacting_company": "opt-out by contacting the company",
    "browser_device_privacy_controls": "browser or device controls", "dont_use_service_feature": "not using it",
    "delete_account_partial": "delete account (partial)", "delete_account_full": "delete account (full)",
    "citizens_from_other_countries": "people in other countries",
}
_RETENTION_WORDING = {"limited": "as long as needed", "indefinitely": "indefinitely"}


@dataclass(frozen=True)
class Statement:
    """One item of a summary: a value (or a quoted retention period), its wording, and its evidence paragraph."""

    value: str
    wording: str
    paragraph: int
    score: float


@dataclass
class PolicyStatements:
    """A policy's statements by clause (see :data:`_CLAUSES`), and :meth:`sentence` to read them."""

    clauses: dict[str, list[Statement]] = field(default_factory=dict)
    retention: list[Statement] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.retention) or any(self.clauses.values())

    def sentence(self, *, evidence: bool = True) -> str:
        """``collects: contact, location; shares with unnamed third parties for advertising; keeps data: 30
        days; choices: opt-out link`` (each item followed by its paragraph, ``(¶12)``, with ``evidence``)."""
        def items(name: str) -> str:
            return ", ".join(s.wording + (f" (¶{s.paragraph})" if evidence else "") for s in self.clauses.get(name, []))

        parts = []
        if self.clauses.get("collects"):
            parts.append("collects: " + items("collects"))
        if self.clauses.get("uses_for"):
            parts.append("uses it for: " + items("uses_for"))
        if any(self.clauses.get(name) for name in ("shares", "shares_with", "shares_for")):
            shares = "shares" + (f" {items('shares')}" if self.clauses.get("shares") else "")
            shares += f" with {items('shares_with')}" if self.clauses.get("shares_with") else " with third parties"
            shares += f" for {items('shares_for')}" if self.clauses.get("shares_for") else ""
            parts.append(shares)
        if self.retention:
            parts.append("keeps data: " + ", ".join(s.wording + (f" (¶{s.paragraph})" if evidence else "")
                                                   for s in self.retention))
        for name, lead in (("choices", "choices"), ("access", "access"), ("security", "security"),
                           ("audiences", "mentions")):
            if self.clauses.get(name):
                parts.append(f"{lead}: {items(name)}")
        return "; ".join(parts) if parts else "states no attribute the model recognises"


def policy_statements(document: ClassifiedDocument, *, per_clause: int = 6) -> PolicyStatements:
    """The statements of a classified document, at most ``per_clause`` values per clause, the best supported first.

    In the card view a clause's category is its card category (:data:`classifier.labels.CARD_MAP`: choices and
    access both read ``user_rights`` paragraphs; audiences have no card category and are left out).
    """
    from classifier.labels import CARD_MAP, Scheme

    statements = PolicyStatements()
    for clause, opp_category, attr, positive_only in _CLAUSES:
        category = opp_category if document.scheme is Scheme.opp115 else CARD_MAP.get(opp_category)
        best: dict[str, Statement] = {}
        for paragraph in document.paragraphs:
            if category not in paragraph.labels or (positive_only and _negated(paragraph)):
                continue
            for value, score in paragraph.attributes.get(attr, {}).items():
                if value != "other" and (value not in best or score > best[value].score):
                    best[value] = Statement(value, _wording(attr, value), paragraph.index, score)
        statements.clauses[clause] = sorted(best.values(), key=lambda s: -s.score)[:per_clause]
    statements.retention = _retention(document.paragraphs)[:per_clause]
    return statements


def _negated(paragraph: ClassifiedParagraph) -> bool:
    stated = paragraph.attributes.get("does_does_not", {})
    return "does_not" in stated and "does" not in stated


def _wording(attr: str, value: str) -> str:
    if value in _WORDING:
        return _WORDING[value]
    schema = attribute(attr)
    return schema.value_names[schema.values.index(value)].lower()


def _retention(paragraphs: list[ClassifiedParagraph]) -> list[Statement]:
    """Quoted periods first (stated, then limits), one per wording; the attribute's value where nothing is quoted."""
    seen: dict[str, Statement] = {}
    for paragraph in paragraphs:
        for period in sorted(paragraph.retention, key=lambda p: p.kind != "stated_period"):
            wording = period.text if period.kind == "stated_period" else _RETENTION_WORDING[period.kind]
            seen.setdefault(wording.lower(), Statement(period.kind, wording, paragraph.index, 1.0))
    if not seen:
        for paragraph in paragraphs:
            for value, score in paragraph.attributes.get("retention_period", {}).items():
                named = {"stated_period": "a stated period", **_RETENTION_WORDING}.get(value)
                if named and (named not in seen or score > seen[named].score):
                    seen[named] = Statement(value, named, paragraph.index, score)
    return list(seen.values())
