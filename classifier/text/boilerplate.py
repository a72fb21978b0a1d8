"""Site boilerplate in crawled pages: the navigation menus, footers, cookie banners and sharing widgets that a crawl
keeps as runs of short lines around the page's own text.

Line-level rules, made on DMOZ pages outside the hand-checked sample they are measured on (see
``docs/segmentation.md``):

1. A *prose* line has at least 8 words and ends like a sentence (or has 20 words or more); a cookie banner ("we
   use cookies ... accept") is not prose.
2. *Header*: the lines before the first prose line are the site's, except the page's title block right above it
   (the lines after the last navigation line, at most ``TITLE_LINES`` of them; names of policies such as "Privacy
   Policy" count as titles here, not as navigation).
3. *Footer*: after the last prose line, from the first navigation or copyright line on, everything is the site's
   (a contact block between the policy's end and the footer stays).
4. *Anywhere*: runs of ``NAV_RUN`` or more short lines of which at least half are navigation vocabulary (a sidebar,
   a sharing widget), from their first navigation line to their last; copyright lines and cookie banners.

Navigation vocabulary is a fixed list of the short lines most frequent across DMOZ pages that name site sections
rather than policy topics ("Home", "Contact Us", "Skip to content", "Facebook"...). Boilerplate lines are blanked
(replaced by spaces), so paragraph offsets still index the original text.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from classifier.text.reading import PolicyText

__all__ = ["NAV_RUN", "TITLE_LINES", "boilerplate_lines", "strip_boilerplate"]

TITLE_LINES = 25
NAV_RUN = 3
_PROSE_WORDS, _LONG_WORDS = 8, 20
_SENTENCE_END = re.compile(r"[.!?:;)\"”’]\s*$")
_BANNER = re.compile(r"\b(?:we|this (?:web)?site|our (?:web)?site)\s+uses?\s+cookies\b.*\b(?:accept|agree|consent|"
                     r"continu\w*|ok|got it|allow)\b", re.IGNORECASE)
_COPYRIGHT = re.compile(r"(?:©|\(c\)\s*\d{4}|\bcopyright\b\s*(?:©\s*)?\d{4}|\ball rights reserved\b)", re.IGNORECASE)
_NAV = frozenset("""
home|homepage|main menu|menu|close|open menu|toggle navigation|skip to content|skip to main content|skip to navigation
|jump to main content|jump to navigation|back to top|top|search|search for:|search this site|submit|go|×|x|||>|»|0
|contact|contact us|about|about us|who we are|our team|team|news|blog|events|calendar|careers|jobs|press
|press releases|media|resources|links|quick links|useful links|site map|sitemap|faq|faqs|help|support
|customer service|login|log in|log out|logout|sign in|sign up|register|my account|account|cart|view cart
|checkout|shop|store|products|services|donate|subscribe|newsletter|facebook|twitter|instagram|linkedin|youtube
|pinterest|tumblr|flickr|rss|share|tweet|email|print|follow us|connect with us|recent posts|categories|archives
|recent comments|tags|meta|comments|leave a reply|previous|next|read more|learn more|more|english|español
|français|deutsch|accessibility|terms|terms of use|terms of service|terms & conditions|terms and conditions
|legal|disclaimer|cookie policy|cookies|privacy|privacy policy|privacy notice|privacy statement|policies
""".replace("\n", "").split("|")) - {""}


# Names of policies: navigation in a menu or footer, but also the page's own title above its first paragraph.
_TITLE_LIKE = frozenset({"privacy", "privacy policy", "privacy notice", "privacy statement", "cookie policy", "cookies",
                         "terms", "terms of use", "terms of service", "terms & conditions", "terms and conditions",
                         "legal", "disclaimer", "policies"})


def _norm(line: str) -> str:
    return " ".join(line.split()).lower()


def _is_nav(line: str) -> bool:
    return _norm(line) in _NAV


def _is_prose(line: str) -> bool:
    words = len(line.split())
    if words < _PROSE_WORDS or _BANNER.search(line):
        return False
    return words >= _LONG_WORDS or bool(_SENTENCE_END.search(line))


def _is_site_line(line: str) -> bool:
    """A line that is the site's wherever it stands: a cookie banner or a short copyright line."""
    return bool(_BANNER.search(line)) or (len(line.split()) < 20 and bool(_COPYRIGHT.search(line)))


def boilerplate_lines(lines: list[str]) -> list[bool]:
    """Which lines are site boilerplate (blank lines are never marked). A page without a prose line is left as it is."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    prose = [i for i in filled if _is_prose(lines[i])]
    marked = [False] * len(lines)
    if not prose:
        return marked
    first, last = prose[0], prose[-1]
    for i in _header(lines, filled, first) + _footer(lines, filled, last) + _nav_runs(lines, filled):
        marked[i] = True
    for i in filled:
        if _is_site_line(lines[i]):
            marked[i] = True
    return marked


def _header(lines: list[str], filled: list[int], first: int) -> list[int]:
    before = [i for i in filled if i < first]
    navs = [n for n, i in enumerate(before) if _is_nav(lines[i]) and _norm(lines[i]) not in _TITLE_LIKE]
    keep_from = max(navs[-1] + 1 if navs else 0, len(before) - TITLE_LINES)
    return before[:keep_from]


def _footer(lines: list[str], filled: list[int], last: int) -> list[int]:
    after = [i for i in filled if i > last]
    start = next((n for n, i in enumerate(after) if _is_nav(lines[i]) or _is_site_line(lines[i])), len(after))
    return after[start:]


def _nav_runs(lines: list[str], filled: list[int]) -> list[int]:
    """Runs of short (non-prose) lines of which at least half are navigation vocabulary."""
    out: list[int] = []
    run: list[int] = []
    for i in [*filled, -1]:
        if i >= 0 and not _is_prose(lines[i]) and len(lines[i].split()) < _PROSE_WORDS:
            run.append(i)
            continue
        if len(run) >= NAV_RUN and 2 * sum(_is_nav(lines[j]) for j in run) >= len(run):
            # from its first navigation line to its last: a title below a menu or an address above a footer stays
            navs = [n for n, j in enumerate(run) if _is_nav(lines[j]) and _norm(lines[j]) not in _TITLE_LIKE]
            if navs:
                out += run[navs[0]:navs[-1] + 1]
        run = []
    return out


def strip_boilerplate(policy: PolicyText) -> PolicyText:
    """The policy with its boilerplate lines blanked (spaces: offsets into the original text stay valid)."""
    lines = policy.text.split("\n")
    marked = boilerplate_lines(lines)
    if not any(marked):
        return policy
    text = "\n".join(" " * len(line) if drop else line for line, drop in zip(lines, marked, strict=True))
    return replace(policy, text=text)
