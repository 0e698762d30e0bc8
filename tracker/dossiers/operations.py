"""The rules for dossiers. Operations flush, never commit: the request or task owns the
transaction. Every status change goes through `record_event`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm.attributes import set_committed_value

from tracker.accounts.models import User
from tracker.accounts.visibility import visible_to
from tracker.audit.operations import audit_row, record_audit, record_audits
from tracker.calendar import local_date, utcnow
from tracker.catalogue.models import Channel, Office, Procedure
from tracker.catalogue.queries import find_procedure
from tracker.database import advisory_lock
from tracker.dossiers import clock, codes, delivery, lifecycle, persist, rows, signals
from tracker.dossiers.models import Dossier, DossierDocument, StatusEvent
from tracker.errors import (
    Conflict,
    Forbidden,
    Phrase,
    StaleVersion,
    TransitionNotAllowed,
    ValidationFailed,
)
from tracker.extensions import db

log = logging.getLogger(__name__)

# A clock a few minutes fast on a scanner or a feed is tolerated; more is a typo.
FUTURE_TOLERANCE = timedelta(minutes=10)
# S10 identifiers are not reused within 12 months.
ITEM_REUSE_WINDOW = timedelta(days=365)
# Statuses an agency officer may record: its own decisions, and a send-only dossier closing at
# its desk. Everything else happens at the post.
AGENCY_STATUSES = frozenset(
    {
        "processing",
        "supplement_required",
        "rejected",
        "result_ready",
        "collected_in_person",
        "withdrawn",
    }
)
# Fields a correction (PATCH) may change, as audited.
CORRECTABLE = (
    "applicant_name",
    "applicant_phone",
    "applicant_id_number",
    "applicant_email",
    "delivery_address",
    "postal_item_number",
    "fee_vnd",
    "note",
    "appointment_date",
    "agency_reference",
    "documents",
)
# Who may correct what: the post keeps the applicant's details, the agency its date.
CORRECTABLE_BY_ROLE = {
    "clerk": frozenset(CORRECTABLE) - {"appointment_date"},
    "agency": frozenset({"appointment_date", "agency_reference", "note"}),
    "admin": frozenset(CORRECTABLE),
}


@dataclass
class EventOutcome:
    # A status event; in a batch, its plain row (`persist.EventRow`), or the row read back of
    # an event seen before.
    event: Any
    applied: bool
    duplicate: bool = False


@dataclass
class EventBatch:
    """Many events recorded in one go (a chunk of a feed): plain rows, not ORM objects, written
    with one statement each at the end (`finish`), and audited in one entry per actor.

    `known` maps (dossier_id, source, source_event_id) to the events already recorded (rows with
    `applied`), preloaded by the caller (`preload`) so that duplicates cost no query each.
    `audit_key` names the batch in its audit entries (e.g. the feed and its batch numbers).

    The chunk's audit entry (action `dossier.event_batch`, entity `status_events`) holds, in
    `after["events"]`, one item per event in the order recorded: the dossier's `code`, the
    event's `source` and `source_event_id`, `status`, `from` (the status it left; null when
    late), `occurred_at`, `applied`, the clock columns it changed (`clock`: name -> [before,
    after]) and its proof of delivery (`receiver`, `failure_reason`) where it has one. It leaves
    out `version` (moved once per dossier by the batch's write) and the dossier's other fields,
    which an event does not change.
    """

    known: dict[tuple[int, str, str], Any] = field(default_factory=dict)
    events: list[persist.EventRow] = field(default_factory=list)
    # The dossiers its applied events moved, by id.
    moved: dict[int, Dossier] = field(default_factory=dict)
    # Audit items by actor id.
    audit: dict[int | None, list[dict[str, Any]]] = field(default_factory=dict)
    audit_key: str = "batch"

    def preload(self, dossier_ids: list[int], source: str, event_ids: list[str]) -> None:
        if not dossier_ids or not event_ids:
            return
        rows = db.session.execute(
            select(
                StatusEvent.dossier_id,
                StatusEvent.source,
                StatusEvent.source_event_id,
                StatusEvent.applied,
            ).where(
                StatusEvent.dossier_id.in_(dossier_ids),
                StatusEvent.source == source,
                StatusEvent.source_event_id.in_(event_ids),
            )
        )
        for row in rows:
            self.known[(row.dossier_id, row.source, row.source_event_id)] = row

    def record(
        self,
        dossier: Dossier,
        to_status: str,
        appointment_date: date | None,
        event: persist.EventRow,
    ) -> EventOutcome:
        """`record_event`'s work once its checks passed: the dossier moved in memory, the event
        row kept; `finish` writes both."""
        late = event.occurred_at < dossier.status_changed_at
        item: dict[str, Any] = {
            "code": dossier.code,
            "source": event.source,
            "source_event_id": event.source_event_id,
            "status": to_status,
            "from": None if late else dossier.status,
            "occurred_at": event.occurred_at.isoformat(),
            "applied": not late,
        }
        if late:
            event.applied = False
            log.info("late event for %s kept without moving status (%s)", dossier.code, to_status)
        else:
            event.from_status = dossier.status
            changed = _clock_changes(dossier, to_status, event.occurred_at, appointment_date)
            if changed:
                item["clock"] = {name: [_json(old), _json(new)] for name, (old, new) in changed}
            # Set as the row's loaded state, not as changes: `finish` writes the moved dossiers
            # itself, in one statement, and the ORM's flush has nothing of theirs to look at.
            moved = {name: new for name, (_old, new) in changed}
            moved.update(status=to_status, status_changed_at=event.occurred_at, stuck_since=None)
            for name, value in moved.items():
                set_committed_value(dossier, name, value)
            self.moved[dossier.id] = dossier
        item.update(_proof(event))
        self.events.append(event)
        self.audit.setdefault(event.actor_id, []).append(item)
        if event.source_event_id is not None:
            self.known[(dossier.id, event.source, event.source_event_id)] = event
        if not late:
            signals.status_changed.send(dossier, event=event)
        return EventOutcome(event, applied=not late)

    def finish(self) -> None:
        db.session.flush()
        persist.write_dossiers([self.moved[key] for key in sorted(self.moved)])
        persist.write_events(self.events)
        record_audits(
            [
                {
                    "actor_id": actor_id,
                    "action": "dossier.event_batch",
                    "entity": "status_events",
                    "entity_key": self.audit_key,
                    "after": {"count": len(items), "events": items},
                }
                for actor_id, items in self.audit.items()
            ]
        )
        self.events, self.moved, self.audit = [], {}, {}


def _json(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def create_dossier(
    data: dict[str, Any],
    actor: User | None,
    *,
    source: str = "counter",
    channel: Channel | None = None,
    initial_status: str | None = None,
) -> tuple[Dossier, str]:
    """Log a dossier the post took charge of. Returns it with its lookup secret (shown once).

    It comes through its office's channel, unless `channel` says otherwise (a dossier collected
    at the citizen's door by a postman of the office came through hotline 1022).
    `initial_status` "registered" logs a return registration (`tracker.dossiers.registrations`):
    a return_only dossier whose result the post will fetch from the agency later."""
    received_at, procedure, office = _check_intake(data, actor)
    channel = channel or office.channel
    received_on = local_date(received_at)
    item = data.get("postal_item_number")
    code = _allocate_intake_code(data, actor, procedure, received_at, received_on)
    secret = codes.new_lookup_secret()
    applicant = data["applicant"]
    row = rows.new_dossier_row(
        code=code,
        service_form=data["service_form"],
        procedure=procedure,
        office=office,
        agency_reference=data.get("agency_reference"),
        applicant_name=applicant["name"],
        applicant_phone=applicant["phone"],
        applicant_id_number=applicant.get("id_number"),
        applicant_email=applicant.get("email"),
        delivery_address=data.get("delivery_address"),
        postal_item_number=item,
        fee_vnd=data.get("fee_vnd", 0),
        note=data.get("note"),
        received_at=received_at,
        appointment_date=data.get("appointment_date"),
        lookup_secret_hash=codes.hash_secret(code, secret),
        created_by_id=actor.id if actor else None,
        now=utcnow(),
        status=initial_status,
    )
    row["channel_id"] = channel.id
    audit = audit_row(
        actor.id if actor else None,
        "dossier.create",
        "dossier",
        code,
        after=_intake_snapshot(row, data.get("documents", [])),
    )
    # Core INSERTs (one on PostgreSQL) for the audit entry, the dossier, its documents and its
    # first event; the objects then held by the session as a flush would hold them, with their
    # catalogue rows as the loaded objects, for whatever reads them next.
    dossier, first_event = rows.insert_dossier(
        row,
        data.get("documents", []),
        {
            "from_status": None,
            "to_status": row["status"],
            "applied": True,
            "occurred_at": received_at,
            "recorded_at": utcnow(),
            "source": source,
            "source_event_id": None,
            "raw_code": None,
            "actor_id": actor.id if actor else None,
            "office_id": office.id,
            "note": None,
            "data": None,
            "receiver_name": None,
            "receiver_relation": None,
            "failure_reason": None,
        },
        {"procedure": procedure, "agency": procedure.agency, "office": office, "channel": channel},
        audit,
    )
    signals.dossier_received.send(dossier, event=first_event)
    signals.item_number_set.send(item)
    log.info("dossier %s created at office %s", code, office.code)
    return dossier, secret


def record_event(
    dossier: Dossier,
    to_status: str,
    *,
    source: str,
    actor: User | None = None,
    occurred_at: datetime | None = None,
    source_event_id: str | None = None,
    raw_code: str | None = None,
    office_id: int | None = None,
    note: str | None = None,
    appointment_date: date | None = None,
    expected_version: int | None = None,
    data: dict[str, Any] | None = None,
    receiver: Mapping[str, str | None] | None = None,
    failure_reason: str | None = None,
    batch: EventBatch | None = None,
) -> EventOutcome:
    """Append a status event and move the dossier when the transition table allows it.

    A delivered result names its `receiver` (`{"name", "relation"}`; the postal feed may leave
    the name out), a failed delivery its `failure_reason` (`tracker.dossiers.delivery`).

    The caller holds the dossier's row lock (`queries.get_dossier(..., for_update=True)`). An event
    whose (source, source_event_id) this dossier has seen is not applied again. An event that
    happened before the dossier's current status was reached is kept in the history without moving
    the status back. With `batch`, nothing is flushed or audited until `batch.finish()`.
    """
    if source_event_id is not None:
        seen = _seen_event(dossier, source, source_event_id, batch)
        if seen is not None:
            return EventOutcome(seen, applied=seen.applied, duplicate=True)
    if expected_version is not None:
        _check_version(dossier, expected_version, "expected_version")
    now = utcnow()
    occurred_at = occurred_at or now
    _check_event(dossier, to_status, actor, occurred_at, now, appointment_date)
    delivery.check_proof(
        to_status, receiver, failure_reason, note, name_required=source != "postal_feed"
    )
    receiver = receiver or {}
    fields = {
        "to_status": to_status,
        "occurred_at": occurred_at,
        "recorded_at": now,
        "source": source,
        "source_event_id": source_event_id,
        "raw_code": raw_code,
        "actor_id": actor.id if actor else None,
        "office_id": office_id,
        "note": note,
        "data": data,
        "receiver_name": (receiver.get("name") or "").strip() or None,
        "receiver_relation": receiver.get("relation"),
        "failure_reason": failure_reason,
    }
    if batch is not None:
        row = persist.EventRow(
            dossier=dossier, dossier_id=dossier.id, from_status=None, applied=True, **fields
        )
        return batch.record(dossier, to_status, appointment_date, row)
    event = StatusEvent(dossier=dossier, **fields)
    before = snapshot(dossier)
    late = occurred_at < dossier.status_changed_at
    if late:
        event.applied = False
        log.info("late event for %s kept without moving status (%s)", dossier.code, to_status)
    else:
        event.from_status = dossier.status
        _apply_clock(dossier, to_status, occurred_at, appointment_date)
        dossier.status = to_status
        dossier.status_changed_at = occurred_at
        # It moved: no longer stuck (the hourly sweep would clear the mark, later).
        dossier.stuck_since = None
    db.session.add(event)
    db.session.flush()
    after = snapshot(dossier)
    after["event"] = {
        "status": to_status,
        "applied": not late,
        "occurred_at": occurred_at.isoformat(),
        **_proof(event),
    }
    entry = {
        "actor_id": event.actor_id,
        "action": "dossier.late_event" if late else "dossier.event",
        "entity": "dossier",
        "entity_key": dossier.code,
        "before": before,
        "after": after,
    }
    record_audit(**entry)
    if not late:
        signals.status_changed.send(dossier, event=event)
    return EventOutcome(event, applied=not late)


def _proof(event: StatusEvent) -> dict[str, Any]:
    """The proof of delivery of an audited event, the receiver's name included."""
    proof: dict[str, Any] = {}
    if event.receiver_relation is not None:
        proof["receiver"] = {"name": event.receiver_name, "relation": event.receiver_relation}
    if event.failure_reason is not None:
        proof["failure_reason"] = event.failure_reason
    return proof


def _seen_event(
    dossier: Dossier, source: str, source_event_id: str, batch: EventBatch | None
) -> StatusEvent | None:
    if batch is not None:
        return batch.known.get((dossier.id, source, source_event_id))
    return db.session.scalar(
        select(StatusEvent).where(
            StatusEvent.dossier_id == dossier.id,
            StatusEvent.source == source,
            StatusEvent.source_event_id == source_event_id,
        )
    )


def _check_event(
    dossier: Dossier,
    to_status: str,
    actor: User | None,
    occurred_at: datetime,
    now: datetime,
    appointment_date: date | None,
) -> None:
    """Refuse what no history can contain; the transition table decides the rest."""
    if actor is not None and actor.role == "agency" and to_status not in AGENCY_STATUSES:
        raise Forbidden(
            f"an agency officer cannot record {to_status}",
            fields={"status": [f"must be one of {', '.join(sorted(AGENCY_STATUSES))}"]},
        )
    _check_not_future("occurred_at", occurred_at, now)
    if occurred_at < dossier.received_at:
        raise ValidationFailed.field("occurred_at", "must not be before the dossier was received")
    if appointment_date is not None:
        if to_status not in lifecycle.AGENCY_CLOCK:
            raise ValidationFailed.field(
                "appointment_date", "the agency sets it while it handles the dossier"
            )
        _check_appointment(appointment_date, local_date(dossier.received_at))
    if occurred_at < dossier.status_changed_at:
        # Late: kept in the history only if the service form can contain that status at all.
        if to_status not in lifecycle.reachable(dossier.service_form):
            raise TransitionNotAllowed(
                f"a {dossier.service_form} dossier never reaches {to_status}",
                fields={"status": [f"not a status of a {dossier.service_form} dossier"]},
                extra={"current_status": dossier.status, "allowed": []},
            )
        return
    if not lifecycle.is_allowed(dossier.service_form, dossier.status, to_status):
        allowed = lifecycle.allowed_next(dossier.service_form, dossier.status)
        raise TransitionNotAllowed(
            f"{dossier.status} cannot be followed by {to_status}",
            fields={"status": [f"allowed after {dossier.status}: {', '.join(allowed) or 'none'}"]},
            extra={"current_status": dossier.status, "allowed": allowed},
        )


def update_dossier(dossier: Dossier, changes: dict[str, Any], actor: User) -> Dossier:
    """Correct a dossier's details; `changes["version"]` must be the version the caller read."""
    _check_version(dossier, changes.pop("version"), "version")
    for key, value in (changes.pop("applicant", None) or {}).items():
        changes[f"applicant_{key}"] = value
    refused = sorted(set(changes) - CORRECTABLE_BY_ROLE.get(actor.role, frozenset()))
    if refused:
        raise Forbidden(
            f"the {actor.role} role cannot change {', '.join(refused)}",
            fields={
                name.replace("applicant_", "applicant."): ["not yours to change"]
                for name in refused
            },
        )
    _check_corrections(dossier, changes, actor)
    new_item = changes.get("postal_item_number")
    item_changed = new_item != dossier.postal_item_number
    before = snapshot(dossier)
    for key in CORRECTABLE:
        if key == "documents" and key in changes:
            dossier.documents = [DossierDocument(**doc) for doc in changes["documents"]]
        elif key in changes:
            setattr(dossier, key, changes[key])
    if "applicant_name" in changes:
        dossier.applicant_name_folded = rows.folded_name(changes["applicant_name"])
    if "appointment_date" in changes:
        # As on an event: the agency's new date already accounts for earlier pauses.
        dossier.supplement_days = 0
    dossier.due_date = dossier.compute_due_date()
    db.session.flush()
    record_audit(
        actor.id, "dossier.update", "dossier", dossier.code, before=before, after=snapshot(dossier)
    )
    if item_changed:
        signals.item_number_set.send(new_item)
    return dossier


def _check_corrections(dossier: Dossier, changes: dict[str, Any], actor: User) -> None:
    reference = changes.get("agency_reference")
    if reference and reference != dossier.agency_reference:
        check_reference_free(dossier.agency_id, reference, dossier.id, actor)
    item = changes.get("postal_item_number")
    if item and item != dossier.postal_item_number:
        _check_item_free(item, dossier.received_at, dossier.id)
    address_cleared = "delivery_address" in changes and not changes["delivery_address"]
    if address_cleared and dossier.service_form != "send_only":
        raise ValidationFailed.field(
            "delivery_address", "required when the post returns the result"
        )
    if "appointment_date" in changes:
        if dossier.status not in lifecycle.AGENCY_CLOCK:
            raise ValidationFailed.field(
                "appointment_date", f"cannot change once the dossier is {dossier.status}"
            )
        _check_appointment(changes["appointment_date"], local_date(dossier.received_at))


def reissue_receipt(dossier: Dossier, actor: User) -> str:
    """A new lookup secret for a reprinted receipt; the old one stops working."""
    secret = codes.new_lookup_secret()
    dossier.lookup_secret_hash = codes.hash_secret(dossier.code, secret)
    db.session.flush()
    record_audit(actor.id, "dossier.reissue_receipt", "dossier", dossier.code)
    return secret


def snapshot(dossier: Dossier) -> dict[str, Any]:
    """The audited state of a dossier, JSON-ready."""
    state = {key: getattr(dossier, key) for key in CORRECTABLE if key != "documents"}
    state.update(
        status=dossier.status,
        version=dossier.version,
        due_date=dossier.due_date,
        supplement_days=dossier.supplement_days,
        documents=[{"name": d.name, "kind": d.kind, "count": d.count} for d in dossier.documents],
    )
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in state.items()}


