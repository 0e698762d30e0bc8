"""Applying stored feed events to their dossiers, one chunk per transaction.

A chunk is settled as a whole: its dossiers are locked (ordered by id, so that two chunks never
deadlock), its events go through `record_event` with an `EventBatch`, which writes plain rows: the
dossiers they moved in one UPDATE, the status events in one INSERT (`tracker.dossiers.persist`),
one audit entry for the chunk and its sender; every feed event's outcome goes in one more
statement, all in the same transaction. The task commits
between chunks: a worker killed mid-chunk loses that chunk's transaction only, and its events,
still `pending`, are settled by the next run.

Decisions where the issue is silent:
- an event whose status is the one the dossier is already in (the post's "accepted" scan of a
  one-way dossier, which starts at result_collected) confirms it: `noted`, not an error;
- informational postal codes (status NULL in `postal_event_codes`) are `noted` on their dossier;
  a re-sent noted event is a `duplicate`, as a re-sent applied one is;
- an agency event for a dossier code that does not exist (or belongs to another agency than the
  sending account's) is `rejected`: codes come from this system, so an unknown one is a mistake,
  not an event that came early. Postal events for unknown items wait as `unmatched`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, text, update
from sqlalchemy.orm import lazyload

from tracker.accounts.models import User
from tracker.calendar import utcnow
from tracker.catalogue.models import Agency, Office
from tracker.database import advisory_locks, among, array_text, on_postgresql
from tracker.dossiers.models import Dossier
from tracker.dossiers.operations import EventBatch, record_event
from tracker.errors import DomainError
from tracker.extensions import db
from tracker.feeds.codes import DEFAULT_FAILURE_REASON, DEFAULT_RECEIVER_RELATION
from tracker.feeds.models import FeedBatch, FeedEvent, PostalEventCode
from tracker.outbox.operations import enqueue

log = logging.getLogger(__name__)

CHUNK_SIZE = 1000
# The `source` of the status events each feed writes.
EVENT_SOURCES = {"postal": "postal_feed", "agency": "agency_feed"}

_EVENTS = FeedEvent.__table__.c
_COLUMNS = (
    _EVENTS.id,
    _EVENTS.batch_id,
    _EVENTS.source,
    _EVENTS.event_id,
    _EVENTS.item_number,
    _EVENTS.dossier_code,
    _EVENTS.agency_reference,
    _EVENTS.agency_code,
    _EVENTS.raw_code,
    _EVENTS.status,
    _EVENTS.occurred_at,
    _EVENTS.office_code,
    _EVENTS.note,
    _EVENTS.appointment_date,
    _EVENTS.receiver_name,
    _EVENTS.receiver_relation,
    _EVENTS.failure_reason,
    FeedBatch.__table__.c.submitted_by_id,
)


@dataclass
class Outcome:
    """What became of one feed event (FeedEvent.state and the rest of its row)."""

    state: str
    status: str | None = None
    dossier_id: int | None = None
    error: str | None = None


def apply_batch_chunk(batch_id: int, size: int = CHUNK_SIZE) -> Counter[str]:
    """Settle up to `size` pending events of a batch, oldest first; their outcomes by state
    (empty: nothing left)."""
    # Two runs of the same batch (a redelivered task) take turns, chunk by chunk.
    locked = db.session.scalar(
        select(FeedBatch.id).where(FeedBatch.id == batch_id).with_for_update()
    )
    if locked is None:
        return Counter()
    rows = db.session.execute(
        select(*_COLUMNS)
        .join_from(FeedEvent, FeedBatch)
        .where(_EVENTS.batch_id == batch_id, _EVENTS.state == "pending")
        .order_by(_EVENTS.occurred_at, _EVENTS.id)
        .limit(size)
    ).all()
    return settle(rows)


def apply_unmatched_chunk(item_number: str, size: int = CHUNK_SIZE) -> Counter[str]:
    """Settle up to `size` postal events waiting for `item_number`, oldest first."""
    rows = db.session.execute(
        select(*_COLUMNS)
        .join_from(FeedEvent, FeedBatch)
        .where(_EVENTS.state == "unmatched", _EVENTS.item_number == item_number)
        .order_by(_EVENTS.occurred_at, _EVENTS.id)
        .limit(size)
        # A second run for the same item waits, then finds them settled.
        .with_for_update(of=FeedEvent.__table__)
    ).all()
    return settle(rows)


def finish_batch(batch_id: int) -> None:
    """Stamp the batch processed once nothing in it is pending."""
    batch = db.session.get(FeedBatch, batch_id)
    pending = select(FeedEvent.id).where(
        FeedEvent.batch_id == batch_id, FeedEvent.state == "pending"
    )
    if batch is not None and not db.session.scalar(select(pending.exists())):
        batch.processed_at = batch.processed_at or utcnow()


@dataclass
class _Chunk:
    """What settling one chunk needs, loaded in a few queries up front."""

    source: str
    codes: dict[str, PostalEventCode]
    actors: dict[int, User]
    # Item number (postal) or dossier code (agency) -> the locked dossier.
    dossiers: dict[str, Dossier]
    office_ids: dict[str, int]
    batch: EventBatch
    # Agency feed: (agency id, the agency's reference) -> the locked dossier; agency ids by code.
    by_reference: dict[tuple[int, str], Dossier] = field(default_factory=dict)
    agency_ids: dict[str, int] = field(default_factory=dict)
    # (dossier id, event id) of events already noted (informational, or confirming).
    noted: set[tuple[int, str]] = field(default_factory=set)

    @property
    def event_source(self) -> str:
        return EVENT_SOURCES[self.source]


def settle(rows: list[Row[Any]]) -> Counter[str]:
    """Apply a chunk of feed events (one source, oldest first) and write their outcomes."""
    if not rows:
        return Counter()
    chunk = _load_chunk(rows)
    outcomes = [_settle_one(row, chunk) for row in rows]
    chunk.batch.finish()
    settled = list(zip(rows, outcomes, strict=True))
    write_outcomes([(row.id, outcome) for row, outcome in settled])
    _recheck_unmatched(sorted({row.item_number for row, o in settled if o.state == "unmatched"}))
    counts = Counter(outcome.state for outcome in outcomes)
    log.info("feed events settled: %s", dict(counts))
    return counts


def _load_chunk(rows: list[Row[Any]]) -> _Chunk:
    source = rows[0].source
    if any(row.source != source for row in rows):
        raise ValueError("a chunk holds the events of one feed")
    actor_ids = {row.submitted_by_id for row in rows} - {None}
    actors = {
        user.id: user for user in db.session.scalars(select(User).where(User.id.in_(actor_ids)))
    }
    agency_ids = _agency_ids(rows) if source == "agency" else {}
    references = _references(rows, actors, agency_ids)
    dossiers, by_reference = _lock_dossiers(source, rows, references)
    office_codes = {row.office_code for row in rows} - {None}
    office_ids: dict[str, int] = {}
    if office_codes:
        query = select(Office.code, Office.id).where(Office.code.in_(office_codes))
        office_ids = dict(db.session.execute(query).tuples().all())
    event_ids = sorted({row.event_id for row in rows})
    dossier_ids = sorted({d.id for d in (*dossiers.values(), *by_reference.values())})
    batches = sorted({row.batch_id for row in rows})
    batch = EventBatch(audit_key=f"{source} feed, batch {', '.join(map(str, batches))}")
    batch.preload(dossier_ids, EVENT_SOURCES[source], event_ids)
    chunk = _Chunk(
        source, _postal_codes(source), actors, dossiers, office_ids, batch, by_reference, agency_ids
    )
    chunk.noted = _noted_before(source, dossier_ids, event_ids)
    return chunk


def _postal_codes(source: str) -> dict[str, PostalEventCode]:
    if source != "postal":
        return {}
    return {code.code: code for code in db.session.scalars(select(PostalEventCode))}


def _agency_ids(rows: list[Row[Any]]) -> dict[str, int]:
    codes = sorted({row.agency_code for row in rows} - {None})
    if not codes:
        return {}
    query = select(Agency.code, Agency.id).where(Agency.code.in_(codes))
    return dict(db.session.execute(query).tuples().all())


def _agency_of(row: Row[Any], actor: User | None, agency_ids: dict[str, int]) -> int | None:
    """The agency whose reference an agency event gives: the one it names, else the sending
    account's. An account tied to an agency names no other (None: answered as unknown)."""
    own = actor.agency_id if actor is not None else None
    if row.agency_code is None:
        return own
    named = agency_ids.get(row.agency_code)
    return None if own is not None and named != own else named


