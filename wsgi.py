"""The WSGI entry point: `gunicorn wsgi:app`, and `flask --app wsgi ...` for the CLI."""

import sys

from medusa_auth import ConfigError, create_app

try:
    app = create_app()
except ConfigError as error:
    # One line naming the variable, not a traceback (gunicorn.conf.py preloads, so this stops the master).
    sys.exit(f"medusa_auth: configuration error: {error}")
