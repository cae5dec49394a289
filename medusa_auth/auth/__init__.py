"""The /auth blueprints: Medusa's sign-in, registration, refresh, session and password routes (routes.py),
and the second factor's (mfa_routes.py)."""

from .mfa_routes import bp as mfa_bp
from .mfa_routes import verification_bp
from .routes import bp

__all__ = ["bp", "mfa_bp", "verification_bp"]
