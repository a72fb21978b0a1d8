"""Crawled pages as input (issue #28): NUL padding, the URL on line 1, boilerplate."""

from __future__ import annotations

import pytest

from classifier.text.reading import PolicyInputError, decode_bytes, read_policy

PAGE = "We collect your email address when you register.\n\nWe share it with our payment processor.\n"


@pytest.mark.parametrize("padded", [b"\x00" * 349 + PAGE.encode(), PAGE.encode() + b"\x00" * 137,
                                    PAGE.encode()[:40] + b"\x00" + PAGE.encode()[40:] + b"\x00" * 50,
                                    b"\x00" * 43 + PAGE.encode("latin-1").replace(b"email", b"e\xe9mail")])
def test_text_with_nul_padding_is_read_without_the_nuls(padded):
    text, _ = decode_bytes(padded)
    assert "\x00" not in text and "We collect your" in text and text.rstrip().endswith("payment processor.")


@pytest.mark.parametrize("binary", [bytes(range(256)) * 10, b"\x7fELF\x02\x01\x01" + b"\x00" * 500 + b"abc" * 50,
                                    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(1, 256)) * 8])
def test_binary_files_with_nuls_are_still_refused(binary, tmp_path):
    path = tmp_path / "page.txt"
    path.write_bytes(binary)
    with pytest.raises(PolicyInputError, match="binary file"):
        read_policy(path)


def test_utf8_with_stray_windows_1252_bytes_is_read_with_those_bytes_as_cp1252():
    mixed = ("Leupold® and “Steven” — ".encode() + b"All references to \x91our\x92, \x93us\x94 \xae. "
             + b"We collect your email address. " * 4)
    text, encoding = decode_bytes(mixed)
    assert encoding == "utf-8+cp1252"
    assert text.startswith("Leupold® and “Steven” — All references to ‘our’, “us” ®.")


def test_bytes_that_no_encoding_fits_stay_undecodable():
    with pytest.raises(PolicyInputError, match="undecodable"):
        decode_bytes(bytes([0x81, 0x8d, 0x8f, 0x90, 0x9d, 0xff, 0xfe, 0xc0]) * 200)


def test_legacy_western_pages_are_windows_1252_and_other_scripts_still_detected():
    english = "We\u2019ll never sell your data \u2013 see \u201cYour choices\u201d.\u00a0Fran\u00e7ais. " * 20
    text, encoding = decode_bytes(english.encode("cp1252"))
    assert (text, encoding) == (english, "cp1252")
    russian = "Мы собираем ваш адрес электронной почты и передаём его партнёрам. " * 20
    text, encoding = decode_bytes(russian.encode("cp1251"))
    assert text == russian and encoding != "cp1252"


def test_the_page_labels_are_two_passes_of_the_sample_with_a_fixed_split():
    from classifier.data.policy_pages import default_page_labels, load_page_labels, page_agreement

    rows = load_page_labels()
    sample = default_page_labels().with_name("sample.txt").read_text(encoding="utf-8").split()
    assert [row.path for row in rows] == sample and len(rows) >= 400
    assert {row.split for row in rows} == {"train", "test"}
    for row in rows:  # adjudication only where the passes differ, and then to one of their labels
        assert row.label == row.pass_a if row.pass_a == row.pass_b else row.label in (row.pass_a, row.pass_b)
        assert row.url.startswith("http") and " " not in row.url
    report = page_agreement(rows)
    assert report["pages"] == len(rows) and 0.6 < report["kappa"] <= 1
    assert report["disagreements"] == sum(row.pass_a != row.pass_b for row in rows)
    assert sum(map(sum, report["confusion"])) == len(rows)


def test_page_labels_outside_the_scheme_are_one_error_line(tmp_path):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    bad = tmp_path / "labels.csv"
    bad.write_text("path,url,split,pass_a,pass_b,label,adjudication\na.txt,http://a,train,policy,maybe,policy,\n")
    result = CliRunner().invoke(app, ["data", "page-agreement", "--labels", str(bad)])
    assert result.exit_code != 0 and "labels.csv:2: label 'maybe'" in result.stderr
    assert "Traceback" not in result.output


