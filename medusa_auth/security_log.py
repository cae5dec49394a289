"""Security events: one structured log line each, never a token, password, link or key."""

import json
import logging

log = logging.getLogger("medusa_auth.security")


def security_event(event: str, **fields: object) -> None:
    """Log ``event`` with ids and reasons only; callers pass no secrets, and this adds none."""
    log.info(json.dumps({"event": event, **fields}, default=str, sort_keys=True))
