"""The pickup pages of the office and the hotline: the call form, the day's list with its
assignments and the printable route sheet (a request's page, with its change and cancellation,
is in `request_views.py`).

A hotline operator records a call (`/pickups/new`) through the API's load schema and the same
operation (`operations.request_pickup`); the office's clerks see the day's pickups by slot and
assign each to one of the office's postmen (`operations.assign_pickup`, the version read in a
hidden field: a change made meanwhile is told on the page, never a 500); postmen see theirs
(the visit pages are in `visit_views.py`). Every page that shows callers' names, phones and
addresses is audited like the API's reads. Scope is the visibility rule of the queries: another
office's request answers 404 as a missing one.

The URL rules are in `blueprint.py`. The request is the unit of work: these views never commit.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from marshmallow import ValidationError

from tracker.accounts.auth import actor
from tracker.accounts.models import User
from tracker.accounts.queries import find_user_by_name
from tracker.audit.operations import record_audit
from tracker.calendar import add_working_days, today_vn
from tracker.catalogue.models import Commune, Office, Procedure
from tracker.catalogue.queries import all_by_code, find_office, list_offices
from tracker.database import writes
from tracker.errors import DomainError, StaleVersion
from tracker.i18n import N_
from tracker.pages import (
    form_errors,
    form_integer,
    page_roles,
    remember_sent_form,
    safe_next,
    sent_form,
    translate,
)
from tracker.pickups import lifecycle, operations, queries
from tracker.pickups.models import Pickup
from tracker.pickups.queries import get_pickup, pickups_of_day
from tracker.pickups.schemas import PickupCreateIn
from tracker.unit_of_work import discard

# Who opens which page (README, Pages and the roles table).
LIST_ROLES = ("clerk", "postman", "hotline", "manager", "admin")
CALL_ROLES = ("hotline", "admin")
ASSIGN_ROLES = ("clerk", "admin")
VISIT_ROLES = ("postman", "clerk", "admin")
CHANGE_ROLES = ("hotline", "clerk", "admin")
ROUTE_ROLES = ("clerk", "postman", "admin")
# Who works within one office, and sees only its requests.
OFFICE_ROLES = ("clerk", "postman")
# The call form's fields, by payload path of POST /api/v1/pickups.
CALL_FIELDS = (
    "caller_name",
    "phone",
    "address.street",
    "address.commune_code",
    "service_form",
    "procedure_code",
    "day",
    "slot",
    "note",
)
# The session's memory of sent call forms (an operator reloads the last answer or two).
SENT_KIND = "pickup_calls_sent"
VERSION_DIGITS = 19


# The day's list -------------------------------------------------------------------------------


@writes
@page_roles(*LIST_ROLES)
def index():
    """The pickups of a day (today unless ?day=) in the user's scope, by slot: a postman's own
    and the office's unassigned ones; the office's (an admin chooses one) with their
    assignment; every office's for the hotline."""
    user = actor()
    errors: dict[str, list[str]] = {}
    day = _day_arg(errors)
    office = _office_arg(user)
    pickups = [p for p in pickups_of_day(user, day) if office is None or p.office_id == office.id]
    _audit_list(user, pickups)
    mine, open_to_take = [], []
    if user.role == "postman":
        mine = [p for p in pickups if p.postman_id == user.id]
        open_to_take = [p for p in pickups if p.postman_id is None and p.state == "requested"]
    can_assign = user.role in ASSIGN_ROLES
    postmen = queries.office_postmen({p.office_id for p in pickups}) if can_assign else {}
    page = render_template(
        "pickups/list.html",
        day=day,
        today=today_vn(),
        office=office,
        offices=[] if user.role in OFFICE_ROLES else list_offices({"active": True}),
        pickups=pickups,
        mine=mine,
        open_to_take=open_to_take,
        postmen=postmen,
        route_postmen=_route_postmen(pickups, postmen),
        can_assign=can_assign,
        can_visit=user.role in VISIT_ROLES,
        errors=errors,
        words=words(),
    )
    return page, 422 if errors else 200


