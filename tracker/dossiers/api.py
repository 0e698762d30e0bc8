"""REST endpoints for dossiers. Handlers authorise, parse, call one operation, commit, dump.

`roles_required` stands outermost, so an anonymous caller learns nothing from validation errors.
"""

from __future__ import annotations

from flask.views import MethodView

from tracker.accounts.auth import actor, roles_required
from tracker.api import Blueprint
from tracker.audit.operations import record_audit
from tracker.database import writes
from tracker.dossiers import operations, queries, registrations
from tracker.dossiers.schemas import (
    CODE_PARAMETER,
    DossierCreatedOut,
    DossierCreateIn,
    DossierListArgs,
    DossierOut,
    DossierPageOut,
    DossierPatchIn,
    EventCreateIn,
    EventOut,
    EventRecordedOut,
    ReceiptOut,
    RegistrationCreateIn,
)

blp = Blueprint(
    "dossiers",
    __name__,
    url_prefix="/api/v1/dossiers",
    description="Dossiers, their lifecycle events and receipts (staff)",
)

STAFF = ("clerk", "agency", "manager", "admin")
WRITERS = ("clerk", "agency", "admin")


@blp.route("")
class Dossiers(MethodView):
    @writes
    @roles_required(*STAFF)
    @blp.arguments(DossierListArgs(), location="query")
    @blp.response(200, DossierPageOut())
    @blp.errors(401, 403)
    def get(self, args):
        """List dossiers in the caller's scope, newest first (keyset pagination)."""
        items, next_cursor = queries.list_dossiers(actor(), args)
        # Lists show applicants' names: the view of personal data is audited.
        record_audit(
            actor().id, "dossier.list", "dossier", "*", after={"codes": [d.code for d in items]}
        )
        return {"items": items, "next_cursor": next_cursor}

    @roles_required("clerk", "admin")
    @blp.arguments(DossierCreateIn())
    @blp.response(201, DossierCreatedOut())
    @blp.errors(401, 403, 409)
    def post(self, data):
        """Log a dossier taken in at a counter, a hotline pick-up or a one-stop desk."""
        dossier, secret = operations.create_dossier(data, actor())
        dossier.lookup_secret = secret
        return dossier


@blp.route("/<string:code>", parameters=[CODE_PARAMETER])
class DossierItem(MethodView):
    @writes
    @roles_required(*STAFF)
    @blp.response(200, DossierOut())
    @blp.errors(401, 403, 404)
    def get(self, code):
        """One dossier with the applicant's personal data (the view is audited)."""
        dossier = queries.get_dossier(code, actor())
        record_audit(actor().id, "dossier.view", "dossier", code)
        return dossier

    @roles_required(*WRITERS)
    @blp.arguments(DossierPatchIn())
    @blp.response(200, DossierOut())
    @blp.errors(401, 403, 404, 409)
    def patch(self, changes, code):
        """Correct details. `version` must be the version you read, else 409."""
        dossier = queries.get_dossier(code, actor(), for_update=True)
        operations.update_dossier(dossier, changes, actor())
        return dossier


@blp.route("/<string:code>/events", parameters=[CODE_PARAMETER])
class DossierEvents(MethodView):
    @writes
    @roles_required(*STAFF)
    @blp.response(200, EventOut(many=True))
    @blp.errors(401, 403, 404)
    def get(self, code):
        """The dossier's full history, late events included (`applied` false); audited."""
        events = queries.list_events(queries.get_dossier(code, actor()))
        record_audit(actor().id, "dossier.view_events", "dossier", code)
        return events

    @roles_required(*WRITERS)
    @blp.arguments(EventCreateIn())
    @blp.response(201, EventRecordedOut())
    @blp.errors(401, 403, 404, 409)
    def post(self, data, code):
        """Record a status change. 409 lists the statuses that may follow.

        `delivered` names who received the result (`receiver.name`, `receiver.relation`);
        `delivery_failed` gives a coded `failure_reason` (`other` with a `note`)."""
        user = actor()
        dossier = queries.get_dossier(code, user, for_update=True)
        outcome = operations.record_event(
            dossier,
            data["status"],
            source="counter" if user.role != "agency" else "agency",
            actor=user,
            occurred_at=data.get("occurred_at"),
            source_event_id=data.get("source_event_id"),
            note=data.get("note"),
            office_id=user.office_id,
            appointment_date=data.get("appointment_date"),
            expected_version=data.get("expected_version"),
            receiver=data.get("receiver"),
            failure_reason=data.get("failure_reason"),
        )
        event = outcome.event
        event.duplicate = outcome.duplicate
        return event


@blp.route("/<string:code>/receipt", methods=["POST"], parameters=[CODE_PARAMETER])
@roles_required("clerk", "admin")
@blp.response(200, ReceiptOut())
@blp.errors(401, 403, 404)
def reissue_receipt(code):
    """Reprint a receipt: a new lookup secret replaces the old one."""
    dossier = queries.get_dossier(code, actor(), for_update=True)
    secret = operations.reissue_receipt(dossier, actor())
    return {"code": dossier.code, "lookup_secret": secret}


registrations_blp = Blueprint(
    "registrations",
    __name__,
    url_prefix="/api/v1/registrations",
    description="Return registrations: results to fetch from the agency and return by post",
)


@registrations_blp.route("", methods=["POST"])
@roles_required(*registrations.REGISTRAR_ROLES)
@registrations_blp.arguments(RegistrationCreateIn())
@registrations_blp.response(201, DossierCreatedOut())
@registrations_blp.errors(401, 403, 409)
def register_return(data):
    """Register a result for return by post, keyed by the agency's own dossier code: a
    `return_only` dossier in `registered` (read it with the dossier endpoints). 409 when the
    agency's reference is already on a dossier (named only when you may see it)."""
    dossier, secret = registrations.register_return(data, actor())
    dossier.lookup_secret = secret
    return dossier
