"""Text reading and normalisation shared by the segmenter, the corpus loaders and the model.

Reading turns str, bytes or a path into text (encodings detected, binary refused); normalisation turns a
paragraph into the single-line plain text a model sees, so that training and inference see the same thing.
"""

from __future__ import annotations

import codecs
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PolicyInputError",
    "PolicyText",
    "decode_bytes",
    "html_to_text",
    "looks_like_html",
    "normalize_text",
    "read_bounded_file",
    "read_limited",
    "read_policy",
]

DEFAULT_MAX_BYTES = 20_000_000  # the largest real policies are well under 1 MB; 20 MB is a generous guard

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "aside", "header", "footer", "blockquote", "pre", "dl", "dt", "dd",
    "ul", "ol", "address", "figure", "figcaption", "form", "fieldset", "details", "summary", "body", "center",
}
_DROP_TAGS = {"script", "style", "nav", "noscript", "template", "svg", "head", "button", "iframe", "select",
              "object", "canvas", "input", "textarea", "meta", "link"}
_HTML_HINT = re.compile(r"<(?:!doctype\s+html|html|body|p|div|br|li|ul|h[1-6]|table|span)\b", re.IGNORECASE)


class PolicyInputError(ValueError):
    """A policy could not be read: missing, empty, binary, undecodable or too large.

    The message is one line meant for the user, naming the reason.
    """


