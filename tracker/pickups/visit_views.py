"""The postman's visit on a phone: "Collected" (the counter's intake form filled from the call)
and "Not collected" (a reason, then a new slot or the request closed).

Both forms build the payload of `POST /api/v1/pickups/{ref}/visits`, load it with the API's
schema and call the same operation (`operations.record_visit`), which makes the dossier through
the counter's intake. Each form carries a one-time `visit_key`: a double tap or a reload sends
the same key, and the operation answers the visit already recorded instead of making a second
dossier. The answer is a redirect to the request's page (its dossier code; the lookup secret
goes to the citizen by SMS only, never to the page or the session).

The URL rules are in `blueprint.py`. The request is the unit of work: these views never commit.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.audit.operations import record_audit
from tracker.calendar import add_working_days, today_vn
from tracker.catalogue.models import Procedure
from tracker.database import writes
from tracker.dossiers.intake_views import (
    KIND_NAMES,
    intake_payload,
    procedure_in_force,
    typed_intake,
)
from tracker.dossiers.models import DOCUMENT_KINDS
from tracker.errors import DomainError
from tracker.i18n import N_
from tracker.pages import form_errors, page_roles
from tracker.pickups import lifecycle, operations
from tracker.pickups.models import Pickup
from tracker.pickups.queries import get_pickup
from tracker.pickups.schemas import VisitIn
from tracker.pickups.views import VISIT_ROLES, pickup_procedures, words
from tracker.unit_of_work import discard

# Empty document rows offered below the checklist (more come with "Add a row" when JS runs).
BLANK_ROWS = 2
MAX_ROWS = 100
INTAKE_PREFIX = "intake."
THEN_CHOICES = ("reschedule", "close")
# The not-collected form's fields sent as they are (the new day and slot only to come again).
VISIT_FIELDS = ("visit_key", "visited_at", "reason", "note")


# Collected -----------------------------------------------------------------------------------


@writes
@page_roles(*VISIT_ROLES)
def collect(ref: str):
    """The intake form filled from the call (GET; ?procedure= chooses or changes the
    procedure), and the dossier made at the door (POST)."""
    user = actor()
    pickup = get_pickup(ref, user, for_update=request.method == "POST")
    closed = _closed(pickup)
    if closed is not None:
        return closed
    if request.method == "POST":
        return _record_collected(pickup)
    record_audit(user.id, "pickup.view", "pickup", pickup.reference)
    code = request.args.get("procedure", "").strip()[:40] or (
        pickup.procedure.code if pickup.procedure else ""
    )
    procedure = procedure_in_force(code)
    errors = {}
    if code and procedure is None:
        errors["procedure_code"] = [N_("No procedure in force has this code.")]
    values = _collect_defaults(pickup, procedure)
    documents = [
        {"name": doc["name"], "kind": doc["kind"], "count": str(doc["count"])}
        for doc in (procedure.documents if procedure else None) or []
    ]
    return _collect_page(pickup, procedure, values, documents, errors, 404 if errors else 200)


def _collect_defaults(pickup: Pickup, procedure: Procedure | None) -> dict[str, str]:
    forms = [
        f for f in (procedure.service_forms if procedure else []) if f in lifecycle.SERVICE_FORMS
    ]
    service_form = pickup.service_form if pickup.service_form in forms or not forms else forms[0]
    return {
        "visit_key": secrets.token_urlsafe(12),
        "procedure_code": procedure.code if procedure else "",
        "service_form": service_form,
        "applicant.name": pickup.caller_name,
        "applicant.phone": pickup.phone,
        "delivery_address": f"{pickup.street}, {pickup.commune.name}",
        "fee_vnd": str((procedure.fee_vnd if procedure else None) or 0),
    }


def _record_collected(pickup: Pickup):
    values, documents = typed_intake(request.form)
    values["visit_key"] = request.form.get("visit_key", "").strip()[:64]
    values["visited_at"] = request.form.get("visited_at", "").strip()[:40]
    procedure = procedure_in_force(values.get("procedure_code", ""))
    if procedure is None:
        errors = {"procedure_code": [N_("Choose a procedure in force first.")]}
        return _collect_page(pickup, None, values, documents, errors, 422)
    payload = {
        "outcome": "collected",
        **{name: values[name] for name in ("visit_key", "visited_at") if values[name]},
        "intake": intake_payload(values, documents),
    }
    try:
        outcome = operations.record_visit(pickup, _load(payload), actor())
    except (ValidationError, DomainError) as error:
        discard()  # nothing of a refused visit stays
        pickup = get_pickup(pickup.reference, actor())
        return _collect_page(pickup, procedure, values, documents, _unprefixed(error), 422)
    dossier = outcome.dossier
    if outcome.created:
        flash(
            _(
                "Dossier %(code)s is logged. The code and the lookup secret were sent by SMS "
                "to %(phone)s.",
                code=dossier.code,
                phone=pickup.phone,
            ),
            "success",
        )
    else:
        flash(_("This visit was already recorded: dossier %(code)s.", code=dossier.code), "error")
    return redirect(url_for(".pickup", ref=pickup.reference), 303)


def _collect_page(
    pickup: Pickup,
    procedure: Procedure | None,
    values: dict[str, str],
    documents: list[dict[str, str]],
    errors: dict[str, list[str]],
    status: int = 200,
):
    blank = {"name": "", "kind": "original", "count": "1"}
    rows = documents + [dict(blank) for _ in range(BLANK_ROWS)]
    forms = [
        f for f in (procedure.service_forms if procedure else []) if f in lifecycle.SERVICE_FORMS
    ]
    page = render_template(
        "pickups/collect.html",
        pickup=pickup,
        procedure=procedure,
        service_forms=forms,
        procedures=pickup_procedures() if procedure is None or errors.get("procedure_code") else [],
        values=values,
        rows=rows[:MAX_ROWS],
        errors=errors,
        kinds=[(kind, _(KIND_NAMES[kind])) for kind in DOCUMENT_KINDS],
        words=words(),
    )
    return page, status


# Not collected -------------------------------------------------------------------------------


@page_roles(*VISIT_ROLES)
def not_collected(ref: str):
    """Why the dossier was not collected, then a new slot (SMS again) or the request closed."""
    user = actor()
    pickup = get_pickup(ref, user, for_update=request.method == "POST")
    closed = _closed(pickup)
    if closed is not None:
        return closed
    if request.method == "GET":
        values = {
            "visit_key": secrets.token_urlsafe(12),
            "then": "reschedule",
            "day": add_working_days(today_vn(), 1).isoformat(),
            "slot": pickup.slot,
        }
        return _not_collected_page(pickup, values, {})
    fields = ("visit_key", "visited_at", "reason", "note", "then", "day", "slot")
    values = {name: request.form.get(name, "").strip() for name in fields}
    payload: dict[str, Any] = {
        "outcome": "not_collected",
        **{
            name: values[name]
            for name in ("visit_key", "visited_at", "reason", "note")
            if values[name]
        },
    }
    if values["then"] not in THEN_CHOICES:
        errors = {"then": [N_("Choose a new slot, or close the request.")]}
        return _not_collected_page(pickup, values, errors, 422)
    if values["then"] == "reschedule":
        payload.update({name: values[name] for name in ("day", "slot")})
        if not values["day"] or not values["slot"]:
            errors = {
                name: [N_("Choose the new day and slot, or close the request.")]
                for name in ("day", "slot")
                if not values[name]
            }
            return _not_collected_page(pickup, values, errors, 422)
    try:
        outcome = operations.record_visit(pickup, _load(payload), user)
    except (ValidationError, DomainError) as error:
        discard()
        pickup = get_pickup(pickup.reference, user)
        return _not_collected_page(pickup, values, _unprefixed(error), 422)
    if not outcome.created:
        flash(_("This visit was already recorded."), "error")
    elif values["then"] == "reschedule":
        flash(
            _(
                "Pickup %(ref)s moved to %(slot)s on %(day)s; the citizen gets an SMS.",
                ref=pickup.reference,
                slot=words()["slots"][pickup.slot],
                day=pickup.day.strftime("%d/%m/%Y"),
            ),
            "success",
        )
    else:
        flash(_("Pickup %(ref)s is closed: not collected.", ref=pickup.reference), "success")
    return redirect(url_for(".index"), 303)


def _not_collected_page(pickup: Pickup, values: dict[str, str], errors: dict, status: int = 200):
    page = render_template(
        "pickups/not_collected.html",
        pickup=pickup,
        values=values,
        errors=errors,
        today=today_vn(),
        words=words(),
    )
    return page, status


# Shared ----------------------------------------------------------------------------------------


def _closed(pickup: Pickup):
    """A request that takes no visit any more: its page, saying why (a reload of a collected
    visit lands there too)."""
    if pickup.state in lifecycle.OPEN_STATES:
        return None
    if pickup.state == "collected" and pickup.dossier is not None:
        message = _(
            "This pickup was already collected: dossier %(code)s.", code=pickup.dossier.code
        )
    else:
        state = words()["states"][pickup.state]
        message = _("This pickup is closed (%(state)s): nothing was recorded.", state=state)
    flash(message, "error")
    return redirect(url_for(".pickup", ref=pickup.reference), 303)


def _collectable_forms(procedure: Procedure | None) -> list[str]:
    """The procedure's service forms a postman can collect (two-way, send-only)."""
    forms = procedure.service_forms if procedure else []
    return [form for form in forms if form in lifecycle.SERVICE_FORMS]


def _load(payload: dict[str, Any]) -> dict[str, Any]:
    return VisitIn().load(payload)


def _unprefixed(error: ValidationError | DomainError) -> dict[str, list[str]]:
    """The API's error names ("intake.applicant.name") as the form's ("applicant.name")."""
    return {
        name.removeprefix(INTAKE_PREFIX): messages for name, messages in form_errors(error).items()
    }
