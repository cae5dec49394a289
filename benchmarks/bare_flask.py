"""Bare Flask: the benchmark's open route and nothing else, the baseline issue 11 measures the service by.

The same view and body as the service's ``/bench/plain`` (benchmarks/app.py), served under the same
gunicorn settings (benchmarks/gunicorn.conf.py), so a ratio to it is what the service adds per request.
"""

from flask import Flask

BODY = {"ok": True}

app = Flask(__name__)


@app.get("/bench/plain")
def plain() -> dict[str, bool]:
    """The baseline: Flask's routing and JSON response, no extension, no hook."""
    return BODY
