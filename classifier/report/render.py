"""One entry point for the report formats: a policy's report, a comparison or a folder's index, as HTML or
Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["FORMATS", "render", "render_index"]

FORMATS = ("html", "md")


def render(what: Any, format: str = "html") -> str:
    """A :class:`~classifier.report.policy.PolicyReport` or :class:`~classifier.report.compare.Comparison` as a
    page in ``format`` (``html`` or ``md``)."""
    from classifier.report.compare import Comparison

    module = _module(format)
    if isinstance(what, Comparison):
        return module.comparison_html(what) if format == "html" else module.comparison_markdown(what)
    return module.report_html(what) if format == "html" else module.report_markdown(what)


def render_index(entries: Sequence[tuple[str, Any]], format: str = "html", *,
                 failed: Sequence[tuple[str, str]] = ()) -> str:
    """The index page of a folder's reports (``(link, report)`` pairs; ``failed``: ``(source, reason)``)."""
    module = _module(format)
    return (module.index_html(entries, failed=failed) if format == "html"
            else module.index_markdown(entries, failed=failed))


def _module(format: str) -> Any:
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    from classifier.report import html, markdown

    return html if format == "html" else markdown
