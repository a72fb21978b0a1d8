"""Split a whole privacy policy into the paragraphs a reader would see.

The segmenter works on lines. Each non-blank line is classified (Markdown heading, bold title, short fragment,
bullet, table row, date line, body text), then lines are grouped:

* headings are not paragraphs: they become the section path of the paragraphs under them;
* a run of three or more short fragments with no body text between them (a table flattened into lines, a
  table of contents) stays together as one paragraph, as does a block of ``|`` table rows;
* consecutive short bullets form one list paragraph together with a ``...:`` line that introduces them, while
  long bullets are paragraphs of their own;
* lines of body text are paragraphs, joined only when a line clearly wraps onto the next.

Every paragraph keeps ``start``/``end`` character offsets such that ``text[start:end] == paragraph.text``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from classifier.text.reading import PolicyText, read_policy

__all__ = ["DEFAULT_MAX_PARAGRAPH_CHARS", "Paragraph", "SegmentFormat", "render_paragraphs", "segment_policy",
           "segment_text"]

DEFAULT_MAX_PARAGRAPH_CHARS = 5000  # far beyond what an encoder reads; longer blocks are split at sentences

_TERMINAL = tuple(".!?;:。；：！？")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s*(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+•·▪●]\s+|[-*]\s*\(?[a-zA-Z0-9]{1,3}[).]\s*)")
_DOTTED = re.compile(r"^([0-9]{1,2}(?:\.[0-9]{1,2})*)(?:[.)、．,，]|\s)")
_TOP_LEVEL = re.compile(r"^(?:[一二三四五六七八九十]{1,3}\s*[、.．]|(?:[IVX]{1,5}|[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ])\s*[.、．]|\.\s*\w)")
_PARENTHESIZED = re.compile(r"^[(（]\s*(?:[0-9]{1,2}|[一二三四五六七八九十]{1,3}|[a-zA-Z]|[ivxIVX]{1,4})\s*[)）]")
_INDENTED_ITEM = re.compile(r"^\s{2,}(?:[0-9]{1,2}[.)]|[(（][a-zA-Z0-9]{1,2}[)）])")
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)(.+?)\1[\s.:]*$")
_DATE_LINE = re.compile(
    r"^\W*(?:last\s+)?(?:updated?|update date|effective|revised|modified|version|release date)\b.{0,60}$",
    re.IGNORECASE,
)
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_SENTENCE_END = re.compile(r"[.!?。！？;；](?:[\"'”’)\]]*)\s+")


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a policy.

    Attributes:
        index: position among the policy's paragraphs, from 0.
        text: the paragraph exactly as it stands in the policy text (``policy[start:end]``).
        start: offset of its first character in the policy text.
        end: offset one past its last character.
        section: heading path of the section it sits in, outermost first (may be empty).
    """

    index: int
    text: str
    start: int
    end: int
    section: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"index": self.index, "start": self.start, "end": self.end, "section": list(self.section),
                "text": self.text}


class SegmentFormat(str, Enum):
    """How segmented paragraphs are written out: readable text, or one JSON object per line."""

    text = "text"
    jsonl = "jsonl"


def render_paragraphs(paragraphs: Iterable[Paragraph], fmt: SegmentFormat | str = SegmentFormat.text) -> str:
    """Paragraphs as text (index, offsets, heading path, then the paragraph) or as JSON lines."""
    fmt = SegmentFormat(fmt)
    if fmt is SegmentFormat.jsonl:
        return "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in paragraphs)
    blocks = []
    for p in paragraphs:
        section = " > ".join(p.section)
        blocks.append(f"[{p.index}] {p.start}-{p.end}" + (f"  § {section}" if section else "") + f"\n{p.text}\n\n")
    return "".join(blocks)


@dataclass
class _Line:
    start: int
    end: int
    text: str
    kind: str = "text"  # heading | fragment | bullet | table | date | text
    level: int = 9
    title: str = ""
    blank_before: bool = False
    indented_item: bool = False