def test_a_lone_url_on_line_one_is_the_pages_url_not_its_text():
    from classifier.text.reading import take_url_line
    from classifier.text.segment import segment_policy

    raw = "http://www.example.com/privacy-policy/\nPrivacy Policy\n\n" + PAGE
    policy = read_policy(raw)
    assert policy.url == "http://www.example.com/privacy-policy/" and len(policy.text) == len(raw)
    paragraphs = segment_policy(policy)
    assert all("example.com" not in p.text and not any("example.com" in s for s in p.section) for p in paragraphs)
    assert all(policy.text[p.start:p.end] == raw[p.start:p.end] for p in paragraphs)  # offsets into the file
    assert read_policy(raw, url_line=False).url is None
    # a URL inside a sentence, or on a later line, is text
    for text in ("See http://example.com for details.\n" + PAGE, PAGE + "http://example.com/x\n"):
        assert take_url_line(text) == (text, None)


def test_html_pages_give_their_canonical_url():
    page = ('<html><head><link rel="canonical" href="https://example.com/privacy"></head>'
            "<body><p>We collect your email address when you register.</p></body></html>")
    assert read_policy(page.encode()).url == "https://example.com/privacy"
    assert read_policy(page.replace("canonical", "stylesheet").encode()).url is None


def test_the_batch_rows_carry_each_pages_url(tmp_path, tiny_model_dir):
    import csv
    import json

    from typer.testing import CliRunner

    from classifier.cli.app import app

    (tmp_path / "a.txt").write_text("https://a.example/privacy\n" + PAGE, encoding="utf-8")
    (tmp_path / "b.txt").write_text(PAGE, encoding="utf-8")
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"out.{fmt}"
        result = CliRunner().invoke(app, ["classify", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"),
                                          "--model", str(tiny_model_dir), "-o", str(out), "-f", fmt])
        assert result.exit_code == 0, result.output
        rows = ([json.loads(line) for line in out.read_text().splitlines()] if fmt == "jsonl"
                else list(csv.DictReader(out.open())))
        urls = {row["source"].rsplit("/", 1)[-1]: row["url"] for row in rows}
        assert urls == {"a.txt": "https://a.example/privacy", "b.txt": None if fmt == "jsonl" else ""}
        assert not any("a.example" in row["text"] for row in rows)


