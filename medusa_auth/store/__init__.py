"""The /store blueprint (routes.py): Medusa's storefront customers, guarded by medusa_auth.guard."""

from .routes import bp

__all__ = ["bp"]