def _references(
    rows: list[Row[Any]], actors: dict[int, User], agency_ids: dict[str, int]
) -> set[tuple[int, str]]:
    keys = set()
    for row in rows:
        if row.source == "agency" and row.agency_reference:
            agency_id = _agency_of(row, actors.get(row.submitted_by_id), agency_ids)
            if agency_id is not None:
                keys.add((agency_id, row.agency_reference))
    return keys


def _lock_dossiers(
    source: str, rows: list[Row[Any]], references: set[tuple[int, str]]
) -> tuple[dict[str, Dossier], dict[tuple[int, str], Dossier]]:
    """The chunk's dossiers, row-locked in id order (PostgreSQL; SQLite's writer lock is
    already held), by item number (the most recent dossier of each), by code, or by the
    agency's reference."""
    if source == "postal":
        column, keys = Dossier.postal_item_number, {row.item_number for row in rows}
    else:
        column, keys = Dossier.code, {row.dossier_code for row in rows} - {None}
    condition = among(column, sorted(keys))
    if references:
        condition = or_(
            condition,
            among(Dossier.agency_reference, sorted({ref for _agency, ref in references})),
        )
    query = (
        select(Dossier)
        .where(condition)
        .order_by(Dossier.id)
        # The catalogue rows a dossier joins are few and mostly unused here: loaded on first
        # use (from the identity map after that), they keep this query small. Its documents
        # are not needed (a batch's audit leaves them out).
        .options(
            lazyload(Dossier.documents),
            lazyload(Dossier.procedure),
            lazyload(Dossier.office),
            lazyload(Dossier.channel),
            lazyload(Dossier.agency),
        )
        .with_for_update(of=Dossier)
    )
    found: dict[str, Dossier] = {}
    by_reference: dict[tuple[int, str], Dossier] = {}
    for dossier in db.session.scalars(query):
        reference = (dossier.agency_id, dossier.agency_reference)
        if reference in references:
            by_reference[reference] = dossier
        if source == "agency" and dossier.code not in keys:
            continue
        key = dossier.postal_item_number if source == "postal" else dossier.code
        # An item number serves one dossier within 12 months: the most recent one is meant.
        current = found.get(key)
        if current is None or (dossier.received_at, dossier.id) > (current.received_at, current.id):
            found[key] = dossier
    return found, by_reference