def _apply_clock(
    dossier: Dossier, to_status: str, occurred_at: datetime, appointment_date: date | None
) -> None:
    """Deadline bookkeeping for a transition (`clock.advance`): the columns it changes."""
    for name, (_old, new) in _clock_changes(dossier, to_status, occurred_at, appointment_date):
        setattr(dossier, name, new)


def _clock_changes(
    dossier: Dossier, to_status: str, occurred_at: datetime, appointment_date: date | None
) -> list[tuple[str, tuple[Any, Any]]]:
    """The clock columns a transition changes, with their values before and after."""
    before = clock.Clock.of(dossier)
    after = clock.advance(
        before,
        dossier.status,
        to_status,
        occurred_at,
        appointment_date=appointment_date,
        working_days=lambda: dossier.procedure.working_days,
    )
    return [
        (name, (getattr(before, name), value))
        for name, value in clock.changes(before, after).items()
    ]


def _intake_snapshot(row: dict[str, Any], documents: list[dict[str, Any]]) -> dict[str, Any]:
    """`snapshot` of the dossier `row` will be, with its `documents`, before it is written."""
    state = {key: row[key] for key in CORRECTABLE if key != "documents"}
    state.update(
        status=row["status"],
        version=row["version"],
        due_date=row["due_date"],
        supplement_days=row["supplement_days"],
        documents=[
            {"name": doc["name"], "kind": doc["kind"], "count": doc.get("count", 1)}
            for doc in documents
        ],
    )
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in state.items()}


