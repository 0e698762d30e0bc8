"""The rules of hand-over records. Operations flush, never commit: the request owns the
transaction.

A batch of dossiers forwarded to agencies (the batch scan, or `POST /api/v1/handovers`) makes
one record per agency; a collection run (`result_collected`) makes a `result` record per
agency. The agency confirms a `forward` record with an appointment date per dossier: each
dossier still `forwarded` then gets its `processing` event with that date (through
`record_event`, the one rule of the lifecycle). An agency's own `processing` events (its feed,
its officers' scans) accept the lines of the dossiers they name; a record whose lines are all
accepted that way counts as confirmed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.calendar import add_working_days, local_date, utcnow
from tracker.catalogue.models import Agency
from tracker.database import next_in_counter
from tracker.dossiers import operations as dossier_operations
from tracker.dossiers import queries as dossier_queries
from tracker.dossiers.models import Dossier
from tracker.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Phrase,
    TransitionNotAllowed,
    ValidationFailed,
)
from tracker.extensions import db
from tracker.handovers.models import HandoverCounter, HandoverLine, HandoverRecord

log = logging.getLogger(__name__)

# The status a batch records, and the kind of record it makes.
KIND_OF_STATUS = {"forwarded": "forward", "result_collected": "result"}
# Where the agency's `processing` events are noted until the unit of work writes them.
_ACCEPTED = "handovers.accepted"
# The `source` of the events the agency records itself: its officers' scans and API calls
# ("agency"), its feed ("agency_feed"). A clerk's or an admin's event is the post's ("counter"):
# it does not accept a line on the agency's behalf (an admin confirms the record instead).
AGENCY_SOURCES = frozenset({"agency", "agency_feed"})


def allocate_number(office_code: str, year: int) -> str:
    """Next number `BB-<office>-<YYYY>-<NNNNN>` of that office and year, without gaps: the
    counter row stays locked until the transaction ends, a rollback gives the number back."""
    sequence = next_in_counter(HandoverCounter.__table__, office_code=office_code, year=year)
    return f"BB-{office_code}-{year}-{sequence:05d}"


def make_records(
    kind: str, dossiers: Iterable[Dossier], actor: User, batch_key: str
) -> list[HandoverRecord]:
    """One record of `kind` per agency of `dossiers`, for the batch `batch_key`; returns every
    record of the batch for those agencies, oldest first.

    A batch sent again answers the records it made. Sent again with more dossiers (the API's
    `batch_key` reused, the scan's back button), the dossiers on none of its records get a record
    of their own, keyed `<batch_key>~<n>`: a signed sheet never changes. The record is the actor's
    office's (an admin's: the office of the first dossier of the agency)."""
    by_agency: dict[int, list[Dossier]] = {}
    for dossier in dossiers:
        by_agency.setdefault(dossier.agency_id, []).append(dossier)
    records = []
    for agency_id, group in by_agency.items():
        records.extend(_batch_records(kind, agency_id, group, actor, batch_key))
    return records


def _batch_records(
    kind: str, agency_id: int, group: list[Dossier], actor: User, batch_key: str
) -> list[HandoverRecord]:
    """The agency's records of the batch, with one more for the dossiers on none of them. Two
    requests sending the same batch at once: the second's record waits on the first's key, then
    reads the first's record and takes the next key (a savepoint undoes its number)."""
    for attempt in range(1, 4):
        made = list(
            db.session.scalars(
                select(HandoverRecord)
                .where(
                    HandoverRecord.agency_id == agency_id,
                    or_(
                        HandoverRecord.batch_key == batch_key,
                        HandoverRecord.batch_key.startswith(f"{batch_key}~", autoescape=True),
                    ),
                )
                .order_by(HandoverRecord.id)
            )
        )
        on_record = {line.dossier_id for record in made for line in record.lines}
        missing = [dossier for dossier in group if dossier.id not in on_record]
        if not missing:
            return made
        key = f"{batch_key}~{len(made) + 1}" if made else batch_key
        try:
            with db.session.begin_nested():
                made.append(_new_record(kind, missing, actor, key))
        except IntegrityError:
            if attempt == 3:
                raise
            log.info("hand-over batch %s: key %s taken meanwhile, reading again", batch_key, key)
            continue
        return made
    raise AssertionError("unreachable")


