"""The flask-jwt-extended peer: the same two routes, the protected one behind ``@jwt_required()``.

It checks what the service checks on an access token: an RS256 signature by the service's public key
(BENCH_PUBLIC_KEY_FILE), ``exp`` with 30 s of leeway, and the ``actor_id`` identity claim.
"""

import os
from pathlib import Path

from flask import Flask
from flask_jwt_extended import JWTManager, jwt_required

app = Flask(__name__)
app.config.update(
    JWT_ALGORITHM="RS256",
    JWT_DECODE_ALGORITHMS=["RS256"],
    JWT_PUBLIC_KEY=Path(os.environ["BENCH_PUBLIC_KEY_FILE"]).read_text(),
    JWT_TOKEN_LOCATION=["headers"],
    JWT_IDENTITY_CLAIM="actor_id",
    JWT_DECODE_LEEWAY=30,
)
JWTManager(app)
BODY = {"ok": True}


@app.get("/bench/plain")
def plain() -> dict[str, bool]:
    """The baseline: no credential needed."""
    return BODY


@app.get("/bench/protected")
@jwt_required()
def protected() -> dict[str, bool]:
    """The same view behind flask-jwt-extended's check."""
    return BODY