def _check_intake(data: dict[str, Any], actor: User | None) -> tuple[datetime, Procedure, Office]:
    """The moment, procedure and office of an intake, checked against the catalogue as it stood
    on the day of receipt: a back-dated dossier from a desk that has since closed is accepted, one
    at an office not yet open is not."""
    now = utcnow()
    received_at = data.get("received_at") or now
    _check_not_future("received_at", received_at, now)
    received_on = local_date(received_at)
    service_form = data["service_form"]
    procedure = check_procedure(data["procedure_code"], service_form, received_on)
    office = _receiving_office(data.get("office_code"), actor, received_on)
    if service_form in ("two_way", "return_only") and not data.get("delivery_address"):
        raise ValidationFailed.field(
            "delivery_address", "required when the post returns the result"
        )
    _check_appointment(data.get("appointment_date"), received_on)
    if data.get("postal_item_number"):
        # Two clerks scanning the same label at once: the second waits, then sees the first
        # (`_allocate_intake_code` looks, in a later statement).
        advisory_lock(data["postal_item_number"])
    return received_at, procedure, office


def _allocate_intake_code(
    data: dict[str, Any],
    actor: User | None,
    procedure: Procedure,
    received_at: datetime,
    received_on: date,
) -> str:
    """The new dossier's code, after the intake's last checks in their order: its postal item
    free, then its agency reference free. Without a reference to check in between, the item is
    looked up in the code's own round trip (PostgreSQL); a refusal rolls the counter back with
    the rest. The reference is checked before the code is allocated: the counter's row lock
    queues concurrent intakes of one agency, and one that finds the reference taken only after
    that wait must meet the unique index (which a batch of orders answers with the dossier that
    has it), not a refusal."""
    item = data.get("postal_item_number")
    reference = data.get("agency_reference")
    taken = _ITEM_TAKEN if item else None
    params = {"item": item, "since": received_at - ITEM_REUSE_WINDOW}
    if reference:
        if taken is not None and db.session.scalar(select(taken), params):
            raise _item_conflict(item)
        taken = None
        check_reference_free(procedure.agency_id, reference, None, actor)
    code, item_taken = codes.allocate_code_checking(
        procedure.agency.code, received_on, taken, params
    )
    if item_taken:
        raise _item_conflict(item)
    return code


