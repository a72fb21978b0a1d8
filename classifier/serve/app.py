"""``policy-classifier serve``: the classifier over HTTP for teams that integrate it, on 127.0.0.1 by default.

* ``POST /classify``: a policy as JSON (``{"text": ..., "scheme": "opp115"}``) or a form upload (``file`` or
  ``text``); answers the rows ``classify`` writes (one per paragraph) and the policy's summary.
* ``POST /report``: the same input; answers the report page (``format`` ``html`` or ``md``).
* ``GET /``: a page to paste or upload a policy and read its report (a plain form: no script).
* ``GET /health``: the model loaded and the tool's version.

The model is loaded once, when the app is made. Bad input gets a 4xx answer whose body is ``{"error": "one
line"}``: 400 (unreadable policy, bad JSON or fields), 413 (larger than ``max_bytes``), 415 (another content
type); an unexpected failure a 500 with no traceback in the answer.
"""

from __future__ import annotations

from html import escape
from typing import Any

# at module level: FastAPI reads the endpoints' annotations (Request) from this module's names
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

__all__ = ["DEFAULT_MAX_BYTES", "create_app"]

DEFAULT_MAX_BYTES = 2_000_000  # a long policy is 100-300 kB of text; HTML pages a few times that

_FORM = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>policy-classifier</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:860px;margin:2em auto;padding:0 1em}}
textarea{{width:100%;height:16em}}fieldset{{margin:1em 0}}</style></head><body>
<h1>Privacy policy report</h1>
<p>Paste a policy or upload a file (text, HTML, Markdown or PDF, up to {limit:,} bytes); the report shows each
category covered, unsure or not found, with its evidence. Nothing leaves this machine.</p>
<form method="post" action="/report" enctype="multipart/form-data">
<fieldset><legend>Policy text</legend><textarea name="text" aria-label="policy text"></textarea></fieldset>
<fieldset><legend>or a file</legend><input type="file" name="file" aria-label="policy file"></fieldset>
<button type="submit">Report</button></form>
<p style="color:#555">policy-classifier {version} · model {model}</p></body></html>
"""


class _BadInput(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(classifier: Any, *, model_name: str = "shipped model", max_bytes: int = DEFAULT_MAX_BYTES,
               detector: Any = None) -> Any:
    """The FastAPI app serving ``classifier`` (a loaded model), refusing policies over ``max_bytes``."""
    import classifier as package

    app = FastAPI(title="policy-classifier", version=package.__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.exception_handler(_BadInput)
    async def bad_input(_: Request, exc: _BadInput) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "bad request: " + "; ".join(str(e.get("msg", e)) for e in exc.errors())[:300]},
                            status_code=400)

    @app.exception_handler(Exception)
    async def failure(_: Request, exc: Exception) -> JSONResponse:  # never a traceback in an answer
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)

    @app.get("/", response_class=HTMLResponse)
    def form() -> str:
        return _FORM.format(limit=max_bytes, version=package.__version__, model=escape(model_name))

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": package.__version__, "model": model_name,
                "labels": list(classifier.labels), "attribute_outputs": len(classifier.attribute_keys)}

    @app.post("/classify")
    async def classify(request: Request) -> dict[str, Any]:
        policy, options = await _policy(request, max_bytes)
        scheme = options.get("scheme", "opp115")
        if scheme not in ("opp115", "card"):
            raise _BadInput(400, f"scheme must be opp115 or card, got {str(scheme)[:40]!r}")
        return _classified(classifier, policy, scheme, detector)

    @app.post("/report")
    async def report(request: Request) -> Any:
        from classifier.report.policy import build_report
        from classifier.report.render import render

        policy, options = await _policy(request, max_bytes)
        fmt = options.get("format", "html")
        if fmt not in ("html", "md"):
            raise _BadInput(400, f"format must be html or md, got {str(fmt)[:40]!r}")
        page = render(build_report(_document(classifier, policy), classifier, model_name=model_name), fmt)
        return HTMLResponse(page) if fmt == "html" else PlainTextResponse(page, media_type="text/markdown")

    return app


async def _policy(request: Any, max_bytes: int) -> tuple[Any, dict[str, Any]]:
    """The policy a request carries (JSON ``text`` or a form's ``file``/``text``) as a ``PolicyText``, and the
    request's other fields; :class:`_BadInput` otherwise."""
    import json

    from classifier.text.reading import PolicyInputError, read_policy

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + 65_536:
        raise _BadInput(413, f"request larger than {max_bytes:,} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        body = await request.body()
        if len(body) > max_bytes + 65_536:
            raise _BadInput(413, f"request larger than {max_bytes:,} bytes")
        try:
            fields = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _BadInput(400, "the body is not valid JSON") from None
        if not isinstance(fields, dict) or not isinstance(fields.get("text"), str):
            raise _BadInput(400, 'expected a JSON object with a "text" string')
        data, name = fields["text"].encode("utf-8"), fields.get("source")
    elif kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_part_size=max_bytes + 1)
        fields = {key: value for key, value in form.items() if isinstance(value, str) and key != "text"}
        upload = form.get("file")
        if upload is not None and not isinstance(upload, str) and upload.filename:
            data, name = await upload.read(max_bytes + 1), upload.filename
        elif isinstance(form.get("text"), str) and form["text"].strip():
            data, name = form["text"].encode("utf-8"), None
        else:
            raise _BadInput(400, "give the policy as a 'text' field or a 'file' upload")
    else:
        raise _BadInput(415, "send application/json ({\"text\": ...}) or a form (text or file)")
    if len(data) > max_bytes:
        raise _BadInput(413, f"policy larger than {max_bytes:,} bytes")
    try:
        policy = read_policy(data, max_bytes=max_bytes)
    except PolicyInputError as exc:
        raise _BadInput(400, f"cannot read the policy: {exc}") from None
    from dataclasses import replace

    return replace(policy, source=str(name)[:200] if name else None), fields


def _document(classifier: Any, policy: Any) -> Any:
    """The classified policy; a 400 for a text without paragraphs, as ``classify`` refuses it."""
    from classifier.predict.batch import NO_PARAGRAPHS

    document = classifier.classify_document(policy)
    if not document.paragraphs:
        raise _BadInput(400, f"cannot read the policy: {NO_PARAGRAPHS}")
    return document


def _classified(classifier: Any, policy: Any, scheme: str, detector: Any) -> dict[str, Any]:
    """The rows and summary of one policy, as ``classify`` writes them."""
    from dataclasses import asdict

    from classifier.predict.batch import document_rows
    from classifier.predict.document import in_card_view

    document = _document(classifier, policy)
    page: dict[str, Any] = {"is_policy": None, "policy_probability": None}
    if detector is not None:
        probability = detector.probability(document)
        page = {"is_policy": detector.is_policy(probability), "policy_probability": round(probability, 4)}
    shown = in_card_view(document) if scheme == "card" else document
    source = policy.source or "<request>"
    return {"source": source, "url": policy.url, **page, "rows": list(document_rows(shown, source, page)),
            "summary": {label: asdict(summary) for label, summary in shown.summary().items()},
            "statements": shown.statements().sentence()}