def _strip_marks(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return " ".join(text.replace("**", "").replace("__", "").strip(" #*_\t").split())


def _ends_sentence(text: str) -> bool:
    return text.rstrip(" *_\"'”’)]").endswith(_TERMINAL)


def _numbered_level(text: str) -> int | None:
    if _TOP_LEVEL.match(text):
        return 1
    if _PARENTHESIZED.match(text):
        return 3
    match = _DOTTED.match(text)
    if match:
        return match.group(1).count(".") + 1
    return None


def _classify(line: _Line) -> None:
    text = line.text
    md = _MD_HEADING.match(text)
    if md and md.group(2):
        line.kind, line.level, line.title = "heading", len(md.group(1)), _strip_marks(md.group(2))
        return
    if _TABLE_ROW.match(text):
        line.kind = "table"
        return
    if line.indented_item or (_BULLET.match(text) and not text.lstrip().startswith(("**", "__"))):
        line.kind = "bullet"
        return
    bold = _BOLD_LINE.match(text)
    if bold and len(text) <= 120 and not _ends_sentence(bold.group(2)):
        line.kind, line.level, line.title = "heading", 5, _strip_marks(bold.group(2))
        return
    if _DATE_LINE.match(_strip_marks(text)):
        line.kind = "date"
        return
    stripped = text.strip()
    if not _ends_sentence(stripped) and len(stripped) <= 200:
        line.kind = "fragment"
        number = _numbered_level(stripped)
        line.level = number if number is not None else 6
        line.title = _strip_marks(stripped)
        return
    line.kind = "text"


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    offset = 0
    blank = False
    for raw in text.split("\n"):
        stripped = raw.strip()
        if stripped and stripped != "\u00a0":
            lead = len(raw) - len(raw.lstrip())
            start = offset + lead
            lines.append(_Line(start=start, end=start + len(stripped), text=stripped, blank_before=blank,
                               indented_item=bool(_INDENTED_ITEM.match(raw))))
            blank = False
        else:
            blank = True
        offset += len(raw) + 1
    return lines


_Group = tuple[list[_Line], tuple[str, ...]]


def _group(lines: list[_Line]) -> list[_Group]:
    """Group classified lines into paragraphs, each with its section path."""
    for line in lines:
        _classify(line)
    return _Grouper(lines).run()


class _Grouper:
    """One pass over classified lines: headings update the section path, other lines become paragraphs.

    Each ``_take_*`` step consumes the run of lines that starts at ``i`` and returns the index after it.
    """

    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.groups: list[_Group] = []
        self.stack: list[tuple[int, str]] = []

    def section(self) -> tuple[str, ...]:
        return tuple(title for _, title in self.stack if title)

    def push_heading(self, level: int, title: str) -> None:
        if self.stack and self.stack[-1][1] == title:  # a duplicated title line
            return
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))

    def emit(self, lines: list[_Line]) -> None:
        self.groups.append((lines, self.section()))

    def run(self) -> list[_Group]:
        i, n = self._take_title(), len(self.lines)
        while i < n:
            line = self.lines[i]
            if line.kind == "heading":
                self.push_heading(line.level, line.title)
                i += 1
            elif line.kind in {"table", "date"}:
                i = self._take_same_kind(i)
            elif line.kind == "fragment":
                i = self._take_fragments(i)
            elif line.kind == "bullet":
                i = self._take_bullets(i)
            else:
                i = self._take_body(i)
        return self.groups

    def _take_title(self) -> int:
        """The policy's first line, when it is a short title, is the outermost heading; repeats of it are dropped."""
        lines, n = self.lines, len(self.lines)
        if not (n and lines[0].kind in {"fragment", "heading"} and lines[0].title):
            return 0
        title = lines[0].title
        self.push_heading(0, title)
        i = 1
        while i < n and lines[i].kind in {"fragment", "heading"} and lines[i].title == title:
            i += 1
        return i

    def _take_same_kind(self, i: int) -> int:
        """Consecutive table rows or date lines form one unit."""
        lines, j = self.lines, i
        while j + 1 < len(lines) and lines[j + 1].kind == lines[i].kind:
            j += 1
        self.emit(lines[i:j + 1])
        return j + 1

    def _take_fragments(self, i: int) -> int:
        lines, n = self.lines, len(self.lines)
        j = _fragment_run_end(lines, i)
        if j - i + 1 < 3 and j + 1 < n and lines[j + 1].kind != "heading":
            # One or two short lines before body text are titles of what follows.
            for k in range(i, j + 1):
                self.push_heading(lines[k].level if k == j or lines[k].level < 6 else 6, lines[k].title)
        else:
            self.emit(lines[i:j + 1])
        return j + 1

    def _take_bullets(self, i: int) -> int:
        lines, n = self.lines, len(self.lines)
        j = i
        spaced = lines[i + 1].blank_before if i + 1 < n else True
        while j + 1 < n and lines[j + 1].kind == "bullet" and (j == i or lines[j + 1].blank_before == spaced):
            j += 1
        items, line = lines[i:j + 1], lines[i]
        if (j == i and j + 1 < n and lines[j + 1].kind in {"text", "bullet"} and len(line.text) <= 120
                and not _ends_sentence(line.text)):
            # A lone short item before body text is a numbered heading indented like a list item.
            number = _numbered_level(line.text.lstrip("-*+•· "))
            self.push_heading(number if number is not None else 6, _strip_marks(_BULLET.sub("", line.text, count=1)))
        elif all(len(item.text) <= 150 for item in items):
            # A list of short items reads as one unit, with the line that introduces it.
            if self.groups and _introduces(self.groups[-1][0], line):
                prev_lines, prev_section = self.groups.pop()
                self.groups.append((prev_lines + items, prev_section))
            else:
                self.emit(items)
        else:
            for item in items:
                self.emit([item])
        return j + 1

    def _take_body(self, i: int) -> int:
        """Body text: a line that does not end a sentence joins the line it wraps onto."""
        lines, j = self.lines, i
        while (
            j + 1 < len(lines)
            and not lines[j + 1].blank_before
            and not _ends_sentence(lines[j].text)
            and lines[j + 1].kind in {"text", "fragment"}
            and lines[j + 1].text[:1].islower()
        ):
            j += 1
        self.emit(lines[i:j + 1])
        return j + 1


