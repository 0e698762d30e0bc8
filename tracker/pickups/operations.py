"""The rules for pickup requests. Operations flush, never commit: the request owns the
transaction, so a refused request leaves nothing written. Every state change goes through
`change_state`; every change is audited.

A request goes to the office that serves its commune on its day (the catalogue's service areas);
a new address or a new day routes it again (and drops its postman when the office changes). The
citizen is told the slot by SMS when the request is made and when it moves
(`signals.pickup_scheduled`, heard by the notifications).

The office assigns a request to one of its postmen (`assign_pickup`); the postman records the
visit (`record_visit`): collected, the dossier is made by the counter's intake
(`tracker.dossiers.operations.create_dossier`) through channel hotline 1022; not collected, a
coded reason and a new slot or the request closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.calendar import VN_TZ, is_working_day, local_date, utcnow
from tracker.catalogue.models import Channel, Commune, Office, Procedure
from tracker.catalogue.queries import find_commune, find_procedure, serving_office
from tracker.dossiers.models import Dossier
from tracker.dossiers.operations import FUTURE_TOLERANCE, check_procedure, create_dossier
from tracker.errors import (
    Conflict,
    DomainError,
    Phrase,
    StaleVersion,
    TransitionNotAllowed,
    ValidationFailed,
)
from tracker.extensions import db
from tracker.pickups import lifecycle, signals
from tracker.pickups.models import Pickup, PickupVisit
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
    # A postman serves their own office: routed to another, the request is on its list again.
    rerouted = values.get("office", pickup.office) is not pickup.office
    for name, value in values.items():
        setattr(pickup, name, value)
    if rerouted:
        pickup.postman = None
    if cancel:
        change_state(pickup, "cancelled", actor)  # one flush, one new version, with the note
    elif rerouted and pickup.state == "assigned":
        change_state(pickup, lifecycle.INITIAL_STATE, actor)
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
        "postman": pickup.postman.username if pickup.postman else None,
        "dossier": pickup.dossier.code if pickup.dossier else None,
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


# Assignment and visits ------------------------------------------------------------------------


@dataclass
class VisitOutcome:
    """A visit recorded (`created`) or found again (a repeat: no secret the second time)."""

    visit: PickupVisit
    dossier: Dossier | None
    secret: str | None
    created: bool


def assign_pickup(pickup: Pickup, postman: User | None, version: int, actor: User) -> Pickup:
    """Assign an open request to an active postman of its office (422 `postman` otherwise),
    re-assign it, or unassign it (`None`: back to `requested`, on the office's list).
    `version` must be the version the caller read (409 otherwise). Audited."""
    _check_version(pickup, version)
    target = "assigned" if postman is not None else lifecycle.INITIAL_STATE
    if pickup.state not in lifecycle.OPEN_STATES:
        _refuse_state(pickup, target)
    if postman is not None:
        check_postman(postman, pickup.office)
    if pickup.postman_id == (postman.id if postman else None):
        return pickup  # already so: nothing changes, no new version
    before = {"postman": pickup.postman.username if pickup.postman else None}
    pickup.postman = postman
    if pickup.state != target:
        change_state(pickup, target, actor)
    else:
        db.session.flush()
    after = {"postman": postman.username if postman else None, "version": pickup.version}
    record_audit(actor.id, "pickup.assign", "pickup", pickup.reference, before=before, after=after)
    return pickup


def check_postman(postman: User, office: Office) -> None:
    """`postman` is an active postman of `office`; else 422 naming the field `postman`."""
    if postman.role != "postman" or not postman.active or postman.office_id != office.id:
        raise _not_a_postman(postman.username, office)


def find_postman(username: str, office: Office) -> User:
    """The active postman of `office` called `username`; an unknown name answers as a user of
    another office or role (422 `postman`), so the field tells nothing of other offices."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise _not_a_postman(username[:80], office)
    check_postman(user, office)
    return user


def _not_a_postman(name: str, office: Office) -> ValidationFailed:
    message = "%(name)s is not an active postman of office %(office)s"
    return ValidationFailed.field("postman", Phrase(message, name=name, office=office.code))


def record_visit(pickup: Pickup, data: dict[str, Any], actor: User) -> VisitOutcome:
    """Record the postman's visit to an open request (`requested` or `assigned`).

    `data`: `outcome` (`collected` | `not_collected`), `visited_at` (default now; not in the
    future, not before the call), `visit_key` (the client's key of this visit), `note`;
    collected: `intake`, the intake's data (`DossierCreateIn` loaded: applicant, documents,
    procedure_code, service_form, postal_item_number, fee_vnd, delivery_address, note), gaps
    filled from the request (`visit_intake`); not collected: `reason` (`other` with a `note`)
    and a new `day` + `slot`, or neither (the request is closed, `failed`).

    The caller holds the request's row lock (`queries.get_pickup(..., for_update=True)`): a visit
    recorded again (its `visit_key` seen, or a second `collected` of a collected request) answers
    the first one, `created=False`, without the secret. A postman who records a visit takes the
    request. Intake errors name their field under `intake.`; nothing is written on an error.
    """
    earlier = _earlier_visit(pickup, data)
    if earlier is not None:
        return VisitOutcome(earlier, earlier.dossier, None, created=False)
    outcome = data["outcome"]
    _check_visit_fields(data)
    if pickup.state not in lifecycle.OPEN_STATES:
        _refuse_state(pickup, "collected" if outcome == "collected" else "failed")
    now = utcnow()
    visited_at = data.get("visited_at") or now
    if visited_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed.field("visited_at", "must not be in the future")
    if visited_at < pickup.created_at:
        raise ValidationFailed.field("visited_at", "must not be before the call was recorded")
    visit = PickupVisit(
        pickup=pickup,
        actor_id=actor.id,
        outcome=outcome,
        note=data.get("note"),
        visited_at=visited_at,
        recorded_at=now,
        visit_key=data.get("visit_key"),
    )
    dossier = secret = None
    if outcome == "collected":
        dossier, secret = _collect(pickup, visit, data.get("intake") or {}, actor)
    else:
        _not_collected(pickup, visit, data, actor)
    record_audit(actor.id, "pickup.visit", "pickup", pickup.reference, after=visit_snapshot(visit))
    if dossier is not None:
        signals.pickup_collected.send(pickup, dossier=dossier, secret=secret)
    log.info("pickup %s visited: %s", pickup.reference, outcome)
    return VisitOutcome(visit, dossier, secret, created=True)


def _earlier_visit(pickup: Pickup, data: dict[str, Any]) -> PickupVisit | None:
    visits = select(PickupVisit).where(PickupVisit.pickup_id == pickup.id)
    if data.get("visit_key"):
        seen = db.session.scalar(visits.where(PickupVisit.visit_key == data["visit_key"]))
        if seen is not None:
            return seen
    if data["outcome"] == "collected" and pickup.state == "collected":
        return db.session.scalar(visits.where(PickupVisit.outcome == "collected"))
    return None


def _check_visit_fields(data: dict[str, Any]) -> None:
    """What goes with each outcome (the API's schema says so too; pages call this directly)."""
    if data["outcome"] == "collected":
        for name in ("reason", "day", "slot"):
            if data.get(name) is not None:
                raise ValidationFailed.field(name, "only when the dossier was not collected")
        return
    if data.get("intake"):
        raise ValidationFailed.field("intake", "only when the dossier was collected")
    reason = data.get("reason")
    if reason not in lifecycle.REASONS:
        raise ValidationFailed.field("reason", "required when the dossier was not collected")
    if reason == lifecycle.OTHER_REASON and not (data.get("note") or "").strip():
        raise ValidationFailed.field("note", "required when the reason is other")
    if data.get("day") is not None and data.get("slot") is None:
        raise ValidationFailed.field("slot", "required with a new day")
    if data.get("slot") is not None and data.get("day") is None:
        raise ValidationFailed.field("day", "required with a new slot")


def _collect(
    pickup: Pickup, visit: PickupVisit, given: dict[str, Any], actor: User
) -> tuple[Dossier, str]:
    """The dossier made at the door by the counter's intake, through hotline 1022, at the
    request's office, received when the postman was there."""
    intake = visit_intake(pickup, given, visit.visited_at)
    channel = db.session.scalar(select(Channel).where(Channel.code == lifecycle.CHANNEL))
    if channel is None or not channel.is_active_on(local_date(visit.visited_at)):
        message = Phrase("no active channel %(code)s in the catalogue", code=lifecycle.CHANNEL)
        raise ValidationFailed.field("channel", message)
    try:
        dossier, secret = create_dossier(intake, actor, channel=channel)
    except DomainError as error:
        raise _within_intake(error) from error
    _take(pickup, actor)
    pickup.dossier = dossier
    pickup.collected_at = visit.visited_at
    visit.dossier = dossier
    db.session.add(visit)
    change_state(pickup, "collected", actor)  # one flush: the request, the visit
    return dossier, secret


def _take(pickup: Pickup, actor: User) -> None:
    """The one who went takes the request (a postman: it is theirs now); an unassigned one
    passes through `assigned` on its way to the visit's outcome."""
    if actor.role == "postman":
        pickup.postman = actor
    if pickup.state == lifecycle.INITIAL_STATE:
        change_state(pickup, "assigned", actor)


def visit_intake(pickup: Pickup, given: dict[str, Any], visited_at: datetime) -> dict[str, Any]:
    """The intake's data for a dossier collected at the door: what the postman gave, the gaps
    filled from the request (the caller as applicant, the address as the delivery address of a
    two-way dossier, the procedure and service form, the procedure's checklist as documents),
    the request's office, received at `visited_at`. Pages fill their form with it too."""
    procedure_code = given.get("procedure_code") or (
        pickup.procedure.code if pickup.procedure else None
    )
    if not procedure_code:
        raise ValidationFailed.field("intake.procedure_code", "required: the call named none")
    service_form = given.get("service_form") or pickup.service_form
    intake = {
        **given,
        "procedure_code": procedure_code,
        "service_form": service_form,
        "applicant": {
            "name": pickup.caller_name,
            "phone": pickup.phone,
            **{k: v for k, v in (given.get("applicant") or {}).items() if v is not None},
        },
        "office_code": pickup.office.code,
        "received_at": visited_at,
    }
    if service_form == "two_way" and not given.get("delivery_address"):
        intake["delivery_address"] = f"{pickup.street}, {pickup.commune.name}"
    if not given.get("documents"):
        procedure = find_procedure(procedure_code)
        intake["documents"] = [dict(doc) for doc in procedure.documents] if procedure else []
    return intake


# The intake's field names as a visit names them: under `intake.`, its moment as the visit's.
_INTAKE_RENAMED = {"received_at": "visited_at", "office_code": "office"}


def _within_intake(error: DomainError) -> DomainError:
    fields = {
        _INTAKE_RENAMED.get(name) or (name if name.startswith("intake.") else f"intake.{name}"): m
        for name, m in error.fields.items()
    }
    return type(error)(error.message, fields=fields, extra=error.extra)


def _not_collected(pickup: Pickup, visit: PickupVisit, data: dict[str, Any], actor: User) -> None:
    """A coded reason; with a new slot (checked as a call's, routed again) the request waits
    for its next visit (`requested`, unassigned, SMS again), without one it is closed."""
    visit.reason = data["reason"]
    day, slot = data.get("day"), data.get("slot")
    if day is None:
        _take(pickup, actor)
        db.session.add(visit)
        change_state(pickup, "failed", actor)
        return
    _check_slot(day, slot, utcnow())
    pickup.commune, pickup.office = _route(pickup.commune.code, day)
    visit.new_day, visit.new_slot = day, slot
    pickup.day, pickup.slot, pickup.postman = day, slot, None
    db.session.add(visit)
    if pickup.state != lifecycle.INITIAL_STATE:
        change_state(pickup, lifecycle.INITIAL_STATE, actor)
    else:
        db.session.flush()
    signals.pickup_scheduled.send(pickup, kind="rescheduled")


def visit_snapshot(visit: PickupVisit) -> dict[str, Any]:
    """The audited record of a visit, JSON-ready."""
    return {
        "outcome": visit.outcome,
        "reason": visit.reason,
        "note": visit.note,
        "visited_at": visit.visited_at.isoformat(),
        "new_day": visit.new_day.isoformat() if visit.new_day else None,
        "new_slot": visit.new_slot,
        "dossier": visit.dossier.code if visit.dossier else None,
        "visit_key": visit.visit_key,
    }