def test_repaired_pages_are_counted_in_the_runs_report(tmp_path, tiny_model_dir):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    (tmp_path / "padded.txt").write_bytes(b"\x00" * 40 + PAGE.encode())
    (tmp_path / "mixed.txt").write_bytes("“Caf\u00e9” ".encode() * 5 + b"\x93our\x94 " + PAGE.encode())
    (tmp_path / "clean.txt").write_text(PAGE, encoding="utf-8")
    assert read_policy(tmp_path / "padded.txt").recovered == "NUL bytes dropped"
    assert read_policy(tmp_path / "clean.txt").recovered is None
    result = CliRunner().invoke(app, ["classify", str(tmp_path), "--model", str(tiny_model_dir),
                                      "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    assert ("recovered: 2 read after a repair (NUL bytes dropped: 1, stray bytes read as Windows-1252: 1)"
            in result.stderr)


def _pages(folder, n):
    folder.mkdir(exist_ok=True)
    for i in range(n):
        (folder / f"p{i:02d}.txt").write_text(f"https://site{i}.example/privacy\n"
                                              + "\n\n".join(f"We collect item {i}-{j} of your data." for j in range(3)),
                                              encoding="utf-8")
    return sorted(str(p) for p in folder.glob("*.txt"))


def test_parquet_is_written_in_parts_and_a_killed_run_resumes_without_lost_or_repeated_rows(tmp_path,
                                                                                           tiny_classifier):
    import pyarrow.parquet as pq

    from classifier.predict.batch import run_batch

    inputs = _pages(tmp_path / "pages", 6)
    out = tmp_path / "out.parquet"
    whole = tmp_path / "whole.parquet"
    run_batch(tiny_classifier, inputs, output=whole, fmt="parquet", group_paragraphs=3)
    expected = pq.read_table(whole).to_pylist()
    assert len(expected) == 18 and expected[0]["url"] == "https://site0.example/privacy"

    class Killed(Exception):
        pass

    seen = []

    def kill_after_four(source, n):
        seen.append(source)
        if len(seen) == 4:
            raise Killed

    with pytest.raises(Killed):  # killed after the 4th policy's rows were written as a part and journalled
        run_batch(tiny_classifier, inputs, output=out, fmt="parquet", group_paragraphs=3,
                  on_progress=kill_after_four)
    parts = out.with_name(out.name + ".parts")
    assert not out.exists() and len(list(parts.glob("part-*.parquet"))) == 3
    (parts / "part-000099.parquet").write_bytes(b"written but never journalled")
    result = run_batch(tiny_classifier, inputs, output=out, fmt="parquet", group_paragraphs=3, resume=True)
    assert result.skipped == inputs[:3] and result.done == inputs[3:] and not parts.exists()
    assert pq.read_table(out).to_pylist() == expected
    # a finished output resumes too: nothing is redone or repeated, and new pages are added after it
    inputs += _pages(tmp_path / "more", 2)
    result = run_batch(tiny_classifier, inputs, output=out, fmt="parquet", resume=True)
    rows = pq.read_table(out).to_pylist()
    assert result.done == inputs[6:] and len(rows) == 24 and rows[:18] == expected


def test_a_parquet_resume_refuses_a_journal_of_another_format(tmp_path, tiny_classifier):
    from classifier.predict.batch import BatchError, run_batch

    inputs = _pages(tmp_path / "pages", 2)
    out = tmp_path / "out.parquet"
    run_batch(tiny_classifier, inputs, output=out, fmt="jsonl")
    with pytest.raises(BatchError, match="records jsonl output, not parquet"):
        run_batch(tiny_classifier, inputs, output=out, fmt="parquet", resume=True)


CRAWLED = """https://shop.example/privacy
Skip to content
Home
Shop
About Us
Contact Us
Privacy Policy
Last updated: 1 March 2020
We collect your name, email address and shipping address when you place an order with us.
We share your address with the courier that delivers your order, and with no one else.
Acme Ltd, 1 High Street, Springfield
Facebook
Twitter
© 2020 Acme Ltd. All rights reserved.
"""


def test_boilerplate_lines_are_blanked_and_the_policy_keeps_its_title_text_and_offsets():
    from classifier.text.boilerplate import strip_boilerplate
    from classifier.text.segment import segment_policy

    policy = read_policy(CRAWLED)
    stripped = strip_boilerplate(policy)
    kept = [line for line in stripped.text.split("\n") if line.strip()]
    assert kept == ["Privacy Policy", "Last updated: 1 March 2020",
                    "We collect your name, email address and shipping address when you place an order with us.",
                    "We share your address with the courier that delivers your order, and with no one else.",
                    "Acme Ltd, 1 High Street, Springfield"]
    assert len(stripped.text) == len(policy.text)
    assert all(stripped.text[p.start:p.end] == CRAWLED[p.start:p.end] for p in segment_policy(stripped))
    no_prose = read_policy("Home\nContact Us\nShop\n")
    assert strip_boilerplate(no_prose) is no_prose  # nothing to anchor on: left as it is


def test_the_boilerplate_score_counts_characters_and_paragraphs(tmp_path):
    from classifier.evaluation.boilerplate import load_boilerplate_labels, score_boilerplate

    (tmp_path / "page.txt").write_text(CRAWLED, encoding="utf-8")
    labels = tmp_path / "boilerplate.csv"
    labels.write_text('path,boilerplate_lines,note\npage.txt,"2-6,12-14",menu and footer\n', encoding="utf-8")
    pages = load_boilerplate_labels(labels)
    assert pages[0].lines == frozenset({2, 3, 4, 5, 6, 12, 13, 14})
    score = score_boilerplate(pages, tmp_path)
    lines = CRAWLED.split("\n")
    assert score["boilerplate"] == sum(len(lines[n - 1]) for n in pages[0].lines)
    assert score["boilerplate_kept"] == 0 and score["content_dropped"] == 0
    assert score["content"] == sum(len(line) for line in lines[6:11])


def test_a_torn_journal_line_does_not_hide_what_a_resumed_run_adds(tmp_path, tiny_classifier):
    import json

    from classifier.predict.batch import run_batch

    inputs = _pages(tmp_path / "pages", 4)
    out = tmp_path / "out.jsonl"
    run_batch(tiny_classifier, inputs[:2], output=out)
    journal = out.with_name(out.name + ".progress")
    with open(journal, "a", encoding="utf-8") as log:
        log.write('{"source": "torn')  # killed mid-write
    run_batch(tiny_classifier, inputs[:3], output=out, resume=True)
    assert [json.loads(line)["source"] for line in journal.read_text().splitlines()] == inputs[:3]
    result = run_batch(tiny_classifier, inputs, output=out, resume=True)
    assert result.skipped == inputs[:3] and result.done == inputs[3:]
    assert len(out.read_text().splitlines()) == 12


POLICY_PAGE = ("https://site{i}.example/privacy-policy\nPrivacy Policy\n\n"
               "We collect your personal information, such as your email address, when you register.\n\n"
               "We share personal data with third parties only with your consent, and you can opt out.\n\n"
               "Cookies: we use cookies to keep you signed in; see our cookie settings to opt out.\n\n"
               "We retain your personal data for two years and protect it with encryption.\n")
OTHER_PAGE = ("https://site{i}.example/shop/item-{i}\nGarden Tools\n\n"
              "Our spring range of spades and rakes is now in stock at every branch in the county.\n\n"
              "Free delivery on orders over fifty pounds, with returns accepted within thirty days.\n")


def _labelled_pages(folder, n=8):
    from classifier.data.policy_pages import PageLabel

    folder.mkdir(exist_ok=True)
    rows = []
    for i in range(2 * n):
        kind = "policy" if i % 2 == 0 else "not_policy"
        (folder / f"page{i:02d}.txt").write_text((POLICY_PAGE if kind == "policy" else OTHER_PAGE).format(i=i),
                                                 encoding="utf-8")
        rows.append(PageLabel(f"page{i:02d}.txt", f"https://site{i}.example/", "test" if i >= 2 * n - 4 else "train",
                              kind, kind, kind))
    return rows


def test_the_detector_is_fitted_on_train_pages_and_scored_on_test_pages(tmp_path, tiny_classifier):
    from classifier.predict.detector import FEATURES, load_detector
    from classifier.training.detector import train_detector

    rows = _labelled_pages(tmp_path / "crawl")
    detector = train_detector(tiny_classifier, tmp_path / "crawl", rows)
    assert detector.features == list(FEATURES) and detector.metrics["train_pages"] == 12
    test = detector.metrics["test"]
    assert test["pages"] == 4 and test["by_label"]["not_policy"]["pages"] == 2
    assert test["not_policy_precision"] == test["not_policy_recall"] == 1.0  # the fixture's pages are easy
    detector.save(tmp_path)
    loaded = load_detector(tmp_path)
    assert loaded == detector
    (tmp_path / "detector.json").write_text('{"features": ["shoe_size"], "mean": [0], "scale": [1], "weights": [1],'
                                            ' "bias": 0}')
    with pytest.raises(ValueError, match="not a policy detector"):
        load_detector(tmp_path)


def test_classify_marks_each_page_and_policies_only_skips_the_rest(tmp_path, tiny_classifier, tiny_model_dir):
    import csv
    import json
    import shutil

    from typer.testing import CliRunner

    from classifier.cli.app import app
    from classifier.training.detector import train_detector

    rows = _labelled_pages(tmp_path / "crawl")
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    train_detector(tiny_classifier, tmp_path / "crawl", rows).save(model)
    pages = [str(tmp_path / "crawl" / name) for name in ("page00.txt", "page01.txt")]  # a policy, a shop page
    base = ["classify", *pages, "--model", str(model), "--precision", "fp32"]
    run = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "all.jsonl")])
    assert run.exit_code == 0, run.output
    verdicts = {json.loads(line)["source"][-10:]: json.loads(line)["is_policy"]
                for line in (tmp_path / "all.jsonl").read_text().splitlines()}
    assert verdicts == {"page00.txt": True, "page01.txt": False}
    assert "not a privacy policy: 1 pages" in run.stderr
    only = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "only.csv"), "-f", "csv", "--policies-only"])
    assert only.exit_code == 0, only.output
    kept = list(csv.DictReader((tmp_path / "only.csv").open()))
    assert {row["source"][-10:] for row in kept} == {"page00.txt"} and kept[0]["is_policy"] == "true"
    summary = CliRunner().invoke(app, [*base, "--summary"])
    assert "| is a policy (probability) |" in summary.stdout and "| no (0." in summary.stdout
    # the card view through the detector's OPP-115 pass gives the rows a direct card run gives
    card = CliRunner().invoke(app, [*base, "--scheme", "card"])
    plain = CliRunner().invoke(app, [*base, "--scheme", "card", "--no-detect"])
    strip = [{k: v for k, v in json.loads(line).items() if k not in ("is_policy", "policy_probability")}
             for line in card.stdout.splitlines()]
    assert strip == [{k: v for k, v in json.loads(line).items() if k not in ("is_policy", "policy_probability")}
                     for line in plain.stdout.splitlines()]
    none = CliRunner().invoke(app, ["classify", *pages, "--model", str(tiny_model_dir), "--policies-only"])
    assert none.exit_code == 2 and "has no detector.json" in none.stderr


