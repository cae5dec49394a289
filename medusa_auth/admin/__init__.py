"""The /admin blueprint (routes.py); every route under it is guarded by medusa_auth.guard."""

from .routes import bp

__all__ = ["bp"]
