"""REST endpoints of hand-over records. Handlers authorise, parse, call one operation, dump;
the request's unit of work commits.

Clerks (their office) forward a batch to an agency and get its record; agency officers (their
agency) confirm it with the appointment dates; managers and admins read all. A record outside
the caller's scope answers 404 as a missing one.
"""

from __future__ import annotations

from flask.views import MethodView

from tracker.accounts.auth import actor, roles_required
from tracker.api import Blueprint
from tracker.audit.operations import record_audit
from tracker.database import writes
from tracker.errors import ValidationFailed
from tracker.handovers import operations, queries
from tracker.handovers.schemas import (
    NUMBER_PARAMETER,
    ConfirmationIn,
    ConfirmedOut,
    HandoverCreatedOut,
    HandoverCreateIn,
    HandoverListArgs,
    HandoverOut,
    HandoverPageOut,
)

blp = Blueprint(
    "handovers",
    __name__,
    url_prefix="/api/v1/handovers",
    description="Hand-over records between the post and the agencies (biên bản giao nhận)",
)

READERS = ("clerk", "agency", "manager", "admin")
FORWARDERS = ("clerk", "admin")
CONFIRMERS = ("agency", "admin")


@blp.route("")
class Handovers(MethodView):
    # No `@writes`: the list audits nothing (only a record's own view is audited), so it reads
    # without SQLite's write lock.
    @roles_required(*READERS)
    @blp.arguments(HandoverListArgs(), location="query")
    @blp.response(200, HandoverPageOut())
    @blp.errors(401, 403)
    def get(self, args):
        """List the records in the caller's scope, newest first (keyset pagination)."""
        items, next_cursor = queries.list_records(actor(), args)
        return {"items": items, "next_cursor": next_cursor}

    @roles_required(*FORWARDERS)
    @blp.arguments(HandoverCreateIn())
    @blp.response(201, HandoverCreatedOut())
    @blp.errors(401, 403)
    def post(self, data):
        """Forward dossiers to one agency and make their hand-over record: each code is
        recorded `forwarded` on its own; refused ones are listed (index, field, message). When
        every code is refused, 422 names them. The same `batch_key` sent again answers the same
        records; sent again with more codes, the new ones get a record of their own: `records`
        lists every record of the batch, `record` is its first."""
        records, refused = operations.forward_batch(
            data["dossier_codes"], data["agency_code"], actor(), data.get("batch_key")
        )
        if not records:
            raise ValidationFailed(
                "no dossier of the list could be forwarded",
                fields={item["field"]: [item["message"]] for item in refused},
            )
        return {"record": records[0], "records": records, "refused": refused}


@blp.route("/<string:number>", parameters=[NUMBER_PARAMETER])
class HandoverItem(MethodView):
    @writes
    @roles_required(*READERS)
    @blp.response(200, HandoverOut())
    @blp.errors(401, 403, 404)
    def get(self, number):
        """One record with its dossiers, documents, fees and totals (the view is audited)."""
        record = queries.get_record(number, actor())
        record_audit(actor().id, "handover.view", "handover", record.number)
        return record


@blp.route("/<string:number>/confirmation", parameters=[NUMBER_PARAMETER])
class HandoverConfirmation(MethodView):
    @roles_required(*CONFIRMERS)
    @blp.arguments(ConfirmationIn())
    @blp.response(200, ConfirmedOut())
    @blp.errors(401, 403, 404, 409)
    def post(self, data, number):
        """The agency confirms the record: each dossier still `forwarded` goes to `processing`
        with its appointment date. Confirmed once; a repeat answers the first confirmation."""
        record = queries.get_record(number, actor(), for_update=True)
        record, repeated = operations.confirm_record(record, data["appointment_dates"], actor())
        record.repeated = repeated
        return record
