"""The /app blueprint (routes.py): server-rendered pages for people with a browser."""

from .routes import bp

__all__ = ["bp"]
