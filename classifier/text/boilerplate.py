"""Site boilerplate in crawled pages: the navigation menus, footers, cookie banners and sharing widgets that a crawl
keeps as runs of short lines around the page's own text.

Line-level rules, made on DMOZ pages of the detector's train split (30 of them hand-marked as a development set,
``data/policy_pages/boilerplate-dev.csv``) and measured on 40 hand-marked pages of its test split (see
``docs/segmentation.md``):

1. A *prose* line has at least 8 words and ends like a sentence (or has 20 words or more); a cookie banner ("we
   use cookies ... accept") is not prose.
2. *Main block*: wordy lines (8 words or more, mostly lower case, not a copyright line: prose, or hard-wrapped
   prose) at most ``MAIN_GAP`` non-blank lines apart form blocks; the page's text is the block with the most of
   them (a long line must also carry a sentence mark per 60 words: a run-on menu does not).
3. *Header*: the lines before the main block are the site's, except the page's title block right above it
   (the lines after the last navigation line, at most ``TITLE_LINES`` of them; names of policies such as "Privacy
   Policy" count as titles here, not as navigation).
4. *Footer*: after the main block, from the first navigation or copyright line, or the first of ``FOOTER_RUN``
   short lines in a row, everything is the site's (a shorter contact block right after the policy stays).
5. *Anywhere*: runs of ``NAV_RUN`` or more short lines of which at least half are navigation vocabulary (a sidebar,
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
_SENTENCE_MARK = re.compile(r"[.!?;:](?:\s|$)")
_WORDS_PER_MARK = 60
MAIN_GAP = 15
FOOTER_RUN = 8
_COPYRIGHT_WORDS = 40  # a footer's copyright line often carries its links too
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
    if words >= _LONG_WORDS:  # long: sentences have marks; a run-on menu ("HomeShopAbout...") has almost none
        return len(_SENTENCE_MARK.findall(line)) * _WORDS_PER_MARK >= words
    return bool(_SENTENCE_END.search(line))


def _is_wordy(line: str) -> bool:
    """Prose, or a line of hard-wrapped prose: 8 words or more, mostly lower case (a menu item or a heading is in
    Title Case), and not a copyright line or banner."""
    words = line.split()
    if len(words) < _PROSE_WORDS or _is_site_line(line):
        return False
    capitalised = sum(1 for word in words if word[:1].isupper())
    if capitalised * 10 > len(words) * 6:
        return False
    return len(words) < _LONG_WORDS or _is_prose(line)


def _is_site_line(line: str) -> bool:
    """A line that is the site's wherever it stands: a cookie banner or a short copyright line."""
    return bool(_BANNER.search(line)) or (len(line.split()) < _COPYRIGHT_WORDS and bool(_COPYRIGHT.search(line)))


def boilerplate_lines(lines: list[str]) -> list[bool]:
    """Which lines are site boilerplate (blank lines are never marked). A page without a prose line is left as it is."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    prose = [i for i in filled if _is_prose(lines[i])]
    marked = [False] * len(lines)
    if not prose:
        return marked
    wordy = [i for i in filled if _is_wordy(lines[i])]
    if not wordy:  # prose in capitals or Title Case only: nothing to anchor the main block on
        return marked
    first, last = _main_block(wordy, filled)
    for i in _header(lines, filled, first) + _footer(lines, filled, last) + _nav_runs(lines, filled):
        marked[i] = True
    for i in filled:
        if _is_site_line(lines[i]):
            marked[i] = True
    return marked


def _main_block(prose: list[int], filled: list[int]) -> tuple[int, int]:
    """The first and last line of the page's main text: wordy lines at most ``MAIN_GAP`` filled lines apart form a
    block; the block with the most of them wins (site blurbs in a footer form blocks of their own)."""
    position = {line: n for n, line in enumerate(filled)}
    blocks, start = [], 0
    for k in range(1, len(prose) + 1):
        if k == len(prose) or position[prose[k]] - position[prose[k - 1]] > MAIN_GAP:
            blocks.append((start, k - 1))
            start = k
    best = max(blocks, key=lambda b: b[1] - b[0])
    return prose[best[0]], prose[best[1]]


def _header(lines: list[str], filled: list[int], first: int) -> list[int]:
    before = [i for i in filled if i < first]
    navs = [n for n, i in enumerate(before) if _is_nav(lines[i]) and _norm(lines[i]) not in _TITLE_LIKE]
    keep_from = max(navs[-1] + 1 if navs else 0, len(before) - TITLE_LINES)
    return before[:keep_from]


def _footer(lines: list[str], filled: list[int], last: int) -> list[int]:
    """From the first navigation or copyright line after the main block, or the first of ``FOOTER_RUN`` short lines
    in a row (a menu), to the end."""
    after = [i for i in filled if i > last]
    short = [not _is_wordy(lines[i]) for i in after]
    start = next((n for n, i in enumerate(after) if _is_nav(lines[i]) or _is_site_line(lines[i])
                  or (n + FOOTER_RUN <= len(after) and all(short[n:n + FOOTER_RUN]))), len(after))
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
