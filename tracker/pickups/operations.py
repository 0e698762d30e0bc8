"""The rules for pickup requests. Operations flush, never commit: the request owns the
transaction, so a refused request leaves nothing written. Every state change goes through
`change_state`; every change is audited.

A request goes to the office that serves its commune on its day (the catalogue's service areas);
a new address or a new day routes it again. The citizen is told the slot by SMS when the request
is made and when it moves (`signals.pickup_scheduled`, heard by the notifications).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.calendar import VN_TZ, is_working_day, local_date, utcnow
from tracker.catalogue.models import Commune, Office, Procedure
from tracker.catalogue.queries import find_commune, serving_office
from tracker.dossiers.operations import check_procedure
from tracker.errors import Conflict, Phrase, StaleVersion, TransitionNotAllowed, ValidationFailed
from tracker.extensions import db
from tracker.pickups import lifecycle, signals
from tracker.pickups.models import Pickup
from tracker.pickups.references import new_reference

log = logging.getLogger(__name__)

COMMUNE_FIELD = "address.commune_code"
# Details a PATCH may change on an open request (the address and the schedule apart).
DETAILS = ("caller_name", "phone", "service_form", "note")
# A reference drawn twice in a row is already unlikely (40 bits); five times, a broken generator.
REFERENCE_TRIES = 5


def request_pickup(data: dict[str, Any], actor: User) -> Pickup:
    """Record a call: the request, routed to the office that serves the commune on the day,
    with a new reference; the citizen gets an SMS confirming the slot."""
    now = utcnow()
    _check_slot(data["day"], data["slot"], now)
    commune, office = _route(data["address"]["commune_code"], data["day"])
    procedure = _procedure(data.get("procedure_code"), data["service_form"], data["day"])
    pickup = Pickup(
        reference=_unused_reference(),
        state=lifecycle.INITIAL_STATE,
        caller_name=data["caller_name"],
        phone=data["phone"],
        street=data["address"]["street"],
        commune=commune,
        office=office,
        service_form=data["service_form"],
        procedure=procedure,
        day=data["day"],
        slot=data["slot"],
        note=data.get("note"),
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
        state_changed_at=now,
    )
    db.session.add(pickup)
    db.session.flush()
    record_audit(actor.id, "pickup.create", "pickup", pickup.reference, after=snapshot(pickup))
    signals.pickup_scheduled.send(pickup, kind="requested")
    log.info("pickup %s requested for office %s", pickup.reference, office.code)
    return pickup


def update_pickup(pickup: Pickup, changes: dict[str, Any], actor: User) -> Pickup:
    """Change an open request: details (a new phone gets the SMS of the request), the address
    (routed again), the day or slot (routed again, SMS again), or cancel it (`state: cancelled`,
    with a note at most).
    `changes["version"]` must be the version the caller read. Everything is checked before
    anything is set."""
    _check_version(pickup, changes.pop("version"))
    cancel = changes.pop("state", None) == "cancelled"
    if cancel and set(changes) - {"note"}:
        raise ValidationFailed.field("state", "cancel alone (a note may go with it)")
    if pickup.state not in lifecycle.OPEN_STATES:
        _refuse_state(pickup, "cancelled" if cancel else "changed")
    before = snapshot(pickup)
    values = _checked_changes(pickup, changes)
    moved = (values["day"], values["slot"]) != (pickup.day, pickup.slot)
    new_phone = values.get("phone", pickup.phone) != pickup.phone
    for name, value in values.items():
        setattr(pickup, name, value)
    if cancel:
        change_state(pickup, "cancelled", actor)  # one flush, one new version, with the note
    else:
        db.session.flush()
    after = snapshot(pickup)
    if _details(after) != _details(before):
        record_audit(
            actor.id, "pickup.update", "pickup", pickup.reference, before=before, after=after
        )
    if moved:  # (a cancellation changes a note at most)
        signals.pickup_scheduled.send(pickup, kind="rescheduled")
    elif new_phone:  # the first SMS went to a wrong number: the right one learns of the request
        signals.pickup_scheduled.send(pickup, kind="requested")
    return pickup


def _checked_changes(pickup: Pickup, changes: dict[str, Any]) -> dict[str, Any]:
    """The request's new values (its schedule, route and details), each checked as at the
    call; the route and procedure are checked again on a new day."""
    day, slot = changes.get("day", pickup.day), changes.get("slot", pickup.slot)
    values: dict[str, Any] = {"day": day, "slot": slot}
    if (day, slot) != (pickup.day, pickup.slot):
        _check_slot(day, slot, utcnow())
    address = changes.get("address")
    if address is not None or day != pickup.day:
        code = address["commune_code"] if address else pickup.commune.code
        values["commune"], values["office"] = _route(code, day)
    if address is not None:
        values["street"] = address["street"]
    if {"procedure_code", "service_form"} & set(changes) or day != pickup.day:
        code = changes.get("procedure_code", pickup.procedure.code if pickup.procedure else None)
        service_form = changes.get("service_form", pickup.service_form)
        values["procedure"] = _procedure(code, service_form, day)
    values.update((name, changes[name]) for name in DETAILS if name in changes)
    return values


def _details(state: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key not in ("state", "version")}


def change_state(pickup: Pickup, to_state: str, actor: User | None) -> None:
    """Move `pickup` to `to_state` if the state table allows it (409 listing what may follow),
    audited."""
    if not lifecycle.is_allowed(pickup.state, to_state):
        _refuse_state(pickup, to_state)
    before = {"state": pickup.state, "version": pickup.version}
    pickup.state = to_state
    pickup.state_changed_at = utcnow()
    db.session.flush()
    after = {"state": pickup.state, "version": pickup.version}
    actor_id = actor.id if actor else None
    record_audit(actor_id, "pickup.state", "pickup", pickup.reference, before=before, after=after)
    log.info("pickup %s: %s -> %s", pickup.reference, before["state"], to_state)


def snapshot(pickup: Pickup) -> dict[str, Any]:
    """The audited state of a request, JSON-ready."""
    return {
        "caller_name": pickup.caller_name,
        "phone": pickup.phone,
        "street": pickup.street,
        "commune": pickup.commune.code,
        "office": pickup.office.code,
        "service_form": pickup.service_form,
        "procedure": pickup.procedure.code if pickup.procedure else None,
        "day": pickup.day.isoformat(),
        "slot": pickup.slot,
        "note": pickup.note,
        "state": pickup.state,
        "version": pickup.version,
    }


def _check_slot(day: date, slot: str, now: datetime) -> None:
    """The slot is still ahead (a slot is past once it has ended, Vietnam time) on a working
    day (weekends and public holidays off, as the post's counters)."""
    today = local_date(now)
    if day < today:
        raise ValidationFailed.field("day", "must be today or a later day")
    end = lifecycle.SLOTS[slot].end
    if day == today and now.astimezone(VN_TZ).time() >= end:
        message = Phrase("this slot of today is past (it ended at %(end)s)", end=f"{end:%H:%M}")
        raise ValidationFailed.field("slot", message)
    if not is_working_day(day):
        raise ValidationFailed.field(
            "day", Phrase("%(day)s is a day off (weekend or public holiday)", day=day.isoformat())
        )


def _route(commune_code: str, day: date) -> tuple[Commune, Office]:
    """The commune and the office that serves it on `day`; 422 naming the commune otherwise."""
    commune = find_commune(commune_code)
    if commune is None or not commune.is_active_on(day):
        raise ValidationFailed.field(
            COMMUNE_FIELD, Phrase("no commune with code %(code)s", code=commune_code)
        )
    office = serving_office(commune, day)
    if office is None:
        message = "no office serves commune %(code)s on %(day)s"
        raise ValidationFailed.field(
            COMMUNE_FIELD, Phrase(message, code=commune_code, day=day.isoformat())
        )
    return commune, office


def _procedure(code: str | None, service_form: str, day: date) -> Procedure | None:
    return None if code is None else check_procedure(code, service_form, day)


def _unused_reference() -> str:
    for _ in range(REFERENCE_TRIES):
        reference = new_reference()
        taken = db.session.scalar(select(Pickup.id).where(Pickup.reference == reference))
        if taken is None:
            return reference
    raise RuntimeError("no free pickup reference after several draws")


def _check_version(pickup: Pickup, version: int) -> None:
    StaleVersion.check("pickup", pickup.reference, pickup.version, version)


def _refuse_state(pickup: Pickup, wanted: str) -> None:
    allowed = lifecycle.allowed_next(pickup.state)
    error = TransitionNotAllowed if wanted in lifecycle.STATES else Conflict
    raise error(
        f"pickup {pickup.reference} is {pickup.state}: it cannot be {wanted}",
        fields={"state": [f"allowed after {pickup.state}: {', '.join(allowed) or 'none'}"]},
        extra={"current_status": pickup.state, "allowed": allowed},
    )
