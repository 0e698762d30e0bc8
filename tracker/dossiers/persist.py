"""Writing what a batch of status events did (the feeds apply them a chunk at a time): the
dossiers it moved, the status events it created (plain rows, `EventRow`). A statement per chunk,
never one per row. `operations.EventBatch.finish` calls both.

Dossiers.

In a batch, `record_event` moves dossiers in memory as their loaded state (`set_committed_value`):
the ORM sees no change to flush, since it would write each with an UPDATE of its own (a
versioned mapper, `Dossier.version`, checks every row's count separately), and those round trips
were the largest single cost of applying a feed. Here the same check is kept (`WHERE id = ...
AND version = <version read>`, the version bumped by one, `updated_at` set) in one statement
over plain rows, and the total row count checked. What is written is what an applied status
event changes (`MOVED_COLUMNS`: the status, when it changed, the stuck mark it clears, and the
clock `tracker.dossiers.clock` computed), for the dossiers the batch moved;
tests/test_dossier_rows.py checks the rows against the ORM's own writes. Any other change of
those dossiers would still be the ORM's to write.

Status events.

A batch's events are `EventRow`s, never ORM objects (building, adding and flushing thousands of
those cost about a third of a feed's apply): `write_events` numbers and inserts them in one
statement. The signals' consumers read them as they read a `StatusEvent`; what they noted is kept
at the commit if `kept` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, inspect, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from tracker.calendar import utcnow
from tracker.catalogue.models import Office
from tracker.database import array_text, insert_columns, on_postgresql
from tracker.dossiers.clock import CLOCK_COLUMNS
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db

# What `record_event` changes on a dossier when an event moves it.
MOVED_COLUMNS = ("status", "status_changed_at", "stuck_since", *CLOCK_COLUMNS)

_TABLE = Dossier.__table__
# Column attributes of a dossier (not its relationships), by attribute key.
_COLUMNS = {attr.key: attr.columns[0] for attr in inspect(Dossier).column_attrs}
_KEYS = ("id", "version", *MOVED_COLUMNS)

# Checked against the version read and bumping it, as an executemany of one row each...
_UPDATE_ROWS = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.version == bindparam("b_version"))
    .values(
        {name: bindparam(f"b_{name}") for name in MOVED_COLUMNS}
        | {"version": bindparam("b_version") + 1, "updated_at": bindparam("b_now")}
    )
)


def _update_arrays() -> str:
    """...or (PostgreSQL) as one statement over one array per column."""
    dialect = postgresql.dialect()
    names = [_COLUMNS[key].name for key in _KEYS]
    sets = ", ".join(f"{name} = v.{name}" for name in names[2:])  # not id, version
    arrays = ", ".join(
        f"CAST(:b_{key} AS {_COLUMNS[key].type.compile(dialect=dialect)}[])" for key in _KEYS
    )
    return (
        f"UPDATE dossiers AS d SET {sets}, version = d.version + 1, updated_at = :b_now "
        f"FROM unnest({arrays}) AS v({', '.join(names)}) "
        "WHERE d.id = v.id AND d.version = v.version"
    )


_UPDATE_ARRAYS = text(_update_arrays()).bindparams(
    bindparam("b_now", type_=_TABLE.c.updated_at.type)
)

_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('status_events', 'id')) FROM generate_series(1, :n)"
)


def write_dossiers(moved: Sequence[Dossier]) -> int:
    """Write the dossiers that events `moved` in one statement; how many were written."""
    if not moved:
        return 0
    now = utcnow()
    if on_postgresql():
        arrays = {f"b_{key}": array_text([getattr(d, key) for d in moved]) for key in _KEYS}
        result = db.session.execute(_UPDATE_ARRAYS, {**arrays, "b_now": now})
    else:
        rows = [{f"b_{key}": getattr(d, key) for key in _KEYS} | {"b_now": now} for d in moved]
        result = db.session.execute(_UPDATE_ROWS, rows)
    if result.rowcount != len(moved):
        # Someone changed one of them meanwhile although we hold their locks: as the ORM would.
        raise StaleDataError(f"{len(moved) - result.rowcount} dossier(s) changed under the feed")
    for dossier in moved:
        for name in MOVED_COLUMNS:
            set_committed_value(dossier, name, getattr(dossier, name))
        set_committed_value(dossier, "version", dossier.version + 1)
        set_committed_value(dossier, "updated_at", now)
    return len(moved)


_EVENTS = StatusEvent.__table__
_EVENT_COLUMNS = tuple(column.key for column in _EVENTS.columns)


@dataclass(slots=True, eq=False)
class EventRow:
    """A status event recorded in a batch (`operations.EventBatch`): a plain row, written with
    the batch's others by `write_events`, never an ORM object. It answers the attributes its
    consumers read of a `StatusEvent` (the columns, `dossier`, `office`)."""

    dossier: Dossier
    dossier_id: int
    from_status: str | None
    to_status: str
    applied: bool
    occurred_at: datetime
    recorded_at: datetime
    source: str
    source_event_id: str | None = None
    raw_code: str | None = None
    actor_id: int | None = None
    office_id: int | None = None
    note: str | None = None
    data: dict[str, Any] | None = None
    receiver_name: str | None = None
    receiver_relation: str | None = None
    failure_reason: str | None = None
    id: int | None = None
    # Set once `write_events` has written it in the current transaction.
    written: bool = False

    @property
    def office(self) -> Office | None:
        # From the identity map after the first: a chunk's events come from a few offices.
        return db.session.get(Office, self.office_id) if self.office_id is not None else None

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _EVENT_COLUMNS}


def kept(owner: Any) -> bool:
    """Whether what a consumer noted during the transaction is still in it at the commit: an ORM
    object still persistent (not gone with a rolled-back savepoint), or a batch's plain event
    row once written."""
    if isinstance(owner, EventRow):
        return owner.written
    return inspect(owner).persistent


def write_events(events: Sequence[EventRow]) -> int:
    """Insert a batch's status events, in the order they were recorded, and give each its id.

    PostgreSQL: the ids are taken from the table's sequence in one round trip, then the rows go
    in one statement, a column per array (an executemany converts every parameter of every row
    on its own; a multi-row INSERT ... RETURNING id even more so). SQLite: one executemany
    INSERT ... RETURNING, ids matched to the rows in order."""
    if not events:
        return 0
    if on_postgresql():
        ids = sorted(db.session.scalars(_NEXT_IDS, {"n": len(events)}))
        for event, event_id in zip(events, ids, strict=True):
            event.id = event_id
        columns = {key: [getattr(e, key) for e in events] for key in _EVENT_COLUMNS}
        insert_columns(db.session, _EVENTS, columns)
    else:
        rows = [event.row() for event in events]
        for row in rows:
            del row["id"]
        statement = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
        ids = db.session.scalars(statement, rows).all()
        for event, event_id in zip(events, ids, strict=True):
            event.id = event_id
    for event in events:
        event.written = True
    return len(events)