@dataclass(frozen=True)
class PolicyText:
    """A policy's text as the segmenter sees it.

    ``text`` is the decoded input for plain text and Markdown, and the extracted text for HTML; paragraph offsets
    refer to it. ``format`` is ``"text"``, ``"html"`` or ``"pdf"``; ``encoding`` is what the bytes were decoded with.
    ``url`` is the page's address when the input gives one: a plain-text file whose first line is a lone
    ``http(s)://`` URL (the layout of crawls such as DMOZ's) has that line read as its ``url`` and blanked out of
    ``text`` (spaces, so offsets into the file stay valid); an HTML page's canonical link gives it too.
    ``recovered`` says what was repaired to read the bytes as text (``"NUL bytes dropped"``, ``"stray bytes read
    as Windows-1252"``), or is ``None``.
    """

    text: str
    format: str
    encoding: str | None = None
    source: str | None = None
    url: str | None = None
    recovered: str | None = None


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode policy bytes, detecting the encoding.

    Handles UTF-8 with or without BOM, UTF-16/32 with BOM or (for UTF-16) without, and legacy encodings such as
    GB18030/GBK or Latin-1 through ``charset-normalizer``.

    Returns:
        ``(text, encoding)``.

    Raises:
        PolicyInputError: if the bytes look binary or cannot be decoded as text.
    """
    boms = (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    )
    for bom, encoding in boms:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise PolicyInputError(
                    f"undecodable text: starts with a {encoding} byte-order mark but {exc.reason}"
                ) from None
    sample = data[:4096]
    if b"\x00" in data:
        # UTF-16 without a BOM puts a NUL beside almost every ASCII character, one at a time (a run of NULs is
        # padding); anything else with NULs is padded text or binary.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        half = max(1, len(sample) // 2)
        for encoding, zeros in (("utf-16-le", odd), ("utf-16-be", even)):
            if zeros > 0.3 * half and b"\x00\x00\x00\x00" not in sample:
                try:
                    return data.decode(encoding), encoding
                except UnicodeDecodeError:
                    pass
        return _decode_nul_padded(data)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _looks_like_gb(data):
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            pass
    declared = _declared_charset(data)
    if declared is not None:
        return declared
    mixed = _as_mostly_utf8(data)
    if mixed is not None:
        return mixed, "utf-8+cp1252"
    western = _as_windows_1252(data)
    if western is not None:
        return western, "cp1252"
    from charset_normalizer import from_bytes  # lazy: only legacy encodings need it

    best = from_bytes(data).best()
    if best is None:
        mixed = _as_mostly_utf8(data, min_share=0.95)
        if mixed is None:
            raise PolicyInputError("undecodable text: no text encoding fits these bytes")
        return mixed, "utf-8+cp1252"
    text = str(best)
    if _control_ratio(text) > 0.05:
        raise PolicyInputError("binary file, not text (too many control characters)")
    return text, best.encoding


# 50 of the 10,000 DMOZ pages start or end with one run of NULs (one has two); a binary file has hundreds.
_MAX_NUL_RUNS = 8


def _decode_nul_padded(data: bytes) -> tuple[str, str]:
    """Text with NUL padding (crawlers and some editors leave runs of NULs before or after the page), or binary.

    The NULs are dropped when they come in a few runs (padding, not structure) and the rest decodes as text without
    other control characters; a real binary file (an image, an archive, an executable) has NULs all through it or
    other control bytes, and fails one of the two.
    """
    rest = data.replace(b"\x00", b"")
    if len(re.findall(rb"\x00+", data)) > _MAX_NUL_RUNS or not rest.strip():
        raise PolicyInputError("binary file, not text (contains NUL bytes)")
    try:
        text, encoding = decode_bytes(rest)
    except PolicyInputError:
        raise PolicyInputError("binary file, not text (contains NUL bytes)") from None
    if _control_ratio(text) > 0.01:
        raise PolicyInputError("binary file, not text (contains NUL bytes)")
    return text, encoding


def _as_windows_1252(data: bytes) -> str | None:
    """Windows-1252 text, the web's legacy default (what HTML5 reads for "latin1" too), or None.

    Statistical detection misjudges English with a few curly quotes: on the 9,296 DMOZ pages that are not UTF-8 it
    chose a Central European or DOS code page for nine in ten, turning "we'll" into "weÆll". All 9,296 decode as
    Windows-1252 with at most 14% of bytes above ASCII; a single-byte Cyrillic, Greek or Hebrew page has far more.
    """
    high = sum(1 for byte in data[:65536] if byte >= 0x80)
    if high > _MAX_WESTERN_HIGH_SHARE * min(len(data), 65536):
        return None
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # bytes Windows-1252 leaves undefined (0x81, 0x8d, 0x8f, 0x90, 0x9d)
        return None
    # Central European text read as Windows-1252 puts superscripts and inverted marks inside words ("³" for "ł",
    # "¹" for "ą", "¿" for "ż") again and again: Western text does not; let the detector choose then
    if len(_NOT_WESTERN.findall(text[:65536])) >= _NOT_WESTERN_MIN:
        return None
    return text


_MAX_WESTERN_HIGH_SHARE = 0.2
_NOT_WESTERN = re.compile(r"[^\W\d_][¹²³¼½¾¿¤¦][^\W\d_]")
_NOT_WESTERN_MIN = 5  # a Western page may have a stray one ("driver¹s" from a Mac quote); Polish has them in every line
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]{2,40})", re.IGNORECASE)


def _declared_charset(data: bytes) -> tuple[str, str] | None:
    """An HTML page's ``<meta charset>`` (or ``http-equiv`` content type), when it names a codec that decodes the
    bytes: what the page says beats a guess."""
    import codecs

    match = _META_CHARSET.search(data[:4096])
    if match is None:
        return None
    name = match.group(1).decode("ascii").lower()
    name = {"latin1": "cp1252", "latin-1": "cp1252", "iso-8859-1": "cp1252", "us-ascii": "cp1252"}.get(name, name)
    try:
        codec = codecs.lookup(name).name
        return data.decode(codec), codec
    except (LookupError, UnicodeDecodeError):
        return None


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode the bytes UTF-8 rejects as Windows-1252 (the smart quotes and (R) of text pasted from Word)."""
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start:error.end]
    return bad.decode("cp1252", errors="replace"), error.end


codecs.register_error("policy-cp1252-fallback", _cp1252_fallback)


