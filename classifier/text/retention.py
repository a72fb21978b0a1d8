"""The retention period a paragraph states, as text: its span and, where there is one, a normalised duration.

OPP-115's ``Retention Period`` attribute says *that* a period is stated (``stated_period``), limited to a purpose
(``limited``) or unbounded (``indefinitely``); users want the period itself ("30 days", "up to two years", "as long
as your account is active"). This module finds those phrases with rules, because they are short, formulaic and
must be quoted exactly: every span is an offset range into the paragraph, and a stated period carries an ISO 8601
duration (``P30D``, ``P2Y``, ``PT24H``) and its length in days.

A number and a unit alone are not a retention period ("we answer within 30 days"): a period counts only in a
sentence that also speaks of keeping or deleting data (:data:`_CUE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RetentionPeriod", "find_retention_periods"]

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "twenty-four": 24,
    "thirty": 30, "thirty-six": 36, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90,
    "hundred": 100, "one hundred": 100, "one hundred eighty": 180, "several": None, "few": None,
}
# (ISO designator, days per unit); months and years at their calendar averages
_UNITS = {"second": ("S", 1 / 86400), "minute": ("M", 1 / 1440), "hour": ("H", 1 / 24), "day": ("D", 1.0),
          "week": ("W", 7.0), "month": ("M", 30.436875), "year": ("Y", 365.2425)}
_BOUNDS = {"up to": "at_most", "no longer than": "at_most", "no more than": "at_most", "not more than": "at_most",
           "not longer than": "at_most", "maximum of": "at_most", "max of": "at_most", "a maximum of": "at_most",
           "within": "at_most", "less than": "at_most", "at least": "at_least", "minimum of": "at_least",
           "a minimum of": "at_least", "more than": "at_least", "over": "at_least"}

_NUMBER = (r"(?P<number>\d{1,4}(?:\.\d+)?|" + "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS),
                                                                  key=len, reverse=True)) + r")")
_PERIOD = re.compile(
    r"\b(?:(?P<bound>" + "|".join(sorted(map(re.escape, _BOUNDS), key=len, reverse=True)) + r")\s+)?"
    + _NUMBER + r"(?:\s*\(\s*(?P<digits>\d{1,4})\s*\))?[\s-]*(?:calendar\s+|business\s+|full\s+)?"
    r"(?P<unit>second|minute|hour|day|week|month|year)s?\b",
    re.IGNORECASE)
_LIMITED = re.compile(
    r"\b(?:(?:for\s+)?(?:as|so)\s+long\s+as\s+(?:(?:is|are|may\s+be|it\s+is|we\s+deem|reasonably)\s+)?"
    r"(?:your\s+account\s+(?:is|remains)\s+(?:active|open)|you\s+(?:are|remain)\s+a\s+(?:user|customer|member)|"
    r"you\s+(?:use|have)\b[^.;]{0,60}?|"
    r"(?:necessary|needed|required|reasonably\s+necessary|permitted|useful|relevant)\b[^.;]{0,80}?)"
    r"|(?:for\s+)?the\s+(?:period|time)\s+(?:necessary|needed|required)\b[^.;]{0,80}?"
    r"|(?:only\s+)?(?:as|where)\s+(?:reasonably\s+)?(?:necessary|needed|required)\s+(?:to|for)\s+"
    r"(?:comply|provide|fulfil|fulfill|meet|resolve|enforce)\b[^.;]{0,80}?"
    r"|no\s+longer\s+than\s+(?:is\s+)?(?:necessary|needed|required)[^.;]{0,80}?"
    r"|until\s+you\s+(?:delete|close|deactivate|cancel|terminate|change|ask|request|withdraw|unsubscribe)\b"
    r"[^.;]{0,60}?"
    r"|after\s+(?:your|the)\s+(?:request|transaction|order|event|purpose)\s+(?:has\s+been|is)\s+"
    r"(?:fulfilled|completed|processed))"
    r"(?=[.;,)]|$)", re.IGNORECASE)
_INDEFINITE = re.compile(r"\b(?:indefinitely|permanently|forever|for\s+an?\s+(?:unlimited|indefinite)\s+"
                         r"(?:period|time|amount\s+of\s+time))\b", re.IGNORECASE)
_CUE = re.compile(r"\b(?:retain|retention|keep|kept|store|stored|storing|hold|held|maintain|preserve|delete|"
                  r"deleted|deletion|erase|erased|purge|purged|destroy|destroyed|anonymi[sz]e|anonymi[sz]ed|"
                  r"remove|removed|log|logs|archive|archived|expire|expires|backup|backups)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?;\n]+(?:[.!?;]+|$)")


@dataclass(frozen=True)
class RetentionPeriod:
    """One retention phrase in a paragraph.

    ``kind`` is a value id of the ``retention_period`` attribute (``stated_period``, ``limited``,
    ``indefinitely``); ``text`` is ``paragraph[start:end]``. A stated period has ``duration`` (ISO 8601, ``P30D``)
    and ``days`` (months and years at calendar averages), ``bound`` when the text gives one (``at_most`` for "up
    to", "no longer than"; ``at_least``), or neither when its number is not given ("several years").
    """

    start: int
    end: int
    text: str
    kind: str
    duration: str | None = None
    days: float | None = None
    bound: str | None = None


def find_retention_periods(paragraph: str) -> list[RetentionPeriod]:
    """Every retention phrase in ``paragraph``, in text order (stated periods, limits, "indefinitely"), each found
    in a sentence that speaks of keeping or deleting data."""
    found: list[RetentionPeriod] = []
    for sentence in _SENTENCE.finditer(paragraph):
        if not _CUE.search(sentence.group()):
            continue
        offset = sentence.start()
        found.extend(_stated(sentence.group(), offset))
        found.extend(_phrases(_LIMITED, "limited", sentence.group(), offset))
        found.extend(_phrases(_INDEFINITE, "indefinitely", sentence.group(), offset))
    return sorted(_without_overlaps(found), key=lambda p: p.start)


def _stated(sentence: str, offset: int) -> list[RetentionPeriod]:
    periods = []
    for match in _PERIOD.finditer(sentence):
        amount = _amount(match.group("digits") or match.group("number"))
        unit = match.group("unit").lower()
        designator, unit_days = _UNITS[unit]
        duration = days = None
        if amount is not None:
            text_amount = f"{amount:g}"
            duration = f"PT{text_amount}{designator}" if unit in ("second", "minute", "hour") else \
                f"P{text_amount}{designator}"
            days = round(amount * unit_days, 4)
        bound = _BOUNDS.get(" ".join((match.group("bound") or "").lower().split()))
        periods.append(RetentionPeriod(offset + match.start(), offset + match.end(), match.group(), "stated_period",
                                       duration, days, bound))
    return periods


def _amount(token: str) -> float | None:
    token = token.lower().strip()
    if token[0].isdigit():
        return float(token)
    return _NUMBER_WORDS.get(" ".join(token.split()))


def _phrases(pattern: re.Pattern[str], kind: str, sentence: str, offset: int) -> list[RetentionPeriod]:
    return [RetentionPeriod(offset + m.start(), offset + m.end(), m.group(), kind) for m in pattern.finditer(sentence)]


def _without_overlaps(periods: list[RetentionPeriod]) -> list[RetentionPeriod]:
    """Keep the longest of overlapping phrases (a limit that contains a stated period keeps the period)."""
    kept: list[RetentionPeriod] = []
    for period in sorted(periods, key=lambda p: (p.kind != "stated_period", -(p.end - p.start))):
        if all(period.end <= other.start or period.start >= other.end for other in kept):
            kept.append(period)
    return kept
