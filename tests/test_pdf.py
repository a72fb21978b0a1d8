"""PDF input: a small PDF written by hand (Helvetica text lines), read back through the segmenter."""

from pathlib import Path

import pytest

from classifier.text.reading import PolicyInputError, read_policy
from classifier.text.segment import segment_policy

pytest.importorskip("pypdf")

# The first section has no vertical gaps (the line-based rules must find its paragraphs); the second has them.
LINES = [
    "Privacy Policy",
    "1. Information We Collect",
    "We collect your name, email address and phone number when you register for an",
    "account with us or contact our support team through the help centre or by e-",
    "mail. We also collect device identifiers.",
    "",
    "2. How We Share Information",
    "",
    "We share your information with advertising partners and analytics providers who",
    "help us improve the service and measure the reach of our campaigns.",
    "",
    "\u2022 Service providers that host our servers.",
    "\u2022 Law enforcement when the law requires it.",
    "3",
]


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with one text line per entry, an empty entry being a paragraph gap (no PDF library needed)."""
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252").decode("latin-1")

    shown = " ".join(f"({escape(line)}) Tj T*" if line else "T*" for line in lines)
    content = f"BT /F1 10 Tf 14 TL 72 740 Td {shown} ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content.encode('latin-1'))} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out, offsets = "%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out.encode("latin-1")))
        out += f"{number} 0 obj\n{body}\nendobj\n"
    xref = len(out.encode("latin-1"))
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n" + "".join(f"{o:010d} 00000 n \n" for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out.encode("latin-1")


def test_pdf_paragraphs_headings_and_lists_are_rebuilt(tmp_path: Path):
    path = tmp_path / "policy.pdf"
    path.write_bytes(make_pdf(LINES))
    assert read_policy(path).format == "pdf"
    paragraphs = segment_policy(path)
    texts = [p.text for p in paragraphs]
    collect = next(t for t in texts if t.startswith("We collect"))
    assert "or by email. We also collect device identifiers." in collect  # hyphenation and line joins
    assert any(t.startswith("We share your information") and t.endswith("campaigns.") for t in texts)
    assert not any(t.strip() == "3" for t in texts)  # the page number is dropped
    sharing = [p for p in paragraphs if "How We Share Information" in " ".join(p.section)]
    assert sharing and any("Law enforcement" in p.text for p in sharing)


def test_damaged_and_textless_pdfs_get_one_line_errors(tmp_path: Path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(PolicyInputError, match="PDF"):
        read_policy(broken)
    empty = tmp_path / "scan.pdf"
    empty.write_bytes(make_pdf([]))
    with pytest.raises(PolicyInputError, match="no text layer"):
        read_policy(empty)


def test_pdf_without_the_extra_says_how_to_install_it(tmp_path: Path, monkeypatch):
    import classifier.text.pdf

    def missing(data: bytes) -> str:
        raise ImportError("No module named 'pypdf'")

    monkeypatch.setattr(classifier.text.pdf, "pdf_to_text", missing)
    with pytest.raises(PolicyInputError, match=r"pip install 'policy-clause-classifier\[pdf\]'"):
        read_policy(make_pdf(LINES))


def test_a_damaged_pdf_is_one_line_and_pypdf_logs_nothing(tmp_path: Path, caplog):
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(b"%PDF-1.4\n1 0 obj <<< garbage")
    with caplog.at_level("DEBUG"), pytest.raises(PolicyInputError, match="unreadable PDF"):
        read_policy(damaged)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