def _as_mostly_utf8(data: bytes, min_share: float | None = None) -> str | None:
    """UTF-8 with a few stray Windows-1252 bytes (pages assembled from several sources: six DMOZ pages), or None.

    Taken when the bytes hold more valid multi-byte UTF-8 characters than invalid sequences, or, with
    ``min_share``, when at least that share of the characters is valid UTF-8 (the last resort).
    """
    replaced = data.decode("utf-8", errors="replace")
    strays = replaced.count("\ufffd")
    if min_share is not None:
        if strays > (1 - min_share) * len(replaced):
            return None
    elif sum(1 for ch in replaced if ord(ch) >= 0x80) - strays <= strays:
        return None
    return data.decode("utf-8", errors="policy-cp1252-fallback")


def _looks_like_gb(data: bytes) -> bool:
    """True when non-ASCII bytes come in GB2312-range pairs, as in Chinese text (GBK/GB18030).

    Statistical detectors misjudge short Chinese passages in English policies; Latin-1 text, whose accented
    letters are single high bytes next to ASCII, fails this test.
    """
    i, n, paired, single = 0, len(data), 0, 0
    while i < n:
        byte = data[i]
        if byte < 0x80:
            i += 1
        elif 0xA1 <= byte <= 0xFE and i + 1 < n and 0xA1 <= data[i + 1] <= 0xFE:
            paired += 1
            i += 2
        else:
            single += 1
            i += 1
    return paired > 0 and single <= paired // 10


def _control_ratio(text: str) -> float:
    sample = text[:4096]
    if not sample:
        return 0.0
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    return bad / len(sample)


def looks_like_html(text: str) -> bool:
    """Return True when ``text`` is HTML markup rather than plain text or Markdown."""
    head = text[:20000]
    return len(_HTML_HINT.findall(head)) >= 2 or head.lstrip().lower().startswith(("<!doctype html", "<html"))