def check_procedure(code: str, service_form: str, day: date) -> Procedure:
    """The procedure `code` as it stood on `day`: active, its agency active, allowing
    `service_form`; else 422 naming the field. The intake's rule, and a pickup request's (which
    becomes an intake at the door)."""
    procedure = find_procedure(code)
    if procedure is None or not procedure.is_active_on(day):
        raise ValidationFailed.field(
            "procedure_code", f"no procedure with code {code} active on {day}"
        )
    if not procedure.agency.is_active_on(day):
        raise ValidationFailed.field(
            "procedure_code", f"agency {procedure.agency.code} was not active on {day}"
        )
    if not procedure.allows(service_form):
        allowed = ", ".join(procedure.service_forms)
        raise ValidationFailed.field(
            "service_form", f"procedure {procedure.code} allows only {allowed}"
        )
    return procedure


def _receiving_office(code: str | None, actor: User | None, day: date) -> Office:
    if actor is not None and actor.role == "clerk":
        if code and code != actor.office.code:
            raise ValidationFailed.field(
                "office_code", "a clerk logs dossiers for their own office"
            )
        office = actor.office
    elif not code:
        raise ValidationFailed.field("office_code", "required")
    else:
        office = db.session.scalar(select(Office).where(Office.code == code))
    if office is None or not office.is_active_on(day):
        raise ValidationFailed.field(
            "office_code",
            Phrase("no office with code %(code)s active on %(day)s", code=code, day=day),
        )
    return office


