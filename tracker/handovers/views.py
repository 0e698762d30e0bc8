"""Hand-over record pages (blueprint `handover_pages`): the list with its search, the printable
record (A4, both sides' signature lines) and the agency's confirmation form under it.

Clerks print and look up their office's records; agency officers see their agency's and confirm
them; managers and admins see all. A record outside the user's scope answers 404 as a missing
one. The confirmation goes through the API's load schema and operation
(`operations.confirm_record`). The request is the unit of work: these views never commit.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.audit.operations import record_audit
from tracker.database import writes
from tracker.errors import DomainError
from tracker.handovers import operations, queries
from tracker.handovers.models import HandoverRecord
from tracker.handovers.schemas import ConfirmationIn, HandoverListArgs
from tracker.pages import form_errors, page_roles
from tracker.unit_of_work import discard

bp = Blueprint("handover_pages", __name__, template_folder="templates")

READERS = ("clerk", "agency", "manager", "admin")
CONFIRMERS = ("agency", "admin")
PAGE_SIZE = 50
_DATE_FIELD = "appointment_dates."


@page_roles(*READERS)
def index():
    """The records in the user's scope, newest first; search by number (or a dossier code on
    it), agency and day."""
    user = actor()
    typed = {
        key: request.args.get(key, "").strip()
        for key in ("q", "agency", "day", "unconfirmed", "cursor")
    }
    errors: dict[str, list[str]] = {}
    try:
        args = HandoverListArgs().load(
            {key: value for key, value in typed.items() if value} | {"limit": PAGE_SIZE}
        )
        records, next_cursor = queries.list_records(user, args)
    except (ValidationError, DomainError) as exc:
        errors = form_errors(exc)
        records, next_cursor = [], None
    page = render_template(
        "handovers/list.html",
        records=records,
        next_cursor=next_cursor,
        typed=typed,
        agencies=queries.agencies_of(user),
        errors=errors,
    )
    return page, 422 if errors else 200


@writes
@page_roles(*READERS)
def record(number: str):
    """The printable record; under it (not printed) the agency's confirmation form."""
    return _record_page(number, form={}, errors={}, status=200)


@page_roles(*CONFIRMERS)
def confirm(number: str):
    """The agency confirms the record with an appointment date per dossier."""
    user = actor()
    handover = queries.get_record(number, user, for_update=True)
    form = {
        key: value.strip() for key, value in request.form.items() if key.startswith(_DATE_FIELD)
    }
    if handover.confirmed_at is not None:
        # Opened before someone confirmed it: the record answers with what was given then.
        flash(_stale_message(handover), "error")
        return redirect(url_for(".record", number=handover.number))
    dates = {key.removeprefix(_DATE_FIELD): value for key, value in form.items() if value}
    try:
        data = ConfirmationIn().load({"appointment_dates": dates})
        operations.confirm_record(handover, data["appointment_dates"], user)
    except (ValidationError, DomainError) as exc:
        errors, status = form_errors(exc), getattr(exc, "status", 422)
    else:
        flash(_("Hand-over record %(number)s confirmed.", number=handover.number), "success")
        return redirect(url_for(".record", number=handover.number))
    discard()
    return _record_page(number, form=form, errors=errors, status=status)


def _stale_message(handover: HandoverRecord) -> str:
    who = handover.confirmed_by
    name = (who.full_name or who.username) if who else _("the agency's own system")
    return _(
        "This record was already confirmed (by %(name)s) before your form was sent: nothing "
        "was changed. The appointment dates shown are the ones given then.",
        name=name,
    )


def _record_page(number: str, *, form: dict[str, str], errors: dict, status: int):
    user = actor()
    handover = queries.get_record(number, user)
    record_audit(user.id, "handover.view", "handover", handover.number)
    can_confirm = (
        user.role in CONFIRMERS and handover.kind == "forward" and handover.confirmed_at is None
    )
    defaults: dict[str, date] = {}
    if can_confirm:
        defaults = {
            line.dossier.code: operations.default_appointment(handover, line)
            for line in handover.lines
        }
    page = render_template(
        "handovers/record.html",
        record=handover,
        totals=handover.document_totals(),
        can_confirm=can_confirm,
        defaults=defaults,
        form=form,
        errors=errors,
    )
    return page, status


bp.add_url_rule("/handovers", "index", index)
bp.add_url_rule("/handovers/<number>", "record", record)
bp.add_url_rule("/handovers/<number>/confirmation", "confirm", confirm, methods=["POST"])