def read_bounded_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a regular file's bytes, refusing anything else and never more than ``max_bytes + 1`` bytes.

    The file is opened without blocking and checked after opening (a FIFO would block an ordinary ``open`` until a
    writer came; ``/dev/zero`` would be read until memory ran out), and the size limit holds for files that grow
    while they are read.

    Raises:
        PolicyInputError: missing, a directory, not a regular file, unreadable or larger than ``max_bytes``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise PolicyInputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise PolicyInputError(f"is a directory, not a policy file: {path}") from None
    except OSError as exc:
        raise PolicyInputError(f"cannot read {path}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise PolicyInputError(f"is a directory, not a policy file: {path}")
        raise PolicyInputError(f"not a regular file ({_file_kind(mode)}): {path}")
    size = os.fstat(fd).st_size
    if size > max_bytes:
        os.close(fd)
        raise PolicyInputError(f"file too large: {size:,} bytes (limit {max_bytes:,})")
    with os.fdopen(fd, "rb") as handle:
        try:
            return read_limited(handle, max_bytes)
        except OSError as exc:
            raise PolicyInputError(f"cannot read {path}: {exc.strerror}") from None


def read_limited(handle: BinaryIO, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read at most ``max_bytes + 1`` bytes from a binary stream (a file, a pipe, stdin).

    Raises:
        PolicyInputError: the stream holds more than ``max_bytes``.
    """
    data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PolicyInputError(f"input too large: over {max_bytes:,} bytes (limit {max_bytes:,})")
    return data


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def read_policy(source: str | bytes | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES,
                url_line: bool = True) -> PolicyText:
    """Read a policy from a path, bytes or a string of text.

    A ``str`` is taken as a path only when it names something that exists and has no line break; otherwise it is the
    policy text itself. HTML (by suffix or content) is converted to text with :func:`html_to_text`; a PDF (by
    content) has its text layer extracted and its paragraphs rebuilt (``pdf`` extra, :mod:`classifier.text.pdf`).

    With ``url_line`` (the default), a lone URL on the first line of plain text is the page's ``url``, not text
    (see :class:`PolicyText`).

    Raises:
        TypeError: ``source`` is not a str, bytes or path (``None``, say).
        PolicyInputError: missing path, directory, not a regular file (FIFO, device, socket), empty, binary,
            undecodable or larger than ``max_bytes``; a PDF without the ``pdf`` extra, damaged, encrypted or without
            a text layer.
    """
    if not isinstance(source, (str, bytes, os.PathLike)):
        raise TypeError(f"read_policy() takes text (str), bytes or a path, not {type(source).__name__}")
    name: str | None = None
    encoding: str | None = None
    suffix = ""
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and len(source) < 4096 and _names_a_path(source)
    ):
        path = Path(source)
        name = str(path)
        suffix = path.suffix.lower()
        source = read_bounded_file(path, max_bytes)
    pdf, recovered = False, None
    if isinstance(source, bytes):
        if len(source) > max_bytes:
            raise PolicyInputError(f"input too large: {len(source):,} bytes (limit {max_bytes:,})")
        from classifier.text.pdf import is_pdf

        if is_pdf(source):
            text, pdf = _read_pdf(source), True
        else:
            text, encoding = decode_bytes(source)
            recovered = _repair_of(source, encoding)
    else:
        text = str(source)
        if len(text) > max_bytes:
            raise PolicyInputError(f"input too large: {len(text):,} characters (limit {max_bytes:,})")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fmt = "pdf" if pdf else "text"
    url = None
    if not pdf and (suffix in HTML_SUFFIXES or (suffix not in {".md", ".markdown"} and looks_like_html(text))):
        url = canonical_url(text)
        text = html_to_text(text)
        fmt = "html"
    elif not pdf and url_line:
        text, url = take_url_line(text)
    if not text.strip():
        raise PolicyInputError("empty policy: no text found")
    if _control_ratio(text) > 0.05:
        raise PolicyInputError("binary file, not text (too many control characters)")
    return PolicyText(text=text, format=fmt, encoding=encoding, source=name, url=url, recovered=recovered)


def _repair_of(data: bytes, encoding: str) -> str | None:
    """What :func:`decode_bytes` had to repair in these bytes, for the run's report."""
    repairs = []
    if not encoding.startswith("utf-16") and b"\x00" in data:
        repairs.append("NUL bytes dropped")
    if encoding == "utf-8+cp1252":
        repairs.append("stray bytes read as Windows-1252")
    return "; ".join(repairs) or None


_URL_LINE = re.compile(r"\A[ \t\ufeff]*(https?://[^\s<>\"]+)[ \t]*(?:\n|\Z)", re.IGNORECASE)
_CANONICAL = re.compile(r"<link\b[^>]*\brel\s*=\s*[\"']?canonical\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"\bhref\s*=\s*[\"']?(https?://[^\s\"'<>]+)", re.IGNORECASE)


def take_url_line(text: str) -> tuple[str, str | None]:
    """Split a lone ``http(s)://`` URL on the first line off a page: ``(text with that line blanked, url)``."""
    match = _URL_LINE.match(text)
    if match is None:
        return text, None
    return " " * len(match.group(0).rstrip("\n")) + text[len(match.group(0).rstrip("\n")):], match.group(1)


def canonical_url(html: str) -> str | None:
    """The ``<link rel="canonical" href=...>`` of an HTML page, when it has an absolute one."""
    import html as html_module

    link = _CANONICAL.search(html[:200_000])
    href = _HREF.search(link.group(0)) if link else None
    return html_module.unescape(href.group(1)) if href else None


def _read_pdf(data: bytes) -> str:
    from classifier.text.pdf import pdf_to_text

    try:
        return pdf_to_text(data)
    except ImportError:
        raise PolicyInputError("PDF input needs the pdf extra: pip install 'policy-clause-classifier[pdf]'") from None
    except ValueError as exc:
        raise PolicyInputError(str(exc)) from None


def _names_a_path(candidate: str) -> bool:
    """Whether a one-line string names something on disk (a FIFO or device too, which reading then refuses)."""
    try:
        return Path(candidate).exists()
    except (OSError, ValueError):
        return False


def html_to_text(html: str) -> str:
    """Convert HTML to Markdown-like text the segmenter understands.

    Scripts, styles, navigation and forms are dropped; headings become ``#`` lines, list items ``- `` lines,
    every table row one ``| cell | cell |`` line (so a table stays one block), and block elements are
    separated by blank lines.
    """
    from bs4 import BeautifulSoup, Comment, NavigableString, Tag  # lazy: only HTML input needs it

    try:
        soup = BeautifulSoup(html, "lxml")
    except Exception:  # lxml missing or refusing the input: the stdlib parser is slower but always there
        soup = BeautifulSoup(html, "html.parser")
    out: list[str] = []

    def inline(node: Tag) -> str:
        return " ".join(node.get_text(" ").split())

    def render(root: Tag) -> None:
        # An explicit stack, not recursion: a crawled page nested 200,000 elements deep must not exhaust Python's
        # call stack. Each entry iterates one element's children; _CLOSE ends a block element.
        stack: list[Iterator[object]] = [iter(root.children)]
        while stack:
            child = next(stack[-1], _END)
            if child is _END:
                stack.pop()
            elif child is _CLOSE:
                out.append("\n\n")
            elif isinstance(child, Comment):
                continue
            elif isinstance(child, NavigableString):
                if type(child) is NavigableString:  # skip CData, doctype, processing instructions
                    out.append(re.sub(r"\s+", " ", str(child)))
            elif isinstance(child, Tag):
                children = _render_tag(child, out, inline)
                if children is not None:
                    stack.append(children)

    render(soup)
    lines = [" ".join(line.split()) for line in "".join(out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


_END = object()
_CLOSE = object()


def _render_tag(tag: Any, out: list[str], inline: Callable[[Any], str]) -> Iterator[object] | None:
    """Write what ``tag`` itself contributes to ``out``; return an iterator over the children still to render."""
    name = (tag.name or "").lower()
    if name in _DROP_TAGS:
        return None
    if name == "br":
        out.append("\n")
    elif len(name) == 2 and name[0] == "h" and name[1] in "123456":
        text = inline(tag)
        if text:
            out.append(f"\n\n{'#' * int(name[1])} {text}\n\n")
    elif name == "li":  # items of one list stay on adjacent lines, so a short list reads as one unit
        out.append("\n- ")
        return iter(tag.children)
    elif name == "table":
        rows = []
        for row in tag.find_all("tr"):
            cells = [inline(cell) for cell in row.find_all(["td", "th"])]
            if any(cells):
                rows.append("| " + " | ".join(cells) + " |")
        if rows:
            out.append("\n\n" + "\n".join(rows) + "\n\n")
    elif name in _BLOCK_TAGS:
        out.append("\n\n")
        return itertools.chain(tag.children, (_CLOSE,))
    else:
        return iter(tag.children)
    return None


_MD_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\s]*\)")
_MD_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3})(?=\S)|(?<=\S)(\*{1,3}|_{2,3})")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE)
_MD_BULLET = re.compile(r"^\s*[-*+•·]\s+", re.MULTILINE)


def normalize_text(text: str) -> str:
    """Return the single-line plain text a model sees for a paragraph.

    Markdown heading marks, bullets, emphasis and link syntax are removed (link text kept), and all whitespace,
    line breaks included, collapses to single spaces.
    """
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_HEADING.sub("", text)
    text = _MD_BULLET.sub("", text)
    text = _MD_EMPHASIS.sub("", text)
    text = re.sub(r"(?<![\w])_(?=\S)|(?<=\S)_(?![\w])", "", text)
    return " ".join(text.split())