def _check_not_future(field: str, moment: datetime, now: datetime) -> None:
    if moment > now + FUTURE_TOLERANCE:
        raise ValidationFailed.field(field, "must not be in the future")


def _check_item_free(item: str, received_at: datetime, own_id: int | None) -> None:
    """An item number serves one dossier within 12 months (S10 numbers are not reused sooner)."""
    # Two clerks scanning the same label at once: the second waits, then sees the first.
    advisory_lock(item)
    if db.session.scalar(_item_users(item, received_at, own_id).limit(1)) is not None:
        raise _item_conflict(item)


def _item_users(item: str, received_at: datetime, own_id: int | None) -> Select:
    """The other dossiers that carry `item` within the reuse window before `received_at`."""
    dossiers = Dossier.__table__.c
    query = select(dossiers.id).where(
        dossiers.postal_item_number == item,
        dossiers.received_at > received_at - ITEM_REUSE_WINDOW,
    )
    if own_id is not None:
        query = query.where(dossiers.id != own_id)
    return query


# `_item_users` of an intake (no own id), its values bound by name: built once.
_ITEM_TAKEN = (
    select(Dossier.__table__.c.id)
    .where(
        Dossier.__table__.c.postal_item_number == bindparam("item"),
        Dossier.__table__.c.received_at > bindparam("since", type_=Dossier.received_at.type),
    )
    .exists()
)


