"""The local HTTP service, through a real HTTP client against a uvicorn server started here on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from test_report import POLICY, KeywordModel  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture(scope="module")
def server():
    import uvicorn

    from classifier.serve.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(KeywordModel(), model_name="keyword test model", max_bytes=5_000)
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        if time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


def test_classify_answers_the_cli_rows_and_summary_for_json_and_uploads(server):
    answer = httpx.post(f"{server}/classify", json={"text": POLICY, "source": "p.txt"})
    assert answer.status_code == 200
    body = answer.json()
    sharing = [row for row in body["rows"] if "third_party_sharing" in row["labels"]]
    assert len(sharing) == 1 and sharing[0]["source"] == "p.txt" and set(sharing[0]) >= {
        "paragraph", "start", "end", "section", "text", "scores", "attributes", "retention", "is_policy"}
    assert body["summary"]["third_party_sharing"]["covered"] and not body["summary"]["do_not_track"]["covered"]
    card = httpx.post(f"{server}/classify", json={"text": POLICY, "scheme": "card"}).json()
    assert card["summary"]["third_party_sharing"]["covered"] and "do_not_track" not in card["summary"]
    uploaded = httpx.post(f"{server}/classify", files={"file": ("policy.md", POLICY.encode(), "text/markdown")})
    assert uploaded.status_code == 200 and uploaded.json()["source"] == "policy.md"
    assert [r["labels"] for r in uploaded.json()["rows"]] == [r["labels"] for r in body["rows"]]


def test_the_form_page_and_the_report_page_render_and_escape_the_policy(server):
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and '<form method="post" action="/report"' in page.text
    report = httpx.post(f"{server}/report", data={"text": POLICY})
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<script" not in report.text and "&lt;script&gt;" in report.text and "covered" in report.text
    markdown = httpx.post(f"{server}/report", data={"text": POLICY, "format": "md"})
    assert markdown.status_code == 200 and markdown.text.startswith("# Privacy Policy")
    assert httpx.get(f"{server}/health").json()["model"] == "keyword test model"


@pytest.mark.parametrize(("request_kwargs", "status", "message"), [
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ({"json": {"words": "x"}}, 400, '"text" string'),
    ({"json": {"text": POLICY, "scheme": "colour"}}, 400, "scheme must be"),
    ({"json": {"text": "x" * 6_000}}, 413, "larger than 5,000 bytes"),
    ({"content": b"text", "headers": {"content-type": "text/plain"}}, 415, "application/json"),
    ({"files": {"file": ("a.bin", bytes(range(256)) * 4, "application/octet-stream")}}, 400, "cannot read"),
    ({"data": {"text": "   "}}, 400, "'text' field or a 'file'"),
    ({"json": {"text": "ok"}}, 400, "no paragraphs found"),
])
def test_bad_input_gets_a_4xx_with_one_line_and_no_traceback(server, request_kwargs, status, message):
    answer = httpx.post(f"{server}/classify", **request_kwargs)
    assert answer.status_code == status and message in answer.json()["error"]
    assert "Traceback" not in answer.text and "\n" not in answer.json()["error"]


def test_serve_binds_to_this_machine_by_default_and_names_a_missing_extra(monkeypatch):
    import inspect

    from typer.testing import CliRunner

    from classifier.cli.app import app
    from classifier.cli.serve import serve

    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    monkeypatch.setitem(__import__("sys").modules, "uvicorn", None)  # as if the extra were not installed
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2 and "serve extra" in result.stderr and "Traceback" not in result.output