def _noted_before(source: str, dossier_ids: list[int], event_ids: list[str]) -> set:
    if not dossier_ids:
        return set()
    rows = db.session.execute(
        select(_EVENTS.dossier_id, _EVENTS.event_id).where(
            _EVENTS.state == "noted",
            _EVENTS.source == source,
            among(_EVENTS.dossier_id, dossier_ids),
            among(_EVENTS.event_id, event_ids),
        )
    )
    return {(row.dossier_id, row.event_id) for row in rows}


def _settle_one(row: Row[Any], chunk: _Chunk) -> Outcome:
    status, problem = _status_of(row, chunk)
    if problem:
        return Outcome("rejected", status, error=problem)
    actor = chunk.actors.get(row.submitted_by_id)
    dossier = _dossier_of(row, chunk, actor)
    if dossier is None:
        if row.source == "postal":
            return Outcome("unmatched", status)
        if row.dossier_code is None:
            agency = row.agency_code or "the sending account's agency"
            error = f"no dossier with agency reference {row.agency_reference} of {agency}"
            return Outcome("rejected", status, error=error)
        return Outcome("rejected", status, error=f"no dossier with code {row.dossier_code}")
    seen = (dossier.id, chunk.event_source, row.event_id) in chunk.batch.known
    if seen or (dossier.id, row.event_id) in chunk.noted:
        return Outcome("duplicate", status, dossier.id)
    reason = _moves_nothing(row, status, dossier)
    if reason:
        chunk.noted.add((dossier.id, row.event_id))
        return Outcome("noted", status, dossier.id, reason)
    receiver, failure_reason = _proof(row, status)
    try:
        result = record_event(
            dossier,
            status,
            source=chunk.event_source,
            actor=actor,
            occurred_at=row.occurred_at,
            source_event_id=row.event_id,
            raw_code=row.raw_code,
            office_id=chunk.office_ids.get(row.office_code),
            note=row.note,
            appointment_date=row.appointment_date,
            receiver=receiver,
            failure_reason=failure_reason,
            batch=chunk.batch,
        )
    except DomainError as exc:
        # record_event checks before it changes anything: the chunk goes on.
        return Outcome("rejected", status, dossier.id, _describe(exc))
    if result.duplicate:
        return Outcome("duplicate", status, dossier.id)
    return Outcome("applied" if result.applied else "late", status, dossier.id)


def _status_of(row: Row[Any], chunk: _Chunk) -> tuple[str | None, str | None]:
    """The status an event reports, or why it cannot be read."""
    if row.source == "agency":
        return row.status, None
    code = chunk.codes.get(row.raw_code)
    if code is None:
        known = ", ".join(sorted(chunk.codes))
        return None, f"unknown postal event code {row.raw_code} (known: {known})"
    if code.requires_reason and not (row.note or row.failure_reason):
        return code.status, (
            f"postal code {code.code} ({code.description_en}) needs a reason "
            "(failure_reason or note)"
        )
    return code.status, None