def _item_conflict(item: str) -> Conflict:
    # The other dossier may be outside the caller's scope: it is not named.
    return Conflict(
        f"postal item {item} is already used by another dossier",
        fields={"postal_item_number": ["already used by another dossier within 12 months"]},
    )


def check_reference_free(
    agency_id: int, reference: str, own_id: int | None, actor: User | None
) -> None:
    """An agency's own dossier code names one dossier of that agency (a unique index holds it
    too). The 409 names the dossier that has it only when `actor` may see that dossier."""
    dossiers = Dossier.__table__.c
    query = select(dossiers.id, dossiers.code, dossiers.office_id, dossiers.agency_id).where(
        dossiers.agency_id == agency_id, dossiers.agency_reference == reference
    )
    if own_id is not None:
        query = query.where(dossiers.id != own_id)
    existing = db.session.execute(query.limit(1)).first()
    if existing is None:
        return
    visible = actor is None or db.session.scalar(
        visible_to(
            actor,
            select(dossiers.code).where(dossiers.id == existing.id),
            office=dossiers.office_id,
            agency=dossiers.agency_id,
        )
    )
    if visible:
        raise Conflict(
            f"agency reference {reference} is already dossier {existing.code}",
            fields={"agency_reference": [f"already used by dossier {existing.code}"]},
        )
    raise Conflict(
        f"agency reference {reference} is already used by another dossier",
        fields={"agency_reference": ["already used by another dossier of this agency"]},
    )


def _check_version(dossier: Dossier, version: int, field: str) -> None:
    StaleVersion.check("dossier", dossier.code, dossier.version, version, field)


def _check_appointment(day: date | None, received_on: date) -> None:
    if day is not None and day < received_on:
        raise ValidationFailed.field("appointment_date", "must not be before the day of receipt")
