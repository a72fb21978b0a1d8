"""The attribute schema: what a practice paragraph says, in OPP-115's attributes (data types, purposes, ...).

OPP-115 annotates every practice span with attributes (Wilson et al., ACL 2016; ``Personal Information Type``,
``Purpose``, ...), each with one value. Attribute and value ids are the snake_case of OPP-115's names
(``personal_information_type``, ``ip_address_and_device_ids``); like label ids they are a contract between data,
saved models and outputs. ``Unspecified`` (the annotator saw the attribute but the text does not say) and
``not-selected`` are not values: they say nothing about the policy, so the gold has no value for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ATTRIBUTES", "ATTRIBUTE_IDS", "NOT_VALUES", "OUTPUT_KEYS", "Attribute", "allowed_matrix", "attribute",
           "gate_attributes", "split_key", "value_id"]

NOT_VALUES = frozenset({"unspecified", "not_selected"})


def value_id(name: str) -> str:
    """The snake_case id of an OPP-115 attribute or value name (``"IP address and device IDs"`` ->
    ``ip_address_and_device_ids``; case and punctuation variants of one name give one id)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass(frozen=True)
class Attribute:
    """One attribute: its ``id``, OPP-115 ``name``, the label ids of the categories it belongs to, its value ids and
    their OPP-115 names (``value_names``, in the same order)."""

    id: str
    name: str
    categories: tuple[str, ...]
    values: tuple[str, ...]
    value_names: tuple[str, ...]


def _attribute(name: str, categories: tuple[str, ...], values: str) -> Attribute:
    names = tuple(values.split("|"))
    return Attribute(value_id(name), name, categories, tuple(value_id(v) for v in names), names)


_FIRST, _THIRD, _CHOICE = "first_party_collection", "third_party_sharing", "user_choice_control"

# Values as OPP-115 names them (its documentation/ and the annotations of ../shared/opp115), Unspecified left out.
ATTRIBUTES: tuple[Attribute, ...] = (
    _attribute("Personal Information Type", (_FIRST, _THIRD, _CHOICE, "data_retention"),
               "Financial|Health|Contact|Location|Demographic|Personal identifier|User online activities|"
               "User profile|Social media data|IP address and device IDs|Cookies and tracking elements|"
               "Computer information|Survey data|Generic personal information|Other"),
    _attribute("Purpose", (_FIRST, _THIRD, _CHOICE),
               "Basic service/feature|Additional service/feature|Advertising|Marketing|Analytics/Research|"
               "Personalization/Customization|Service operation and security|Legal requirement|"
               "Merger/Acquisition|Other"),
    _attribute("Third Party Entity", (_THIRD,),
               "Named third party|Unnamed third party|Other part of company/affiliate|Public|Other users|Other"),
    _attribute("Choice Type", (_FIRST, _THIRD, _CHOICE),
               "Opt-in|Opt-out link|Opt-out via contacting company|Browser/device privacy controls|"
               "First-party privacy controls|Third-party privacy controls|Dont use service/feature|Other"),
    _attribute("Retention Period", ("data_retention",), "Stated Period|Limited|Indefinitely|Other"),
    _attribute("Access Type", ("user_access_edit_deletion",),
               "View|Edit information|Export|Delete account (partial)|Delete account (full)|Deactivate account|"
               "None|Other"),
    _attribute("Security Measure", ("data_security",),
               "Generic|Secure data transfer|Secure data storage|Data access limitation|Secure user authentication|"
               "Privacy/Security program|Privacy review/audit|Privacy training|Other"),
    _attribute("Audience Type", ("international_specific_audiences",),
               "Children|Californians|Europeans|Citizens from other countries|Other"),
    _attribute("Change Type", ("policy_change",),
               "Privacy relevant change|Non-privacy relevant change|In case of merger or acquisition|Other"),
    _attribute("Notification Type", ("policy_change",),
               "General notice in privacy policy|General notice on website|Personal notice|No notification|Other"),
    _attribute("Does/Does Not", (_FIRST, _THIRD), "Does|Does Not"),
)
ATTRIBUTE_IDS: tuple[str, ...] = tuple(a.id for a in ATTRIBUTES)
# What a model with attribute outputs predicts: every value but "other" (which says nothing a reader can check),
# as "attribute/value", in schema order.
OUTPUT_KEYS: tuple[str, ...] = tuple(f"{a.id}/{v}" for a in ATTRIBUTES for v in a.values if v != "other")
_BY_ID = {a.id: a for a in ATTRIBUTES}


def attribute(attribute_id: str) -> Attribute:
    """The attribute with this id; ``KeyError`` naming the known ids otherwise."""
    try:
        return _BY_ID[attribute_id]
    except KeyError:
        raise KeyError(f"unknown attribute {attribute_id!r} (attributes: {', '.join(ATTRIBUTE_IDS)})") from None


def split_key(key: str) -> tuple[str | None, str, str]:
    """``(category, attribute, value)`` of a model output's key: ``attribute/value`` (any category of the
    attribute) or ``category/attribute/value``.

    Raises:
        ValueError: a key of another shape, or an attribute or value the schema does not know.
    """
    parts = key.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"attribute key {key!r} is not 'attribute/value' or 'category/attribute/value'")
    category, attr, value = (None, parts[0], parts[1]) if len(parts) == 2 else (parts[0], parts[1], parts[2])
    known = _BY_ID.get(attr)
    if known is None or value not in known.values or (category is not None and category not in known.categories):
        raise ValueError(f"attribute key {key!r} is not in the schema (classifier.attributes.ATTRIBUTES)")
    return category, attr, value


def gate_attributes(keys: Sequence[str], thresholds: Sequence[float], scores: np.ndarray, given: np.ndarray,
                    labels: Sequence[str]) -> list[dict[str, dict[str, float]]]:
    """The values each paragraph states: one ``{attribute: {value: score}}`` per row, highest score first.

    ``scores`` is ``(n, len(keys))``, the attribute outputs; ``given`` is ``(n, len(labels))``, the categories each
    paragraph was given. A value is given when its score reaches its threshold *and* the paragraph has a category
    the value belongs to (the key's own category, or any of the attribute's): a purpose means nothing in a
    paragraph about security. A value that several keys give (one per category) keeps its highest score.

    Raises:
        ValueError: a key :func:`split_key` refuses.
    """
    import numpy as np

    parsed = [split_key(key) for key in keys]
    passed = (np.asarray(scores) >= np.asarray(thresholds)) & (np.asarray(given, dtype=np.float32)
                                                               @ allowed_matrix(keys, labels).T.astype(np.float32) > 0)
    out: list[dict[str, dict[str, float]]] = [{} for _ in range(len(passed))]
    for row, column in zip(*np.nonzero(passed), strict=True):
        _, attr, value = parsed[column]
        values = out[row].setdefault(attr, {})
        values[value] = max(values.get(value, 0.0), round(float(scores[row, column]), 4))
    return [{attr: dict(sorted(values.items(), key=lambda item: -item[1])) for attr, values in row.items()}
            for row in out]


def allowed_matrix(keys: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """``(len(keys), len(labels))`` booleans: which categories each output's value belongs to (the key's own
    category, or any of its attribute's).

    Raises:
        ValueError: a key :func:`split_key` refuses.
    """
    import numpy as np

    parsed = [split_key(key) for key in keys]
    return np.array([[label in ((category,) if category else _BY_ID[attr].categories) for label in labels]
                     for category, attr, _ in parsed], dtype=bool).reshape(len(keys), len(labels))
