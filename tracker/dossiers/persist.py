"""Writing what a batch of status events did (the feeds apply them a chunk at a time): the
dossiers it moved, the ids of the status events it created. A statement per chunk, never one per
row.

Dossiers.

`record_event` changes dossiers in memory; the ORM would then write each with an UPDATE of its
own, because a versioned mapper (`Dossier.version`) checks every row's count separately. A chunk
moves hundreds of dossiers, and those round trips were the largest single cost of applying a
feed. Here the same check is kept (`WHERE id = ... AND version = <version read>`, the version
bumped by one, `updated_at` set) in one statement over plain rows, and the total row count
checked. What is written is what an applied status event changes (`MOVED_COLUMNS`: the status,
when it changed, the stuck mark it clears, and the clock `tracker.dossiers.clock` computed), for
the dossiers the caller says were moved; tests/test_dossier_rows.py checks the rows against the
ORM's own writes. The written values are then handed to the ORM as the row's loaded state
(`set_committed_value`), so that its flush does not write them again; any other change of
those dossiers would still be the ORM's to write.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, inspect, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from tracker.calendar import utcnow
from tracker.database import on_postgresql
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
        arrays = {f"b_{key}": [getattr(d, key) for d in moved] for key in _KEYS}
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


def number_new_events() -> int:
    """Give the status events this chunk created their ids from the table's sequence, in one
    round trip (PostgreSQL).

    Without ids, the ORM inserts them with a multi-row INSERT ... RETURNING id, whose thousands
    of parameters psycopg converts in Python: several times the cost of the plain executemany
    it uses when the ids are already known.
    """
    if not on_postgresql():
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
