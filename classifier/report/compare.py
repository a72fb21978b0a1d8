"""Two policies, or two versions of one, side by side: which categories were added, removed or changed, with the
paragraphs behind each change, and which attribute values are newly or no longer stated.

A category is *added* when the new text covers it and the old one did not (either of the other states), *removed*
the other way round, *changed* when both cover it but through different paragraphs (a paragraph counts as the same
when its text, whitespace and case aside, is in the other version), and *unchanged* otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from classifier.report.policy import PolicyReport

__all__ = ["CategoryChange", "Comparison", "compare_reports"]

_CLAUSE_NAMES = {"collects": "collects", "uses_for": "uses it for", "shares": "shares", "shares_with": "shares with",
                 "shares_for": "shares for", "choices": "choices", "access": "access", "security": "security",
                 "audiences": "mentions"}


@dataclass(frozen=True)
class CategoryChange:
    """One category in both versions: states, the kind of change, and the labelled paragraphs only one side has."""

    label: str
    scheme: str
    old_state: str
    new_state: str
    kind: str
    only_old: tuple[int, ...]
    only_new: tuple[int, ...]


@dataclass
class Comparison:
    """The changes between ``old`` and ``new``: categories of both views, then attribute values by clause."""

    old: PolicyReport
    new: PolicyReport
    changes: list[CategoryChange]
    attribute_changes: list[tuple[str, list[str], list[str]]]  # (clause, no longer stated, newly stated)

    def headline(self) -> str:
        """``2 categories added (...), 1 removed (...), 3 changed``: the OPP-115 view, in one line."""
        kinds: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
        for change in self.changes:
            if change.scheme == "opp115" and change.kind in kinds:
                kinds[change.kind].append(change.label)
        if not any(kinds.values()):
            return "No category was added, removed or changed."
        return "; ".join(f"{len(labels)} {kind} ({', '.join(labels)})" for kind, labels in kinds.items() if labels)


def compare_reports(old: PolicyReport, new: PolicyReport) -> Comparison:
    """The comparison of two reports (see the module's rule)."""
    old_texts = {_key(p.text) for p in old.paragraphs}
    new_texts = {_key(p.text) for p in new.paragraphs}
    changes = []
    for scheme, old_states, new_states in (("card", old.card, new.card), ("opp115", old.categories, new.categories)):
        for before, after in zip(old_states, new_states, strict=True):
            only_old = tuple(p.index for p in _labelled(old, before.label, scheme) if _key(p.text) not in new_texts)
            only_new = tuple(p.index for p in _labelled(new, after.label, scheme) if _key(p.text) not in old_texts)
            changes.append(CategoryChange(before.label, scheme, before.state, after.state,
                                          _kind(before.state, after.state, only_old, only_new), only_old, only_new))
    return Comparison(old, new, changes, _attribute_changes(old, new))


def _labelled(report: PolicyReport, label: str, scheme: str) -> list:
    if scheme == "card":
        return [p for p in report.paragraphs if label in report.card_labels.get(p.index, [])]
    return [p for p in report.paragraphs if label in p.labels]


def _kind(old_state: str, new_state: str, only_old: tuple[int, ...], only_new: tuple[int, ...]) -> str:
    if new_state == "covered" and old_state != "covered":
        return "added"
    if old_state == "covered" and new_state != "covered":
        return "removed"
    if old_state == new_state == "covered" and (only_old or only_new):
        return "changed"
    return "unchanged"


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _attribute_changes(old: PolicyReport, new: PolicyReport) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for clause, name in _CLAUSE_NAMES.items():
        before = {s.wording for s in old.statements.clauses.get(clause, [])}
        after = {s.wording for s in new.statements.clauses.get(clause, [])}
        if before != after:
            out.append((name, sorted(before - after), sorted(after - before)))
    before = {s.wording for s in old.statements.retention}
    after = {s.wording for s in new.statements.retention}
    if before != after:
        out.append(("keeps data", sorted(before - after), sorted(after - before)))
    return out
