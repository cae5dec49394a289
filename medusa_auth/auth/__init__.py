"""The /auth blueprint: Medusa's emailpass routes."""

from .routes import bp

__all__ = ["bp"]
