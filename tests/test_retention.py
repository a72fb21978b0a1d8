"""Retention periods as text (issue #29): spans, kinds and normalised durations, and what is not a period."""

from __future__ import annotations

import pytest

from classifier.text.retention import find_retention_periods


@pytest.mark.parametrize(("text", "span", "duration", "days", "bound"), [
    ("We retain your data for 30 days after you close your account.", "30 days", "P30D", 30.0, None),
    ("Logs are kept for up to two years.", "up to two years", "P2Y", 730.485, "at_most"),
    ("We delete it within thirty (30) days of a request.", "within thirty (30) days", "P30D", 30.0, "at_most"),
    ("Cookies expire after 24 hours.", "24 hours", "PT24H", 1.0, None),
    ("Backups are purged after 6-month periods.", "6-month", "P6M", 182.6213, None),
    ("We keep it for at least 7 years.", "at least 7 years", "P7Y", 2556.6975, "at_least"),
    ("We store it for several years.", "several years", None, None, None),
])
def test_a_stated_period_gives_its_span_and_iso_duration(text, span, duration, days, bound):
    (period,) = find_retention_periods(text)
    assert (period.kind, period.text, text[period.start:period.end]) == ("stated_period", span, span)
    assert (period.duration, period.days, period.bound) == (duration, days, bound)


@pytest.mark.parametrize(("text", "kind", "span"), [
    ("We keep your information for as long as your account is active.", "limited",
     "for as long as your account is active"),
    ("We store data only as long as necessary to fulfil the purposes of this policy.", "limited",
     "as long as necessary to fulfil the purposes of this policy"),
    ("We retain data until you delete your account.", "limited", "until you delete your account"),
    ("We will retain your personal information indefinitely.", "indefinitely", "indefinitely"),
])
def test_limits_and_indefinite_retention_are_found_without_a_duration(text, kind, span):
    (period,) = find_retention_periods(text)
    assert (period.kind, period.text, period.duration, period.days) == (kind, span, None, None)


def test_a_number_and_unit_without_retention_in_the_sentence_is_not_a_period():
    text = "We answer requests within 30 days. Logs are deleted after 90 days."
    (period,) = find_retention_periods(text)
    assert period.text == "90 days" and text[period.start:period.end] == "90 days"
    assert find_retention_periods("Our offices are open seven days a week.") == []
    assert find_retention_periods("") == []


def test_several_periods_come_in_text_order_and_a_limit_keeps_the_period_inside_it():
    text = ("We keep your information for as long as your account is active, "
            "and delete it within 30 days of a request; IP addresses are removed after 6 months.")
    assert [(p.kind, p.text) for p in find_retention_periods(text)] == [
        ("limited", "for as long as your account is active"), ("stated_period", "within 30 days"),
        ("stated_period", "6 months")]