def test_the_not_policy_decision_is_scored_by_hand_computable_counts():
    from classifier.training.detector import decision_report

    report = decision_report([0.1, 0.4, 0.9, 0.2, 0.8], 0.5, ["not_policy", "partial", "policy", "policy",
                                                              "not_policy"])
    # flagged (below 0.5): pages 1, 2, 4; truly not a policy: pages 1, 5
    assert report["not_policy_precision"] == pytest.approx(1 / 3) and report["not_policy_recall"] == 0.5
    assert report["by_label"]["partial"] == {"pages": 1, "flagged_not_policy": 1}
    assert report["accuracy"] == pytest.approx(2 / 5)


def test_a_page_that_takes_too_long_to_segment_is_a_named_failure_and_the_batch_goes_on(tmp_path, tiny_classifier,
                                                                                         monkeypatch):
    import time

    import classifier.text.segment as segment
    from classifier.predict.batch import run_batch

    inputs = _pages(tmp_path / "pages", 3)
    original = segment.segment_policy

    def slow_on_the_second(policy, *args, **kwargs):
        if "site1" in (policy.url or ""):
            time.sleep(5)
        return original(policy, *args, **kwargs)

    monkeypatch.setattr(segment, "segment_policy", slow_on_the_second)
    started = time.perf_counter()
    result = run_batch(tiny_classifier, inputs, output=tmp_path / "out.jsonl", max_seconds=0.3)
    assert time.perf_counter() - started < 4
    assert result.done == [inputs[0], inputs[2]]
    assert result.failed == [(inputs[1], "took over 0.3 s to read and segment (--max-seconds)")]


