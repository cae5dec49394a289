"""Second factors and verification codes (SPEC §11): TOTP, recovery codes, sign-in challenges, mailed codes.

Nothing here reads a Flask request; the service (``auth/mfa_service.py``) and routes do.
"""
