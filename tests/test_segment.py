import itertools
import time
from pathlib import Path

import pytest

from classifier.text.reading import PolicyInputError, html_to_text, normalize_text, read_policy
from classifier.text.segment import segment_policy, segment_text

EXPECTED_RANGES = {"000": (25, 45), "001": (15, 30), "002": (70, 110), "003": (60, 95), "004": (120, 190)}


def test_every_seed_segments_cleanly(seed_files):
    for path in seed_files:
        text = path.read_text(encoding="utf-8")
        paragraphs = segment_policy(path)
        low, high = EXPECTED_RANGES[path.name[:3]]
        assert low <= len(paragraphs) <= high, (path.name, len(paragraphs))
        for i, paragraph in enumerate(paragraphs):
            assert paragraph.index == i
            assert paragraph.text.strip(), "empty paragraph"
            assert text[paragraph.start:paragraph.end] == paragraph.text
            # a heading is section context, never a paragraph of its own
            assert paragraph.text.strip(" #*") not in paragraph.section
        starts = [p.start for p in paragraphs]
        assert starts == sorted(starts)
        assert all(a.end <= b.start for a, b in itertools.pairwise(paragraphs))


def test_markdown_headings_become_sections(seed_files):
    paragraphs = segment_policy(seed_files[0])
    retention = [p for p in paragraphs if "retain" in p.text and "no longer than" in p.text]
    assert retention and retention[0].section[-1] == "4.How Long We Retain Your Personal Data For"
    assert not any(p.text.startswith("###") for p in paragraphs)


def test_chinese_numeral_and_parenthesised_headings(seed_files):
    paragraphs = segment_policy(seed_files[3])
    share = next(p for p in paragraphs if p.text.startswith("We will not share your personal information"))
    assert share.section[-2].startswith("6、") and share.section[-1] == "(一) share"
    toc = next(p for p in paragraphs if p.text.startswith("一、"))
    assert "十二、" in toc.text  # the table of contents is one unit, not twelve headings


def test_duplicated_title_lines_are_not_paragraphs(seed_files):
    paragraphs = segment_policy(seed_files[4])
    assert paragraphs[0].section == ("Privacy Policy",)
    assert not any(p.text == "Privacy Policy" for p in paragraphs)


def test_sdk_table_stays_one_unit(seed_files):
    paragraphs = segment_policy(seed_files[4])
    holders = {p.index for p in paragraphs for pkg in ("com.bumptech.glide", "cn.jpush", "com.tencent.bugly",
                                                         "com.amap.api") if pkg in p.text}
    assert len(holders) == 1


def test_long_bullets_are_separate_and_short_lists_merge():
    text = (
        "Title\n\nWe collect the following:\n\n- name\n- email\n- phone\n\n"
        "- (a) **Mail**. When you subscribe we collect your email address and use it to send you the news letter "
        "that you asked for, every week, until you unsubscribe from it.\n"
        "- (b) **Stats**. A third-party plugin records your IP address, browser type and visit times so that we "
        "can understand how the community is used and improve it for everyone.\n"
    )
    paragraphs = segment_text(text)
    assert paragraphs[0].text.startswith("We collect the following:") and "- phone" in paragraphs[0].text
    assert [p.text[:5] for p in paragraphs[1:]] == ["- (a)", "- (b)"]


def test_html_input_drops_scripts_keeps_lists_and_tables():
    html = """<html><head><title>x</title><style>p{}</style></head><body>
    <nav><a href="/">Home</a> <a href="/about">About</a></nav>
    <h1>Privacy Policy</h1><p>We collect your <b>email address</b> when you sign up.</p>
    <script>var tracking = 1;</script>
    <h2>Sharing</h2><p>We share data with:</p><ul><li>payment processors</li><li>analytics providers</li></ul>
    <table><tr><th>SDK</th><th>Data</th></tr><tr><td>Umeng</td><td>device id</td></tr>
    <tr><td>Bugly</td><td>crash logs</td></tr></table>
    </body></html>"""
    policy = read_policy(html.encode("utf-8"))
    assert policy.format == "html"
    paragraphs = segment_policy(policy)
    texts = [p.text for p in paragraphs]
    assert not any("tracking" in t or "About" in t for t in texts)
    assert paragraphs[0].text == "We collect your email address when you sign up."
    assert paragraphs[0].section == ("Privacy Policy",)
    lists = [p for p in paragraphs if "payment processors" in p.text]
    assert len(lists) == 1 and "analytics providers" in lists[0].text and lists[0].section[-1] == "Sharing"
    tables = [p for p in paragraphs if "Umeng" in p.text]
    assert len(tables) == 1 and "Bugly" in tables[0].text
    for p in paragraphs:
        assert policy.text[p.start:p.end] == p.text


def test_html_file_by_suffix(tmp_path: Path):
    path = tmp_path / "policy.htm"
    path.write_text("<p>We keep logs for 30 days.</p><p>Contact privacy@example.com.</p>", encoding="utf-8")
    assert [p.text for p in segment_policy(path)] == ["We keep logs for 30 days.", "Contact privacy@example.com."]


SAMPLE = "隐私政策 Privacy Policy\n\nWe collect your name and phone number to create your account.\n\n" \
         "Café users may delete their data at any time.\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "gb18030"])
def test_encodings_are_detected(tmp_path: Path, encoding: str):
    path = tmp_path / f"policy-{encoding}.txt"
    path.write_bytes(SAMPLE.encode(encoding))
    policy = read_policy(path)
    assert policy.text == SAMPLE
    assert [p.text for p in segment_policy(policy)][-1] == "Café users may delete their data at any time."


def test_latin1_is_decoded_without_crash(tmp_path: Path):
    text = "Politique de confidentialité\n\nNous conservons vos données pendant une durée limitée à deux ans.\n" * 3
    path = tmp_path / "latin1.txt"
    path.write_bytes(text.encode("latin-1"))
    assert "données" in read_policy(path).text


def test_bad_inputs_raise_clear_errors(tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\n \t\n")
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    for path, reason in [(empty, "empty"), (blank, "empty"), (binary, "binary"),
                         (tmp_path / "missing.txt", "no such file"), (tmp_path, "directory")]:
        with pytest.raises(PolicyInputError, match=reason):
            segment_policy(path)
    with pytest.raises(PolicyInputError, match="too large"):
        read_policy(b"a" * 200, max_bytes=100)


def test_huge_single_line_is_split_quickly():
    sentence = "We collect your device identifier and share it with analytics partners. "
    text = sentence * 20000  # about 1.4 MB on one line
    started = time.perf_counter()
    paragraphs = segment_text(text, max_chars=5000)
    elapsed = time.perf_counter() - started
    assert elapsed < 10  # guards against quadratic behaviour, not a benchmark
    assert all(len(p.text) <= 5000 for p in paragraphs)
    assert all(text[p.start:p.end] == p.text for p in paragraphs)
    assert all(p.text.endswith(".") for p in paragraphs)
    assert sum(len(p.text) for p in paragraphs) >= len(text.strip()) - len(paragraphs)


def test_normalize_text_strips_markdown():
    raw = "- (a)**Mail Subscription**. We collect your **_email address_** ([see](https://x.y)).\n  more"
    assert normalize_text(raw) == "(a)Mail Subscription. We collect your email address (see). more"


def test_html_to_text_outputs_markdown_like_blocks():
    text = html_to_text("<h2>Cookies</h2><p>a<br>b</p>")
    assert text.startswith("## Cookies\n\na\nb")