def test_a_url_table_or_a_sidecar_file_gives_the_url_before_the_first_line(tmp_path, tiny_classifier):
    import json

    from classifier.predict.batch import read_url_table, run_batch

    (tmp_path / "crawl").mkdir()
    inputs = _pages(tmp_path / "crawl" / "catA", 3)  # each page's first line is https://site<i>.example/privacy
    (tmp_path / "crawl" / "catA" / "p01.txt.url").write_text("https://sidecar.example/one\n")
    table = tmp_path / "urls.csv"
    table.write_text("path,url\ncatA/p02.txt,https://table.example/two\nelsewhere/p00.txt,https://no.example/\n")
    urls = read_url_table(table, inputs)
    assert urls == {inputs[2]: "https://table.example/two"}
    out = tmp_path / "out.jsonl"
    run_batch(tiny_classifier, inputs, output=out, urls=urls)
    got = {json.loads(line)["source"]: json.loads(line)["url"] for line in out.read_text().splitlines()}
    assert got == {inputs[0]: "https://site0.example/privacy", inputs[1]: "https://sidecar.example/one",
                   inputs[2]: "https://table.example/two"}
    (tmp_path / "bad.csv").write_text("file,address\na,b\n")
    with pytest.raises(ValueError, match="needs a path"):
        read_url_table(tmp_path / "bad.csv", inputs)


def test_strip_boilerplate_drops_the_menu_paragraphs_of_a_crawled_page(tmp_path, tiny_classifier):
    import json

    from classifier.predict.batch import run_batch

    (tmp_path / "page.txt").write_text(CRAWLED, encoding="utf-8")
    rows = {}
    for strip in (False, True):
        out = tmp_path / f"out-{strip}.jsonl"
        run_batch(tiny_classifier, [str(tmp_path / "page.txt")], output=out, strip_boilerplate=strip)
        rows[strip] = [json.loads(line) for line in out.read_text().splitlines()]
    # kept, the menu is a paragraph and "Skip to content" the heading of every paragraph
    assert any("Contact Us" in row["text"] for row in rows[False])
    assert {row["section"] for row in rows[False]} == {"Skip to content"}
    assert not any("Contact Us" in row["text"] or "Twitter" in row["text"] for row in rows[True])
    assert {row["section"] for row in rows[True]} == {"Privacy Policy"}
    assert any(row["text"].startswith("We collect your name") for row in rows[True])


