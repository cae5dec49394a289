"""gunicorn settings for the example service (see examples/orders_service.py for the command)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '9100')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Built once in the master, so a bad JWKS_URL stops startup with its one line; each forked worker
# then keeps its own JWKS cache (nothing is fetched before the first request).
preload_app = True
