"""The /admin blueprint; every route under it is guarded by medusa_auth.guard."""

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

bp = Blueprint("admin", __name__, url_prefix="/admin")


class InviteIdConverter(BaseConverter):
    """An invite id: one path segment, never ``accept``, so /admin/invites/accept is only the accept route.

    Without it GET and DELETE /admin/invites/accept would reach the ``<invite_id>`` views, and OPTIONS
    would advertise methods the accept operation does not have.
    """

    regex = r"(?!accept$)[^/]+"


@bp.record_once
def _register_converters(state: BlueprintSetupState) -> None:
    # Recorded before the routes below are, so the converter exists when their rules are added.
    state.app.url_map.converters["invite_id"] = InviteIdConverter


from . import routes  # noqa: E402,F401  (registers the routes on bp)

__all__ = ["bp"]