def _new_record(kind: str, dossiers: list[Dossier], actor: User, batch_key: str) -> HandoverRecord:
    office = actor.office if actor.office_id is not None else dossiers[0].office
    now = utcnow()
    record = HandoverRecord(
        number=allocate_number(office.code, local_date(now).year),
        kind=kind,
        office=office,
        agency=dossiers[0].agency,
        batch_key=batch_key,
        created_by_id=actor.id,
        created_at=now,
        lines=[
            HandoverLine(
                dossier=dossier,
                position=position,
                documents=[
                    {"name": doc.name, "kind": doc.kind, "count": doc.count}
                    for doc in dossier.documents
                ],
                fee_vnd=dossier.fee_vnd,
            )
            for position, dossier in enumerate(dossiers, start=1)
        ],
    )
    db.session.add(record)
    db.session.flush()
    record_audit(
        actor.id,
        "handover.create",
        "handover",
        record.number,
        after={"kind": kind, "codes": [d.code for d in dossiers]},
    )
    log.info("hand-over record %s: %s dossiers", record.number, len(dossiers))
    return record


def forward_batch(
    codes: list[str], agency_code: str, actor: User, batch_key: str | None = None
) -> tuple[list[HandoverRecord], list[dict[str, Any]]]:
    """Forward the dossiers `codes` to the agency `agency_code` and make their record.

    Each code is recorded on its own savepoint, as a scan line: one refused (unknown, another
    agency's, not `forwarded` now) is listed with its index and reason and undoes nothing of
    the others. Returns the batch's records (`make_records`: one, or more when the same
    `batch_key` came back with more codes; none when every code was refused) and the refusals."""
    agency = db.session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        raise ValidationFailed.field(
            "agency_code", Phrase("no agency with code %(code)s", code=agency_code)
        )
    # The client's key is its own: another user's batch with the same key is another batch.
    batch_key = f"api-{actor.id}-{batch_key or secrets.token_hex(16)}"
    forwarded: list[Dossier] = []
    refused: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, value in enumerate(codes):
        try:
            dossier = _forward_one(value, agency, actor, batch_key, seen)
        except DomainError as exc:
            message = next(iter(exc.fields.values()))[0] if exc.fields else exc.message
            refused.append(
                {
                    "index": index,
                    "code": value,
                    "field": f"dossier_codes.{index}",
                    "message": str(message),
                }
            )
            continue
        forwarded.append(dossier)
    return make_records("forward", forwarded, actor, batch_key), refused


def _forward_one(
    value: str, agency: Agency, actor: User, batch_key: str, seen: set[str]
) -> Dossier:
    code = dossier_queries.find_code(value, actor)
    if code is None:
        raise NotFound(Phrase("no dossier with code %(code)s", code=value))
    if code in seen:
        raise ValidationFailed("twice in the list")
    seen.add(code)
    with db.session.begin_nested():
        dossier = dossier_queries.get_dossier(code, actor, for_update=True)
        if dossier.agency_id != agency.id:
            raise ValidationFailed(
                Phrase("the dossier belongs to agency %(code)s", code=dossier.agency.code)
            )
        dossier_operations.record_event(
            dossier,
            "forwarded",
            source="counter",
            actor=actor,
            source_event_id=f"handover-{batch_key}-forwarded",
            office_id=actor.office_id,
        )
    return dossier


# Confirmation -----------------------------------------------------------------------------------


def default_appointment(record: HandoverRecord, line: HandoverLine) -> date:
    """The procedure's statutory working days, counted from the day of the hand-over."""
    dossier = line.dossier
    # Never before the day of receipt (a record typed in late for an older hand-over).
    start = max(local_date(record.created_at), local_date(dossier.received_at))
    return add_working_days(start, dossier.procedure.working_days)