def _introduces(previous: list[_Line], first_item: _Line) -> bool:
    last = previous[-1]
    return last.kind == "text" and last.text.rstrip(" *_").endswith((":", "：")) and len(previous) == 1


def _fragment_run_end(lines: list[_Line], i: int) -> int:
    """Return the index of the last line of the run of short fragments starting at ``i``.

    A ``...:`` line between two fragment runs (a caption inside a flattened table) does not break the run.
    """
    n = len(lines)
    j = i
    while True:
        # A run is either tight (no blank lines) or spaced (blank line after each); the pattern must hold.
        spaced = lines[j + 1].blank_before if j + 1 < n else True
        while j + 1 < n and lines[j + 1].kind == "fragment" and (j == i or lines[j + 1].blank_before == spaced):
            j += 1
        k = j + 1
        if (
            j - i >= 1
            and k + 2 < n
            and lines[k].kind == "text"
            and len(lines[k].text) <= 200
            and lines[k].text.rstrip().endswith((":", "："))
            and lines[k + 1].kind == "fragment"
            and lines[k + 2].kind == "fragment"
        ):
            j = k + 1
            continue
        return j


def _split_long(start: int, end: int, text: str, limit: int) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into pieces of at most ``limit`` characters, at sentence ends where possible."""
    pieces: list[tuple[int, int]] = []
    while end - start > limit:
        window = text[start:start + limit]
        cut = None
        for match in _SENTENCE_END.finditer(window):
            if match.end() > limit // 4:
                cut = match.end()
        if cut is None:
            space = window.rfind(" ", limit // 2)
            cut = space + 1 if space > 0 else limit
        piece_end = start + cut
        stripped_end = piece_end
        while stripped_end > start and text[stripped_end - 1].isspace():
            stripped_end -= 1
        pieces.append((start, stripped_end))
        start = piece_end
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        pieces.append((start, end))
    return pieces


def segment_text(text: str, *, max_chars: int = DEFAULT_MAX_PARAGRAPH_CHARS) -> list[Paragraph]:
    """Segment policy text (plain text or Markdown) into paragraphs.

    Args:
        text: the whole policy.
        max_chars: paragraphs longer than this are split at sentence ends (or spaces).

    Returns:
        Paragraphs in reading order, each with ``text == text[start:end]``; empty for blank text.
    """
    paragraphs: list[Paragraph] = []
    for group, section in _group(_split_lines(text)):
        start, end = group[0].start, group[-1].end
        for piece_start, piece_end in _split_long(start, end, text, max_chars):
            paragraphs.append(Paragraph(index=len(paragraphs), text=text[piece_start:piece_end],
                                        start=piece_start, end=piece_end, section=section))
    return paragraphs


def segment_policy(
    source: str | bytes | os.PathLike[str] | PolicyText, *, max_chars: int = DEFAULT_MAX_PARAGRAPH_CHARS
) -> list[Paragraph]:
    """Split a whole policy into paragraphs.

    Args:
        source: policy text, raw bytes, a path (plain text, Markdown or HTML; encodings detected), or a
            :class:`~classifier.text.reading.PolicyText` already read.
        max_chars: longest paragraph kept whole.

    Returns:
        The paragraphs. Offsets refer to :func:`~classifier.text.reading.read_policy`'s ``text``: the decoded input for
        plain text and Markdown, the extracted text for HTML.

    Raises:
        PolicyInputError: the input is missing, empty, binary, undecodable or too large.
    """
    policy = source if isinstance(source, PolicyText) else read_policy(source)
    return segment_text(policy.text, max_chars=max_chars)