def _proof(row: Row[Any], status: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The event's proof of delivery, with the feed's defaults where the post gave none: a
    delivery to the applicant (no name), a failure for another reason (the note's)."""
    receiver = {"name": row.receiver_name, "relation": row.receiver_relation}
    failure_reason = row.failure_reason
    if status == "delivered":
        receiver["relation"] = receiver["relation"] or DEFAULT_RECEIVER_RELATION
    elif status == "delivery_failed":
        failure_reason = failure_reason or DEFAULT_FAILURE_REASON
    return (receiver if any(receiver.values()) else None), failure_reason


def _dossier_of(row: Row[Any], chunk: _Chunk, actor: User | None) -> Dossier | None:
    if row.source == "postal":
        return chunk.dossiers.get(row.item_number)
    if row.dossier_code is None:
        agency_id = _agency_of(row, actor, chunk.agency_ids)
        return chunk.by_reference.get((agency_id, row.agency_reference))
    dossier = chunk.dossiers.get(row.dossier_code)
    # An integration account tied to an agency reaches that agency's dossiers only; the others
    # answer as unknown.
    restricted = actor is not None and actor.agency_id is not None
    if dossier is not None and restricted and dossier.agency_id != actor.agency_id:
        return None
    return dossier


def _moves_nothing(row: Row[Any], status: str | None, dossier: Dossier) -> str | None:
    if status is None:
        return f"informational code {row.raw_code}: kept, moves no status"
    if status == dossier.status and row.occurred_at >= dossier.status_changed_at:
        reason = f"confirms the current status {status}"
        if row.appointment_date and row.appointment_date != dossier.appointment_date:
            # A new date is a correction (PATCH by the agency), not a status event.
            reason += f"; appointment_date {row.appointment_date} not applied"
        return reason
    return None


def _describe(error: DomainError) -> str:
    details = "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in error.fields.items())
    if details and details not in error.message:
        return f"{error.message} ({details})"
    return error.message


def _recheck_unmatched(items: list[str]) -> None:
    """Close the race with a dossier given one of `items` while this chunk ran.

    The dossier operations take a transaction-scoped advisory lock on an item number before
    they look for events waiting for it. Taking the same locks here, then looking again for
    dossiers, means one of the two sides always sees the other's commit. SQLite runs one writer
    at a time, so there is no race to close.
    """
    if not items or not on_postgresql():
        return
    advisory_locks(items)
    claimed = db.session.scalars(
        select(Dossier.postal_item_number).where(Dossier.postal_item_number.in_(items)).distinct()
    )
    for item in claimed:
        enqueue("feeds.apply_unmatched", item_number=item)


_SETTLE = (
    update(FeedEvent.__table__)
    .where(_EVENTS.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        status=bindparam("b_status"),
        dossier_id=bindparam("b_dossier_id"),
        error=bindparam("b_error"),
        processed_at=bindparam("b_at"),
    )
)
# PostgreSQL: the chunk's outcomes as arrays, one UPDATE ... FROM unnest(...).
_SETTLE_ARRAYS = text(
    "UPDATE feed_events AS f SET state = v.state, status = v.status, "
    "dossier_id = v.dossier_id, error = v.error, processed_at = :at "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:states AS varchar[]), "
    "CAST(:statuses AS varchar[]), CAST(:dossier_ids AS integer[]), CAST(:errors AS text[])) "
    "AS v(id, state, status, dossier_id, error) WHERE f.id = v.id"
).bindparams(bindparam("at", type_=_EVENTS.processed_at.type))


def write_outcomes(outcomes: list[tuple[int, Outcome]]) -> None:
    """Record what became of each feed event (by id), in one statement."""
    now = utcnow()
    if on_postgresql():
        db.session.execute(
            _SETTLE_ARRAYS,
            {
                "ids": array_text([event_id for event_id, _ in outcomes]),
                "states": array_text([o.state for _, o in outcomes]),
                "statuses": array_text([o.status for _, o in outcomes]),
                "dossier_ids": array_text([o.dossier_id for _, o in outcomes]),
                "errors": array_text([o.error for _, o in outcomes]),
                "at": now,
            },
        )
        return
    db.session.execute(
        _SETTLE,
        [
            {
                "b_id": event_id,
                "b_state": o.state,
                "b_status": o.status,
                "b_dossier_id": o.dossier_id,
                "b_error": o.error,
                "b_at": now,
            }
            for event_id, o in outcomes
        ],
    )
