"""``serve``: the classifier as a local HTTP service (the ``serve`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classifier.cli.app import EXIT_USAGE, FULL_MODEL_HELP, app, fail, load_model


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0 exposes "
                                           "it to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: the shipped model).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    full_model: Annotated[bool, typer.Option("--full-model", help=FULL_MODEL_HELP)] = False,
    max_bytes: Annotated[int, typer.Option(min=1, help="Refuse policies larger than this.")] = 2_000_000,
) -> None:
    """Serve POST /classify (JSON rows and summary), POST /report (the report page) and GET / (a form to paste or
    upload a policy); the model is loaded once."""
    try:
        import uvicorn

        from classifier.serve.app import create_app
    except ImportError as exc:
        fail(f"serve needs the serve extra (pip install 'policy-clause-classifier[serve]'): {exc}", EXIT_USAGE)
    from classifier.predict.detector import load_detector
    from classifier.text.reading import DEFAULT_MAX_BYTES

    if max_bytes > DEFAULT_MAX_BYTES:
        fail(f"--max-bytes is at most {DEFAULT_MAX_BYTES:,} (what a policy may weigh when read)", EXIT_USAGE)
    classifier = load_model(model, device, full=full_model)
    from classifier.models.transformer import DEFAULT_MODEL_DIR

    try:
        detector = load_detector(model or DEFAULT_MODEL_DIR)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    application = create_app(classifier, model_name=str(model or "shipped model"), max_bytes=max_bytes,
                             detector=detector)
    typer.echo(f"serving on http://{host}:{port}/ (Ctrl-C stops)", err=True)
    uvicorn.run(application, host=host, port=port, log_level="warning")
