"""The /auth blueprint (routes.py): Medusa's sign-in, registration, refresh, session and password routes."""

from .routes import bp

__all__ = ["bp"]
