"""`make bench`: the service and its peers under gunicorn/express, driven by wrk; see run.py."""
