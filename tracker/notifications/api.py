"""GET /api/v1/dossiers/<code>/notifications: the messages sent (or not) to the citizen."""

from __future__ import annotations

from tracker.accounts.auth import actor, roles_required
from tracker.api import Blueprint
from tracker.audit.operations import record_audit
from tracker.database import writes
from tracker.dossiers.api import STAFF
from tracker.dossiers.queries import get_dossier
from tracker.dossiers.schemas import CODE_PARAMETER
from tracker.notifications import queries
from tracker.notifications.schemas import NotificationOut

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/dossiers",
    description="Messages to citizens (SMS, e-mail) and their delivery (staff)",
)


@blp.route("/<string:code>/notifications", parameters=[CODE_PARAMETER])
@writes
@roles_required(*STAFF)
@blp.response(200, NotificationOut(many=True))
@blp.errors(401, 403, 404)
def list_notifications(code):
    """A dossier's SMS and e-mails with their delivery state; recipients unmasked (audited)."""
    notifications = queries.list_for_dossier(get_dossier(code, actor()))
    record_audit(actor().id, "dossier.view_notifications", "dossier", code)
    return notifications