def test_a_card_section_is_replaced_in_place_or_added():
    from classifier.training.modelcard import set_card_section

    card = "# Model\n\n## Training\n\nold\n\n## Policy detector\n\nold figures\n\n## Limits\n\nnone\n"
    updated = set_card_section(card, "Policy detector", "new figures")
    assert updated == "# Model\n\n## Training\n\nold\n\n## Policy detector\n\nnew figures\n\n## Limits\n\nnone\n"
    assert set_card_section("# Model\n", "Policy detector", "x") == "# Model\n\n## Policy detector\n\nx\n"


def test_nul_padding_after_the_first_4_kb_is_dropped_too():
    long_page = (PAGE * 60).encode()
    assert len(long_page) > 5000
    policy = read_policy(long_page + b"\x00" * 300)
    assert "\x00" not in policy.text and policy.recovered == "NUL bytes dropped"


def test_central_european_and_declared_charsets_are_not_forced_to_windows_1252():
    polish = "Polityka prywatności: zbieramy Twój adres e-mail i łączymy go z danymi. Użytkownik może żądać. " * 8
    text, encoding = decode_bytes(polish.encode("cp1250"))
    assert text == polish and encoding != "cp1252"
    page = ('<html><head><meta charset="koi8-r"></head><body><p>Мы собираем ваш адрес.</p></body></html>')
    text, encoding = decode_bytes(page.encode("koi8-r"))
    assert "Мы собираем" in text and encoding == "koi8-r"


def test_a_parquet_part_whose_journal_entries_were_cut_is_redone_whole(tmp_path, tiny_classifier):
    import pyarrow.parquet as pq

    from classifier.predict.batch import run_batch

    inputs = _pages(tmp_path / "pages", 4)
    out = tmp_path / "out.parquet"

    class Killed(Exception):
        pass

    def kill_at_the_end(source, n):
        if source == inputs[-1]:
            raise Killed

    with pytest.raises(Killed):  # one part of three policies, then one more policy pending when killed
        run_batch(tiny_classifier, inputs, output=out, fmt="parquet", group_paragraphs=9,
                  on_progress=kill_at_the_end)
    journal = out.with_name(out.name + ".progress")
    lines = journal.read_text().splitlines()
    assert len(lines) == 3
    journal.write_text("\n".join(lines[:2]) + '\n{"source": "cut mid-wr')  # the kill fell inside the part's entries
    result = run_batch(tiny_classifier, inputs, output=out, fmt="parquet", resume=True)
    assert result.skipped == [] and result.done == inputs  # the cut part is redone whole
    rows = pq.read_table(out).to_pylist()
    keys = [(r["source"], r["paragraph"]) for r in rows]
    assert len(keys) == len(set(keys)) == 12


def test_boilerplate_rules_leave_a_page_in_capitals_alone():
    from classifier.text.boilerplate import boilerplate_lines

    lines = ["Home", "Contact Us", "WE DO NOT SELL YOUR PERSONAL INFORMATION TO ANYONE AT ALL.", "© 2020 Acme"]
    assert boilerplate_lines(lines) == [False] * 4


def test_a_url_table_from_a_spreadsheet_and_an_ambiguous_name(tmp_path):
    from classifier.predict.batch import read_url_table

    inputs = [str(tmp_path / "a" / "index.txt"), str(tmp_path / "b" / "index.txt")]
    table = tmp_path / "urls.csv"
    table.write_bytes("\ufeffpath,url\n./a/index.txt,https://a.example/\n".encode())
    assert read_url_table(table, inputs) == {inputs[0]: "https://a.example/"}
    table.write_text("path,url\nindex.txt,https://which.example/\n")
    with pytest.raises(ValueError, match="matches more than one input"):
        read_url_table(table, inputs)


def test_the_time_guard_is_not_swallowed_by_a_readers_fallback(tmp_path):
    import time

    from classifier.predict.batch import _time_limit
    from classifier.text.reading import PolicyInputError

    started = time.perf_counter()
    with pytest.raises(PolicyInputError, match=r"took over 0\.2 s"), _time_limit(0.2):
        try:
            time.sleep(3)
        except Exception:  # a fallback path like lxml -> html.parser
            time.sleep(3)
    assert time.perf_counter() - started < 2


def test_the_ray_engine_refuses_stdin_before_starting(tmp_path):
    from typer.testing import CliRunner

    from classifier.cli.app import app

    result = CliRunner().invoke(app, ["classify", "-", "--engine", "ray", "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "reads files, not stdin" in result.stderr
