"""Writing what a feed chunk did: the dossiers it moved, the ids of the status events it
created, the outcome of each feed event. A statement per chunk, never one per row.

Dossiers.

`record_event` changes dossiers in memory; the ORM would then write each with an UPDATE of its
own, because a versioned mapper (`Dossier.version`) checks every row's count separately. A chunk
moves hundreds of dossiers, and those round trips were the largest single cost of applying a
feed. Here the same check is kept (`WHERE id = ... AND version = <version read>`, the version
bumped by one, `updated_at` set) in one statement, the total row count checked, and the
written values are then marked as the ORM's committed state, so that its flush skips them.
The columns written are those that changed (whatever `record_event` sets: status, clock, marks);
a dossier with another kind of change (its documents) is left to the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import TextClause, Update, bindparam, inspect, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from tracker.calendar import utcnow
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.feeds.models import FeedEvent

# Column attributes of a dossier (not its relationships), by attribute key.
_DOSSIER_COLUMNS = {attr.key: attr.columns[0] for attr in inspect(Dossier).column_attrs}
# Written by this module itself, or never changed by an event.
_MANAGED = frozenset({"id", "version", "updated_at"})


@lru_cache(maxsize=32)
def _update_statement(names: tuple[str, ...], arrays: bool) -> TextClause | Update:
    """UPDATE of the columns `names`, checked against the version read and bumping it: as an
    executemany, or (PostgreSQL) as one statement over one array per column."""
    table = Dossier.__table__
    if not arrays:
        return (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
            .values(
                {name: bindparam(f"b_{name}") for name in names}
                | {"version": bindparam("b_version") + 1, "updated_at": bindparam("b_now")}
            )
        )
    dialect = postgresql.dialect()
    kinds = {"id": "integer", "version": "integer"} | {
        name: _DOSSIER_COLUMNS[name].type.compile(dialect=dialect) for name in names
    }
    columns = ", ".join(_DOSSIER_COLUMNS[name].name for name in kinds)
    sets = ", ".join(f"{_DOSSIER_COLUMNS[n].name} = v.{_DOSSIER_COLUMNS[n].name}" for n in names)
    arrays_sql = ", ".join(f"CAST(:b_{name} AS {kind}[])" for name, kind in kinds.items())
    return text(
        f"UPDATE dossiers AS d SET {sets}, version = d.version + 1, updated_at = :b_now "
        f"FROM unnest({arrays_sql}) AS v({columns}) "
        "WHERE d.id = v.id AND d.version = v.version"
    ).bindparams(bindparam("b_now", type_=table.c.updated_at.type))


_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('status_events', 'id')) FROM generate_series(1, :n)"
)


def write_dossiers(dossiers: Iterable[Dossier]) -> int:
    """Write what changed on `dossiers` in one statement; how many were written."""
    now = utcnow()
    written = [dossier for dossier in dossiers if _columns_only(dossier)]
    if not written:
        return 0
    # Every changed column, for every dossier (unchanged values are written back as they are).
    names = sorted(set().union(*(inspect(d).committed_state for d in written)) - _MANAGED)
    rows = [
        {"b_id": d.id, "b_version": d.version, **{f"b_{n}": getattr(d, n) for n in names}}
        for d in written
    ]
    arrays = db.session.get_bind().dialect.name == "postgresql"
    statement = _update_statement(tuple(names), arrays)
    if arrays:
        columns = {key: [row[key] for row in rows] for key in rows[0]}
        result = db.session.execute(statement, {**columns, "b_now": now})
    else:
        result = db.session.execute(statement, [{**row, "b_now": now} for row in rows])
    if result.rowcount != len(rows):
        # Someone changed one of them meanwhile although we hold their locks: as the ORM would.
        raise StaleDataError(f"{len(rows) - result.rowcount} dossier(s) changed under the feed")
    for dossier in written:
        for name in names:
            set_committed_value(dossier, name, getattr(dossier, name))
        set_committed_value(dossier, "version", dossier.version + 1)
        set_committed_value(dossier, "updated_at", now)
    return len(rows)


def _columns_only(dossier: Dossier) -> bool:
    """Changed, and only in plain columns (a change of its documents is left to the ORM)."""
    changed = inspect(dossier).committed_state
    return bool(changed) and all(key in _DOSSIER_COLUMNS for key in changed)


def number_new_events() -> int:
    """Give the status events this chunk created their ids from the table's sequence, in one
    round trip (PostgreSQL).

    Without ids, the ORM inserts them with a multi-row INSERT ... RETURNING id, whose thousands
    of parameters psycopg converts in Python: several times the cost of the plain executemany
    it uses when the ids are already known.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return 0
    new = [obj for obj in db.session.new if isinstance(obj, StatusEvent) and obj.id is None]
    if not new:
        return 0
    ids = sorted(db.session.scalars(_NEXT_IDS, {"n": len(new)}))
    # In the order they were recorded, as the ORM would have numbered them.
    new.sort(key=lambda event: inspect(event).insert_order)
    for event, event_id in zip(new, ids, strict=True):
        event.id = event_id
    return len(new)


@dataclass
class Outcome:
    """What became of one feed event (FeedEvent.state and the rest of its row)."""

    state: str
    status: str | None = None
    dossier_id: int | None = None
    error: str | None = None


_EVENTS = FeedEvent.__table__.c
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
    """Record what became of each feed event (by id)."""
    now = utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            _SETTLE_ARRAYS,
            {
                "ids": [event_id for event_id, _ in outcomes],
                "states": [o.state for _, o in outcomes],
                "statuses": [o.status for _, o in outcomes],
                "dossier_ids": [o.dossier_id for _, o in outcomes],
                "errors": [o.error for _, o in outcomes],
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
