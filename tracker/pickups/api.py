"""REST endpoints for pickup requests. Handlers authorise, parse, call one operation, dump; the
request's unit of work commits.

Staff only: hotline operators record calls, for the whole province (admins too); a clerk or a
postman sees their office's requests, another office's answer 404 as a missing one; managers
read. A clerk assigns their office's requests to its postmen; a postman (or a clerk) records
the visit at the door. Views of a request (the caller's name, phone and address) are audited.
"""

from __future__ import annotations

from flask.views import MethodView

from tracker.accounts.auth import actor, roles_required
from tracker.api import Blueprint
from tracker.audit.operations import record_audit
from tracker.database import writes
from tracker.pickups import operations, queries
from tracker.pickups.schemas import (
    REF_PARAMETER,
    PickupCreateIn,
    PickupListArgs,
    PickupOut,
    PickupPageOut,
    PickupPatchIn,
    PostmanIn,
    VisitIn,
    VisitOut,
    VisitRecordedOut,
)

blp = Blueprint(
    "pickups",
    __name__,
    url_prefix="/api/v1/pickups",
    description="Pickup requests: dossiers collected at the citizen's home (hotline 1022; staff)",
)

READERS = ("hotline", "clerk", "postman", "manager", "admin")
RECORDERS = ("hotline", "admin")
EDITORS = ("hotline", "clerk", "admin")
ASSIGNERS = ("clerk", "admin")
VISITORS = ("postman", "clerk", "admin")


@blp.route("")
class Pickups(MethodView):
    @writes
    @roles_required(*READERS)
    @blp.arguments(PickupListArgs(), location="query")
    @blp.response(200, PickupPageOut())
    @blp.errors(401, 403)
    def get(self, args):
        """List pickup requests in the caller's scope, newest first (keyset pagination).
        `postman=me` is a postman's own list."""
        items, next_cursor = queries.list_pickups(actor(), args)
        references = [pickup.reference for pickup in items]
        record_audit(actor().id, "pickup.list", "pickup", "*", after={"references": references})
        return {"items": items, "next_cursor": next_cursor}

    @roles_required(*RECORDERS)
    @blp.arguments(PickupCreateIn())
    @blp.response(201, PickupOut())
    @blp.errors(401, 403)
    def post(self, data):
        """Record a call: routed to the office that serves the commune; the citizen gets an
        SMS confirming the slot."""
        return operations.request_pickup(data, actor())


@blp.route("/<string:ref>", parameters=[REF_PARAMETER])
class PickupItem(MethodView):
    @writes
    @roles_required(*READERS)
    @blp.response(200, PickupOut())
    @blp.errors(401, 403, 404)
    def get(self, ref):
        """One pickup request with the caller's details (the view is audited)."""
        pickup = queries.get_pickup(ref, actor())
        record_audit(actor().id, "pickup.view", "pickup", pickup.reference)
        return pickup

    @roles_required(*EDITORS)
    @blp.arguments(PickupPatchIn())
    @blp.response(200, PickupOut())
    @blp.errors(401, 403, 404, 409)
    def patch(self, changes, ref):
        """Reschedule (SMS again), correct, re-route (a new address) or cancel an open request.
        `version` must be the version you read, else 409."""
        pickup = queries.get_pickup(ref, actor(), for_update=True)
        return operations.update_pickup(pickup, changes, actor())


@blp.route("/<string:ref>/postman", parameters=[REF_PARAMETER])
class PickupPostman(MethodView):
    @roles_required(*ASSIGNERS)
    @blp.arguments(PostmanIn())
    @blp.response(200, PickupOut())
    @blp.errors(401, 403, 404, 409)
    def put(self, data, ref):
        """Assign the request to a postman of its office, re-assign it, or unassign it
        (`postman: null`). `version` must be the version you read, else 409."""
        pickup = queries.get_pickup(ref, actor(), for_update=True)
        name = data["postman"]
        postman = None if name is None else operations.find_postman(name, pickup.office)
        return operations.assign_pickup(pickup, postman, data["version"], actor())


@blp.route("/<string:ref>/visits", parameters=[REF_PARAMETER])
class PickupVisits(MethodView):
    @writes
    @roles_required(*READERS)
    @blp.response(200, VisitOut(many=True))
    @blp.errors(401, 403, 404)
    def get(self, ref):
        """The request's visits, oldest first (the view is audited)."""
        pickup = queries.get_pickup(ref, actor())
        record_audit(actor().id, "pickup.view_visits", "pickup", pickup.reference)
        return queries.list_visits(pickup)

    @roles_required(*VISITORS)
    @blp.arguments(VisitIn())
    @blp.response(201, VisitRecordedOut())
    @blp.alt_response(200, schema=VisitRecordedOut(), description="the visit, recorded before")
    @blp.errors(401, 403, 404, 409)
    def post(self, data, ref):
        """Record the visit at the door. Collected: the dossier is made by the counter's intake
        (channel hotline 1022, this office, received at `visited_at`), its lookup secret shown
        once and sent to the citizen by SMS. Not collected: a `reason` and a new `day` + `slot`
        (SMS again) or none (closed). The same `visit_key` again, or a second `collected`,
        answers the first visit (200, no secret)."""
        pickup = queries.get_pickup(ref, actor(), for_update=True)
        outcome = operations.record_visit(pickup, data, actor())
        answer = {
            "visit": outcome.visit,
            "created": outcome.created,
            "dossier_code": outcome.dossier.code if outcome.dossier else None,
            "lookup_secret": outcome.secret,
            "pickup": pickup,
        }
        return answer, 201 if outcome.created else 200
