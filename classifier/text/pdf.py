"""PDF policies: extract the text layer and rebuild the paragraphs a reader sees (optional ``pdf`` extra).

A PDF's text comes out as hard-wrapped lines, page numbers in between and words hyphenated across lines. Text is
extracted in layout mode, where the vertical gap between paragraphs becomes a blank line; for PDFs without such
gaps the rules below put paragraphs back together well enough for the segmenter: a paragraph ends at a short line
that ends a sentence, headings (short title-case lines without final punctuation) and list items start their own
blocks, and page numbers are dropped. Scanned PDFs without a text layer are refused.
"""

from __future__ import annotations

import io
import logging
import re
import statistics
from typing import Any

__all__ = ["is_pdf", "pdf_to_text"]

_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
_BULLET = re.compile(r"^(?:[•·◦▪●○■\-*–]\s+|\(?(?:\d{1,3}|[a-z]|[ivx]{1,4})[.)]\s+)", re.IGNORECASE)
_MINOR_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "our", "the", "to", "we",
                "with", "you", "your", "us", "is", "are", "how", "what", "who", "do", "this"}
_NUMBERED_HEADING = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[IVX]+\.|[A-Z]\.)\s+\S")
_SENTENCE_END = re.compile(r"[.!?:;。]['\")\]]?$")


def is_pdf(data: bytes) -> bool:
    """True when ``data`` starts like a PDF file."""
    return data[:1024].lstrip().startswith(b"%PDF-")


def pdf_to_text(data: bytes) -> str:
    """Return Markdown-like text (``#`` headings, ``-`` list items, blank lines between paragraphs) of a PDF.

    Raises:
        ImportError: the ``pdf`` extra (pypdf) is not installed.
        ValueError: the file is not a readable PDF, is encrypted, or has no text layer (a scan).
    """
    from pypdf import PdfReader

    # pypdf logs its repairs of damaged files ("EOF marker not found"); the user gets our one line instead.
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        pages = [] if encrypted else [_page_text(page) for page in reader.pages]
    except Exception as exc:  # a damaged file can make pypdf raise almost anything; one line for the user
        raise ValueError(f"unreadable PDF ({type(exc).__name__})") from None
    finally:
        logger.setLevel(level)
    if encrypted:
        raise ValueError("encrypted PDF")
    lines = [" ".join(line.split()) for page in pages for line in page.splitlines()]
    lines = [line for line in lines if not _PAGE_NUMBER.match(line)]
    if not any(lines):
        raise ValueError("PDF has no text layer (a scanned document?)")
    return _paragraphs(lines)


def _page_text(page: Any) -> str:
    # Layout mode turns the vertical gap between paragraphs into a blank line, which plain mode drops; it is
    # newer and stricter code, so a page it cannot render falls back to plain extraction.
    try:
        return page.extract_text(extraction_mode="layout") or ""
    except Exception:  # any layout failure: plain text is still useful
        return page.extract_text() or ""


def _paragraphs(lines: list[str]) -> str:
    # A "full" line reaches close to the text width; the last line of a paragraph usually does not.
    lengths = [len(line) for line in lines if line]
    width = statistics.quantiles(lengths, n=10)[-1] if len(lengths) >= 10 else max(lengths)
    blocks: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            blocks.append(_join(current))
            current.clear()

    for line in lines:
        if not line:
            flush()
            continue
        short = len(line) < 0.8 * width
        sentence_open = bool(current) and not _SENTENCE_END.search(current[-1])
        if short and not sentence_open and not _SENTENCE_END.search(line) and _looks_like_heading(line):
            flush()
            blocks.append("# " + line)
            continue
        if _BULLET.match(line):
            flush()
            current.append("- " + _BULLET.sub("", line, count=1))
        else:
            current.append(line)
        if short and _SENTENCE_END.search(line):
            flush()
    flush()
    # List items stay on consecutive lines (one block, like HTML lists); everything else is blank-line separated.
    out: list[str] = []
    for block in blocks:
        if out and block.startswith("- ") and out[-1].startswith("- "):
            out[-1] += "\n" + block
        else:
            out.append(block)
    return "\n\n".join(out) + "\n"


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    if len(words) > 12 or line.endswith(","):
        return False
    if _NUMBERED_HEADING.match(line):
        return True
    if line.isupper():
        return True
    content = [word for word in words if word[:1].isalpha() and word.lower() not in _MINOR_WORDS]
    return bool(content) and sum(word[:1].isupper() for word in content) >= 0.8 * len(content)


def _join(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        if text.endswith("-") and not text.endswith(" -") and line[:1].islower():
            text = text[:-1] + line  # a word hyphenated across the line break
        else:
            text += " " + line
    return text
