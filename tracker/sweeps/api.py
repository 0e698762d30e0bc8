"""REST endpoints: sweeps. `/dossiers/anomalies` lives here; Werkzeug ranks the static segment
above the dossiers blueprint's `/dossiers/<code>`, so no dossier code can shadow it."""

from __future__ import annotations

from tracker.accounts.auth import actor, roles_required
from tracker.api import Blueprint
from tracker.sweeps import queries
from tracker.sweeps.schemas import AnomalyListArgs, AnomalyPageOut

blp = Blueprint("sweeps", __name__, url_prefix="/api/v1", description="sweeps")

STAFF = ("clerk", "agency", "manager", "admin")


@blp.route("/dossiers/anomalies", methods=["GET"])
@roles_required(*STAFF)
@blp.arguments(AnomalyListArgs(), location="query")
@blp.response(200, AnomalyPageOut())
@blp.errors(401, 403)
def list_anomalies(args):
    """Contradictions between the postal and agency sides of dossiers in the caller's scope
    (clerk: own office, agency: own agency), newest first (keyset pagination)."""
    items, next_cursor = queries.list_anomalies(actor(), args)
    return {"items": items, "next_cursor": next_cursor}
