"""The section heading as context: the text a model sees for a paragraph under a heading.

A paragraph such as "We may share it with our partners." means different things under "How We Share Your
Information" and under "Your Choices". A model trained with ``section_context`` reads ``"<heading>. <paragraph>"``,
where the heading is the innermost one the paragraph sits under. Training data and inference build that text with
the same function, :func:`with_section`, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["model_inputs", "with_section"]


def with_section(text: str, section: Sequence[str] | None) -> str:
    """Return the model input for a paragraph: its innermost heading, a full stop, then the paragraph.

    Args:
        text: the paragraph text without its headings (as :func:`classifier.segment.segment_policy` gives it).
        section: the heading path, outermost first; empty or ``None`` for no heading.

    Returns:
        ``text`` unchanged when there is no non-empty heading, else ``"<heading>. <text>"``.
    """
    titles = [" ".join(str(title).split()) for title in section or ()]
    titles = [title for title in titles if title]
    if not titles:
        return text
    return f"{titles[-1]}. {text}" if text else titles[-1]


def model_inputs(texts: Iterable[str], sections: Iterable[Sequence[str]] | None, section_context: bool) -> list[str]:
    """Return the texts a model reads: with their headings in front when the model was trained that way.

    Args:
        texts: paragraph texts.
        sections: one heading path per text, or ``None`` (the texts are used as they are).
        section_context: whether the model was trained with :func:`with_section` inputs.

    Raises:
        TypeError: ``texts`` is a lone string or bytes (iterating it would give one text per character), or holds
            something other than strings.
        ValueError: ``sections`` is given with a different length than ``texts``.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"expected a list of texts, got a single {type(texts).__name__}; "
                        "wrap one text in a list: predict([text])")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, not str")
    if sections is None:
        return texts
    sections = list(sections)
    if len(sections) != len(texts):
        raise ValueError(f"{len(sections)} sections for {len(texts)} texts")
    if not section_context:
        return texts
    return [with_section(text, section) for text, section in zip(texts, sections, strict=True)]
