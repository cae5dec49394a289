"""The service's gunicorn settings (../gunicorn.conf.py) for every Python server of the benchmark,
without the access log: the Node.js peer writes none, and a log line per request is not what is measured.
"""

import runpy
from pathlib import Path

_service = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
workers = _service["workers"]
preload_app = _service["preload_app"]
graceful_timeout = _service["graceful_timeout"]
accesslog = None


def post_fork(server, worker):
    """The service's post_fork for the service; the flask-jwt-extended peer has no database pool."""
    if "medusa_auth" in worker.app.wsgi().extensions:
        _service["post_fork"](server, worker)
