"""gunicorn settings for the example service (see examples/orders_service.py for the command).

The worker model, the body deadline and the redacting logs are the service's (../gunicorn.conf.py): a
slow client holds a thread, not the worker, and no log line holds a token a client sent.
"""

import os
import runpy
from pathlib import Path

_service = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '9100')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or "2")
worker_class = _service["worker_class"]
threads = _service["threads"]
loglevel = _service["loglevel"]
logger_class = _service["logger_class"]
post_worker_init = _service["post_worker_init"]
when_ready = _service["when_ready"]
pre_request = _service["pre_request"]
control_socket_disable = True
# Built once in the master, so a bad JWKS_URL stops startup with its one line; each forked worker
# then keeps its own JWKS cache (nothing is fetched before the first request).
preload_app = True
