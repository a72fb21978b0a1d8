"""How well boilerplate removal works, against pages whose boilerplate lines were marked by hand.

``data/policy_pages/boilerplate.csv`` gives, for a random sample of policy pages from the detector's test split,
the line ranges (1-based lines of the file, line 1 being the URL) that are the site's template. Scored per
character of non-blank lines (line 1 excluded): the share of boilerplate kept and of page content dropped, and per
paragraph of the segmenter's output: how many paragraphs are mostly boilerplate with and without the removal.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BoilerplatePage", "load_boilerplate_labels", "score_boilerplate"]


@dataclass(frozen=True)
class BoilerplatePage:
    path: str
    lines: frozenset[int]  # 1-based line numbers marked as boilerplate


def _parse_ranges(spec: str) -> frozenset[int]:
    lines: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        low, _, high = part.partition("-")
        lines.update(range(int(low), int(high or low) + 1))
    return frozenset(lines)


def load_boilerplate_labels(path: str | Path | None = None) -> list[BoilerplatePage]:
    """Read the hand-marked pages (default: ``data/policy_pages/boilerplate.csv`` of the checkout)."""
    from classifier.data.policy_pages import default_page_labels

    path = Path(path) if path is not None else default_page_labels().with_name("boilerplate.csv")
    with open(path, encoding="utf-8", newline="") as handle:
        return [BoilerplatePage(row["path"], _parse_ranges(row["boilerplate_lines"])) for row in csv.DictReader(handle)]


def score_boilerplate(pages: Iterable[BoilerplatePage], crawl_dir: str | Path) -> dict[str, Any]:
    """Character- and paragraph-level figures of :func:`classifier.text.boilerplate.strip_boilerplate` on the pages."""
    from classifier.text.boilerplate import strip_boilerplate
    from classifier.text.reading import read_policy
    from classifier.text.segment import segment_policy

    chars = {"boilerplate": 0, "boilerplate_kept": 0, "content": 0, "content_dropped": 0}
    paragraphs = {"before": 0, "before_boilerplate": 0, "after": 0, "after_boilerplate": 0}
    n = 0
    for page in pages:
        n += 1
        policy = read_policy(Path(crawl_dir) / page.path)
        stripped = strip_boilerplate(policy)
        is_site = _char_flags(policy.text, page.lines)
        for number, (line, kept) in enumerate(zip(policy.text.split("\n"), stripped.text.split("\n"), strict=True), 1):
            if number == 1 or not line.strip():
                continue
            size = len(line.strip())
            key = "boilerplate" if number in page.lines else "content"
            chars[key] += size
            if key == "boilerplate" and kept.strip():
                chars["boilerplate_kept"] += size
            if key == "content" and not kept.strip():
                chars["content_dropped"] += size
        for when, text in (("before", policy), ("after", stripped)):
            for paragraph in segment_policy(text):
                paragraphs[when] += 1
                span = is_site[paragraph.start:paragraph.end]
                paragraphs[f"{when}_boilerplate"] += sum(span) * 2 > len(span)
    return {"pages": n, **chars, **paragraphs,
            "boilerplate_kept_share": chars["boilerplate_kept"] / max(1, chars["boilerplate"]),
            "content_dropped_share": chars["content_dropped"] / max(1, chars["content"])}


def _char_flags(text: str, lines: frozenset[int]) -> list[bool]:
    """Per character of ``text``: on a hand-marked boilerplate line or not."""
    flags: list[bool] = []
    for number, line in enumerate(text.split("\n"), 1):
        flags += [number in lines] * (len(line) + 1)
    return flags[:len(text)]
