"""The /app blueprint: server-rendered pages for people with a browser."""

from flask import Blueprint

bp = Blueprint("web", __name__, url_prefix="/app", static_folder="static", static_url_path="/static")

from . import routes  # noqa: E402,F401  (registers the routes on bp)

__all__ = ["bp"]