def _day_arg(errors: dict[str, list[str]]) -> date:
    """?day= as the day picker sends it (YYYY-MM-DD), else today; a wrong one is said beside
    the picker and today is shown."""
    text = request.args.get("day", "").strip()
    if not text:
        return today_vn()
    try:
        day = date.fromisoformat(text[:10]) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        errors["day"] = [N_("Choose a day (day/month/year).")]
        return today_vn()
    return day


def _office_arg(user: User) -> Office | None:
    """The office whose list is shown: a clerk's or a postman's own; the one a province-wide
    user (hotline, manager, admin) chose (?office=), else every office."""
    if user.role in OFFICE_ROLES:
        return user.office
    code = request.args.get("office", "").strip()[:40]
    if not code or "\x00" in code:
        return None
    office = find_office(code)
    if office is None:
        abort(404)
    return office


def _audit_list(user: User, pickups: list[Pickup]) -> None:
    references = [pickup.reference for pickup in pickups]
    record_audit(user.id, "pickup.list", "pickup", "*", after={"references": references})


def _route_postmen(pickups: list[Pickup], postmen: dict[int, list[User]]) -> list[User]:
    """The postmen who have a pickup of the list: a route sheet each."""
    assigned = {p.postman_id for p in pickups if p.postman_id is not None}
    return [user for users in postmen.values() for user in users if user.id in assigned]


def words() -> dict[str, dict[str, str]]:
    """The pickups' coded lists (slots, states, visit reasons) in the reader's language."""
    english = str(get_locale()) == "en"

    def pick(table: dict[str, Any]) -> dict[str, str]:
        return {code: row.label_en if english else row.label_vi for code, row in table.items()}

    return {
        "slots": pick(lifecycle.SLOTS),
        "states": pick(lifecycle.STATES),
        "reasons": pick(lifecycle.REASONS),
    }


# Assignment -----------------------------------------------------------------------------------


@page_roles(*ASSIGN_ROLES)
def assign(ref: str):
    """Assign a request to one of its office's postmen, another one, or nobody; back to the
    list it was sent from, with what happened said on it."""
    user = actor()
    pickup = get_pickup(ref, user, for_update=True)
    back = safe_next(request.form.get("next")) or url_for(".index", day=pickup.day.isoformat())
    name = request.form.get("postman", "").strip()[:80]
    version = form_integer(request.form.get("version", "").strip(), grouped=False)
    if not isinstance(version, int):
        flash(_("Open the list again, then assign."), "error")
        return redirect(back, 303)
    try:
        postman = operations.find_postman(name, pickup.office) if name else None
        operations.assign_pickup(pickup, postman, version, user)
    except StaleVersion:
        discard()
        flash(
            _(
                "Someone else changed pickup %(ref)s after you opened the list. It is shown as "
                "it is now: check it, then assign again.",
                ref=pickup.reference,
            ),
            "error",
        )
    except DomainError as error:
        discard()
        messages = [message for values in form_errors(error).values() for message in values]
        flash(_("Pickup %(ref)s was not assigned: %(why)s", ref=ref, why=_join(messages)), "error")
    else:
        if postman is None:
            flash(_("Pickup %(ref)s is no longer assigned.", ref=pickup.reference), "success")
        else:
            who = postman.full_name or postman.username
            flash(
                _("Pickup %(ref)s assigned to %(who)s.", ref=pickup.reference, who=who), "success"
            )
    return redirect(back, 303)


def _join(messages: list[str]) -> str:
    return "; ".join(translate(message) for message in messages)


# The hotline's call form ---------------------------------------------------------------------


@page_roles(*CALL_ROLES)
def new_call():
    """The call form (GET), and the call recorded (POST): its page with the reference."""
    if request.method == "POST":
        return _record_call()
    values = {
        "form_id": secrets.token_urlsafe(12),
        "service_form": "two_way",
        "slot": "morning",
        "day": add_working_days(today_vn(), 1).isoformat(),
    }
    return _call_page(values, {})


