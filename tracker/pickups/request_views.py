"""A request's page, and what the hotline or the office does from it when a citizen calls back:
move the slot (correcting the phone, the address or the note on the way), or cancel the request.

Both forms build the payload of `PATCH /api/v1/pickups/{ref}` from what differs from the request
as it was read, load it with the API's schema (`PickupPatchIn`) and call the same operation
(`operations.update_pickup`): the same rules, the same SMS when the slot moves. Each carries the
version read in a hidden field: a change made meanwhile is told on the page, never a 500; a
refused form is shown again with the reasons beside its fields and nothing written.

The URL rules are in `blueprint.py`. The request is the unit of work: these views never commit.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.calendar import today_vn
from tracker.database import writes
from tracker.errors import DomainError, StaleVersion
from tracker.i18n import N_
from tracker.pages import form_errors, form_integer, page_roles
from tracker.pickups import lifecycle, operations, queries
from tracker.pickups.models import Pickup
from tracker.pickups.queries import get_pickup, list_visits
from tracker.pickups.schemas import PickupPatchIn
from tracker.pickups.views import (
    ASSIGN_ROLES,
    CHANGE_ROLES,
    LIST_ROLES,
    VISIT_ROLES,
    commune_choices,
    words,
)
from tracker.unit_of_work import discard

# The change form's fields, by payload path of PATCH /api/v1/pickups/{ref}.
CHANGE_FIELDS = ("day", "slot", "phone", "address.street", "address.commune_code", "note")
CANCEL_FIELDS = ("note", "confirm")

Form = tuple[dict[str, str], dict[str, list[str]]]


# The page ------------------------------------------------------------------------------------


@writes
@page_roles(*LIST_ROLES)
def pickup(ref: str):
    """One request: the call, its state, its assignment, the visits and the dossier made; for
    the hotline and the office, while it is open, its change and its cancellation."""
    user = actor()
    return _page(user, get_pickup(ref, user))


def _page(user: User, found: Pickup, *, change: Form | None = None, cancel: Form | None = None):
    """The request's page (audited: it shows the caller's details); `change` or `cancel` is a
    refused form shown again (422) with what was typed and why."""
    record_audit(user.id, "pickup.view", "pickup", found.reference)
    open_ = found.state in lifecycle.OPEN_STATES
    can_assign = user.role in ASSIGN_ROLES and open_
    can_change = user.role in CHANGE_ROLES and open_
    change_values, change_errors = change or (_as_read(found), {})
    cancel_values, cancel_errors = cancel or ({"version": str(found.version)}, {})
    page = render_template(
        "pickups/pickup.html",
        pickup=found,
        visits=list_visits(found),
        postmen=queries.office_postmen({found.office_id}) if can_assign else {},
        can_assign=can_assign,
        can_visit=user.role in VISIT_ROLES and open_,
        can_change=can_change,
        can_open_dossier=user.role in ("clerk", "admin"),
        communes=commune_choices() if can_change else [],
        today=today_vn(),
        change=change_values,
        change_errors=change_errors,
        cancel=cancel_values,
        cancel_errors=cancel_errors,
        words=words(),
    )
    return page, 422 if change or cancel else 200


def _as_read(found: Pickup) -> dict[str, str]:
    """The change form filled with the request as it is, and the version read."""
    return {
        "version": str(found.version),
        "day": found.day.isoformat(),
        "slot": found.slot,
        "phone": found.phone,
        "address.street": found.street,
        "address.commune_code": found.commune.code,
        "note": found.note or "",
    }


# Change the slot (and details) ---------------------------------------------------------------


@page_roles(*CHANGE_ROLES)
def change(ref: str):
    """A new day or slot (the citizen gets an SMS), a corrected phone, address or note."""
    user, found, values = _sent(ref, CHANGE_FIELDS)
    if found.state not in lifecycle.OPEN_STATES:
        return _closed(found)
    payload = _changes(found, values)
    if len(payload) == 1:
        flash(_("Nothing was changed: the form was the same as the request."), "error")
        return redirect(url_for(".pickup", ref=found.reference), 303)
    slot_before, phone_before = (found.day, found.slot), found.phone
    try:
        operations.update_pickup(found, PickupPatchIn().load(payload), user)
    except StaleVersion:
        return _stale(found)
    except (ValidationError, DomainError) as error:
        discard()  # nothing of a refused change stays
        found = get_pickup(ref, user)
        return _page(user, found, change=(values, _beside(error, CHANGE_FIELDS)))
    if (found.day, found.slot) != slot_before:
        message = _(
            "Pickup %(ref)s moved to %(slot)s on %(day)s; the citizen gets an SMS.",
            ref=found.reference,
            slot=words()["slots"][found.slot],
            day=found.day.strftime("%d/%m/%Y"),
        )
    elif found.phone != phone_before:
        message = _(
            "Pickup %(ref)s is changed; the new phone number gets an SMS with the request.",
            ref=found.reference,
        )
    else:
        message = _("Pickup %(ref)s is changed.", ref=found.reference)
    flash(message, "success")
    return redirect(url_for(".pickup", ref=found.reference), 303)


def _changes(found: Pickup, values: dict[str, str]) -> dict[str, Any]:
    """The PATCH payload: the version read and what the form changed (a field left as it was
    is left out, as a client would, so that an unchanged slot is not checked again)."""
    read = _as_read(found)
    payload: dict[str, Any] = {"version": form_integer(values["version"], grouped=False)}
    for name in ("day", "slot", "phone"):
        if values[name] != read[name]:
            payload[name] = values[name]
    if values["note"] != read["note"]:
        payload["note"] = values["note"] or None
    address = ("address.street", "address.commune_code")
    if any(values[name] != read[name] for name in address):
        payload["address"] = {name.removeprefix("address."): values[name] for name in address}
    return payload


# Cancel the request --------------------------------------------------------------------------


@page_roles(*CHANGE_ROLES)
def cancel(ref: str):
    """The citizen no longer wants the visit: the request is cancelled (a note may say why)."""
    user, found, values = _sent(ref, CANCEL_FIELDS)
    if found.state not in lifecycle.OPEN_STATES:
        return _closed(found)
    if values["confirm"] != "yes":
        errors = {"confirm": [N_("Tick the box to confirm that the citizen cancels.")]}
        return _page(user, found, cancel=(values, errors))
    payload: dict[str, Any] = {
        "version": form_integer(values["version"], grouped=False),
        "state": "cancelled",
    }
    if values["note"]:
        payload["note"] = values["note"]
    try:
        operations.update_pickup(found, PickupPatchIn().load(payload), user)
    except StaleVersion:
        return _stale(found)
    except (ValidationError, DomainError) as error:
        discard()
        found = get_pickup(ref, user)
        return _page(user, found, cancel=(values, _beside(error, CANCEL_FIELDS)))
    flash(_("Pickup %(ref)s is cancelled: no postman will go.", ref=found.reference), "success")
    return redirect(url_for(".pickup", ref=found.reference), 303)


# Shared ----------------------------------------------------------------------------------------


def _sent(ref: str, names: tuple[str, ...]) -> tuple[User, Pickup, dict[str, str]]:
    """Who sends the form, the request (locked until the commit) and what the form says."""
    user = actor()
    found = get_pickup(ref, user, for_update=True)
    values = {name: request.form.get(name, "").strip() for name in (*names, "version")}
    return user, found, values


def _closed(found: Pickup):
    """A request no longer open: its page, saying so (nothing was written)."""
    state = words()["states"][found.state]
    flash(
        _(
            "Pickup %(ref)s is closed (%(state)s): it can no longer be changed or cancelled.",
            ref=found.reference,
            state=state,
        ),
        "error",
    )
    return redirect(url_for(".pickup", ref=found.reference), 303)


def _stale(found: Pickup):
    """Someone changed the request after the form was opened: its page as it is now."""
    reference = found.reference
    discard()
    flash(
        _(
            "Someone else changed pickup %(ref)s after you opened it. It is shown as it is now: "
            "check it, then change it again.",
            ref=reference,
        ),
        "error",
    )
    return redirect(url_for(".pickup", ref=reference), 303)


def _beside(error: ValidationError | DomainError, names: tuple[str, ...]) -> dict[str, list]:
    """The errors by form field; those of a field the form does not have (the procedure,
    checked again on a new day; a version that is no number) go to the form's summary."""
    errors: dict[str, list] = {}
    for name, messages in form_errors(error).items():
        errors.setdefault(name if name in names else "form", []).extend(messages)
    return errors
