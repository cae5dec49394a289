"""The service's gunicorn settings (../gunicorn.conf.py) for every Python server of the benchmark,
without the access log: the Node.js peer writes none, and a log line per request is not what is measured.

``BENCH_WORKER_CLASS=sync`` measures the previous model (one request per process at a time, no
keep-alive) for comparison; ``GUNICORN_THREADS`` sizes the threaded one as it does in production.
"""

import os
import runpy
from pathlib import Path

_service = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
workers = _service["workers"]
worker_class = os.environ.get("BENCH_WORKER_CLASS") or _service["worker_class"]
threads = 1 if worker_class == "sync" else _service["threads"]
preload_app = _service["preload_app"]
graceful_timeout = _service["graceful_timeout"]
logger_class = _service["logger_class"]
pre_request = _service["pre_request"]
when_ready = _service["when_ready"]
post_worker_init = _service["post_worker_init"]
control_socket_disable = True
accesslog = None


def post_fork(server, worker):
    """The service's post_fork for the service; the bare Flask app and the peer have no database pool."""
    if "medusa_auth" in worker.app.wsgi().extensions:
        _service["post_fork"](server, worker)