def _record_call():
    values = {name: request.form.get(name, "").strip() for name in CALL_FIELDS}
    values["form_id"] = request.form.get("form_id", "").strip()[:40]
    recorded = sent_form(SENT_KIND, values["form_id"])
    if recorded:
        flash(_("This call was already recorded: pickup %(ref)s.", ref=recorded), "error")
        return redirect(url_for(".pickup", ref=recorded), 303)
    try:
        data = PickupCreateIn().load(_call_payload(values))
        created = operations.request_pickup(data, actor())
    except (ValidationError, DomainError) as error:
        # Nothing of a refused call may stay.
        discard()
        return _call_page(values, form_errors(error), 422)
    # The answer is a 303 to the request's page.
    remember_sent_form(SENT_KIND, values["form_id"], created.reference, status=303)
    flash(
        _(
            "Call recorded: pickup %(ref)s, for %(office)s. The caller gets an SMS with the "
            "reference and the slot.",
            ref=created.reference,
            office=created.office.name,
        ),
        "success",
    )
    return redirect(url_for(".pickup", ref=created.reference), 303)


def _call_payload(values: dict[str, str]) -> dict[str, Any]:
    """The API's JSON payload from the form: an empty field is left out, as a client would."""
    payload: dict[str, Any] = {}
    for name in CALL_FIELDS:
        if not values[name]:
            continue
        if name.startswith("address."):
            payload.setdefault("address", {})[name.removeprefix("address.")] = values[name]
        else:
            payload[name] = values[name]
    payload.setdefault("address", {})
    return payload


def _call_page(values: dict[str, str], errors: dict[str, list[str]], status: int = 200):
    page = render_template(
        "pickups/new.html",
        values=values,
        errors=errors,
        communes=commune_choices(),
        procedures=pickup_procedures(),
        service_forms=lifecycle.SERVICE_FORMS,
        today=today_vn(),
        words=words(),
    )
    return page, status


def commune_choices() -> list[tuple[str, str]]:
    """The communes in force today, by name, for an address's list to pick from."""
    today = today_vn()
    communes = sorted(
        (c for c in all_by_code(Commune) if c.is_active_on(today)), key=lambda c: c.name
    )
    return [(c.code, f"{c.name} ({c.code})") for c in communes]


def pickup_procedures() -> list[Procedure]:
    """The procedures in force that a postman can collect (two-way or send-only), for a list
    to pick from."""
    today = today_vn()
    return [
        p
        for p in all_by_code(Procedure)
        if p.is_active_on(today) and set(p.service_forms) & set(lifecycle.SERVICE_FORMS)
    ]


# The route sheet ------------------------------------------------------------------------------


@writes
@page_roles(*ROUTE_ROLES)
def route_sheet():
    """The day's round on paper (A4): a postman's open pickups (or the office's, with no
    postman chosen) by slot, then commune, with a column for the citizen's signature."""
    user = actor()
    errors: dict[str, list[str]] = {}
    day = _day_arg(errors)
    postman = _route_postman(user)
    office = postman.office if postman is not None else _office_arg(user)
    if office is None:
        abort(404)
    slot_rank = {code: rank for rank, code in enumerate(lifecycle.SLOTS)}
    rows = sorted(
        (
            p
            for p in pickups_of_day(user, day)
            if p.office_id == office.id
            and p.state in lifecycle.OPEN_STATES
            and (postman is None or p.postman_id == postman.id)
        ),
        key=lambda p: (slot_rank[p.slot], p.commune.name, p.street, p.reference),
    )
    _audit_list(user, rows)
    page = render_template(
        "pickups/route.html",
        day=day,
        office=office,
        postman=postman,
        rows=rows,
        errors=errors,
        words=words(),
    )
    return page, 422 if errors else 200


def _route_postman(user: User) -> User | None:
    """The postman whose sheet it is: a postman's own; for a clerk one of the office's
    (?postman=user name; another office's answers 404), or none (the whole office)."""
    if user.role == "postman":
        return user
    name = request.args.get("postman", "").strip()[:80]
    if not name:
        return None
    postman = find_user_by_name(name)
    if postman is None or postman.role != "postman":
        abort(404)
    if user.role == "clerk" and postman.office_id != user.office_id:
        abort(404)
    return postman