def confirm_record(
    record: HandoverRecord, dates: dict[str, date], actor: User
) -> tuple[HandoverRecord, bool]:
    """The agency accepts the dossiers of a `forward` record, with an appointment date each
    (`dates` by dossier code; a dossier left out gets `default_appointment`).

    Each dossier still `forwarded` gets its `processing` event with its date; a line already
    accepted (through the agency's feed) keeps its date; a dossier that has moved on otherwise
    (withdrawn...) stays unaccepted. Confirmed once: a repeat answers the first confirmation
    (returns it with True). The caller holds the record's row lock."""
    if record.kind != "forward":
        raise Conflict(
            f"{record.number} records results fetched from the agency: nothing to confirm",
            fields={"number": ["only a record of dossiers handed to the agency is confirmed"]},
        )
    if record.confirmed_at is not None:
        return record, True
    codes = {line.dossier.code for line in record.lines}
    unknown = sorted(set(dates) - codes)
    if unknown:
        raise ValidationFailed(
            "appointment dates for dossiers that are not on this record",
            fields={
                f"appointment_dates.{code}": ["not a dossier of this record"] for code in unknown
            },
        )
    now = utcnow()
    for line in record.lines:
        if line.accepted_at is None:
            _accept_line(record, line, dates.get(line.dossier.code), actor, now)
    record.confirmed_at = now
    record.confirmed_by_id = actor.id
    db.session.flush()
    record_audit(
        actor.id,
        "handover.confirm",
        "handover",
        record.number,
        after={
            "appointments": {
                line.dossier.code: line.appointment_date.isoformat()
                for line in record.lines
                if line.appointment_date is not None
            }
        },
    )
    return record, False


def _accept_line(
    record: HandoverRecord, line: HandoverLine, day: date | None, actor: User, now: datetime
) -> None:
    dossier = dossier_queries.get_dossier(line.dossier.code, actor, for_update=True)
    if dossier.status != "forwarded":
        return
    day = day or default_appointment(record, line)
    field = f"appointment_dates.{dossier.code}"
    try:
        dossier_operations.record_event(
            dossier,
            "processing",
            source="agency" if actor.role == "agency" else "counter",
            actor=actor,
            source_event_id=f"handover-{record.number}",
            appointment_date=day,
            note=record.number,
        )
    except ValidationFailed as exc:
        messages = next(iter(exc.fields.values()), [exc.message]) if exc.fields else [exc.message]
        raise ValidationFailed(exc.message, fields={field: list(messages)}) from exc
    except (TransitionNotAllowed, Forbidden) as exc:
        raise Conflict(exc.message, fields={field: [exc.message]}) from exc
    line.accepted_at = now
    line.appointment_date = dossier.appointment_date


# The agency's own `processing` events --------------------------------------------------------


def note_processing(session: Session, dossier_id: int, source: str) -> None:
    """A dossier went to `processing`: when the agency recorded it (`AGENCY_SOURCES`), its open
    hand-over line is accepted when the unit of work commits (`write_acceptances`)."""
    if source in AGENCY_SOURCES:
        session.info.setdefault(_ACCEPTED, set()).add(dossier_id)


def write_acceptances(session: Session) -> None:
    """Accept the open lines of the dossiers noted, with the dossier's appointment date; a
    record whose lines are all accepted so counts as confirmed. Two statements per commit."""
    ids = sorted(session.info.pop(_ACCEPTED, ()))
    if not ids:
        return
    now = utcnow()
    lines = HandoverLine.__table__
    records = HandoverRecord.__table__
    dossiers = Dossier.__table__
    open_forward = select(records.c.id).where(
        records.c.kind == "forward", records.c.confirmed_at.is_(None)
    )
    session.execute(
        update(lines)
        .where(
            lines.c.dossier_id.in_(ids),
            lines.c.accepted_at.is_(None),
            lines.c.record_id.in_(open_forward),
        )
        .values(
            accepted_at=now,
            appointment_date=select(dossiers.c.appointment_date)
            .where(dossiers.c.id == lines.c.dossier_id)
            .scalar_subquery(),
        )
    )
    pending = exists().where(and_(lines.c.record_id == records.c.id, lines.c.accepted_at.is_(None)))
    touched = select(lines.c.record_id).where(lines.c.dossier_id.in_(ids))
    session.execute(
        update(records)
        .where(
            records.c.kind == "forward",
            records.c.confirmed_at.is_(None),
            records.c.id.in_(touched),
            ~pending,
        )
        .values(confirmed_at=now)
    )


def forget_acceptances(session: Session) -> None:
    session.info.pop(_ACCEPTED, None)
