"""A policy's statements as a sentence (issue #29): clauses by category, evidence paragraphs, negation, retention."""

from __future__ import annotations

from classifier.labels import Scheme
from classifier.predict.document import ClassifiedDocument, ClassifiedParagraph
from classifier.text.retention import find_retention_periods


def _paragraph(index, labels, attributes, text="x"):
    retention = tuple(find_retention_periods(text)) if "data_retention" in labels else ()
    return ClassifiedParagraph(index=index, text=text, start=0, end=len(text), section=(), labels=labels, scores={},
                               attributes=attributes, retention=retention)


def _document(scheme=Scheme.opp115):
    return ClassifiedDocument("p.txt", [
        _paragraph(0, ["first_party_collection"], {"personal_information_type": {"contact": 0.9, "location": 0.7},
                                                   "purpose": {"basic_service_feature": 0.8}}),
        _paragraph(1, ["first_party_collection"], {"personal_information_type": {"contact": 0.95}}),
        # a negated paragraph: "we do not sell your health data"
        _paragraph(2, ["third_party_sharing"], {"personal_information_type": {"health": 0.9},
                                                "does_does_not": {"does_not": 0.9}}),
        _paragraph(3, ["third_party_sharing"], {"third_party_entity": {"unnamed_third_party": 0.8},
                                                "purpose": {"advertising": 0.85, "other": 0.9}}),
        _paragraph(4, ["data_retention"], {}, "We keep logs for 30 days, and other data as long as necessary."),
        _paragraph(5, ["user_choice_control"], {"choice_type": {"opt_out_link": 0.6}}),
    ], scheme)


def test_the_sentence_names_each_value_once_with_its_best_evidence_paragraph():
    statements = _document().statements()
    assert [(s.value, s.paragraph) for s in statements.clauses["collects"]] == [("contact", 1), ("location", 0)]
    assert statements.sentence() == (
        "collects: contact (¶1), location (¶0); uses it for: basic service (¶0); "
        "shares with unnamed third parties (¶3) for advertising (¶3); "
        "keeps data: 30 days (¶4), as long as needed (¶4); choices: opt-out link (¶5)")
    assert statements.sentence(evidence=False).startswith("collects: contact, location; uses it for: basic service")


def test_negated_paragraphs_and_other_values_stay_out_and_an_empty_policy_says_so():
    statements = _document().statements()
    assert statements.clauses["shares"] == []  # "health" was in a does-not paragraph
    assert all(s.value != "other" for s in statements.clauses["shares_for"])
    empty = ClassifiedDocument("e.txt", [_paragraph(0, ["other"], {})]).statements()
    assert not empty and empty.sentence() == "states no attribute the model recognises"


def test_the_card_view_reads_the_same_clauses_through_its_categories():
    document = _document()
    card = ClassifiedDocument("p.txt", [
        _paragraph(p.index, [{"data_retention": "retention", "user_choice_control": "user_rights"}.get(label, label)
                             for label in p.labels], p.attributes, p.text)
        for p in document.paragraphs], Scheme.card)
    # retention periods come from the paragraph, whatever its label is called
    card.paragraphs[4] = ClassifiedParagraph(4, "x", 0, 1, (), ["retention"], {}, {}, document.paragraphs[4].retention)
    assert card.statements().sentence() == document.statements().sentence()
