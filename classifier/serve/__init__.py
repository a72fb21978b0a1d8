"""The local HTTP service (``policy-classifier serve``; the ``serve`` extra: FastAPI and uvicorn)."""
