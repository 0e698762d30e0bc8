"""Inserting thousands of rows in one go: binary COPY on PostgreSQL, one Core executemany
elsewhere. Both join the session's transaction; nothing goes through the ORM's unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from psycopg import sql
from sqlalchemy import Table, func, insert, select, text

from tracker.database import on_postgresql
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.imports.models import ImportRowError

# The columns each bulk insert writes, with their PostgreSQL type for binary COPY. Rows come
# keyed by column name; nullable columns left out keep their NULL (tests/test_imports.py checks
# none is forgotten).
DOSSIER_COLUMNS = {
    "id": "int4",
    "code": "text",
    "service_form": "text",
    "procedure_id": "int4",
    "agency_id": "int4",
    "office_id": "int4",
    "channel_id": "int4",
    "agency_reference": "text",
    "applicant_name": "text",
    "applicant_name_folded": "text",
    "applicant_phone": "text",
    "applicant_id_number": "text",
    "applicant_email": "text",
    "delivery_address": "text",
    "postal_item_number": "text",
    "fee_vnd": "int4",
    "note": "text",
    "status": "text",
    "received_at": "timestamptz",
    "appointment_date": "date",
    "supplement_days": "int4",
    "due_date": "date",
    "status_changed_at": "timestamptz",
    "lookup_secret_hash": "text",
    "created_by_id": "int4",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "version": "int4",
}
EVENT_COLUMNS = {
    "dossier_id": "int4",
    "to_status": "text",
    "applied": "bool",
    "occurred_at": "timestamptz",
    "recorded_at": "timestamptz",
    "source": "text",
    "actor_id": "int4",
    "office_id": "int4",
    "data": "json",
}
ERROR_COLUMNS = {"job_id": "int4", "line": "int4", "field": "text", "message": "text"}


_RESERVE_IDS = text(
    "SELECT array_agg(nextval(pg_get_serial_sequence('dossiers', 'id')))"
    " FROM generate_series(1, :n)"
)


def reserve_dossier_ids(count: int) -> list[int]:
    """Ids for `count` new dossiers, so that their events can name them before the insert."""
    if on_postgresql():
        # One array value back, not a row per id.
        return db.session.scalar(_RESERVE_IDS, {"n": count})
    # SQLite: the transaction holds the database's only write lock, so nobody takes these.
    last = db.session.scalar(select(func.max(Dossier.id))) or 0
    return list(range(last + 1, last + 1 + count))


def insert_dossiers(rows: Sequence[dict[str, Any]]) -> None:
    """New dossiers: `tracker.dossiers.rows.new_dossier_row` with their reserved `id`."""
    _insert(Dossier.__table__, DOSSIER_COLUMNS, rows)


def insert_events(rows: Sequence[dict[str, Any]], job_id: int) -> None:
    """First events, keyed by column name but for `data`: each row has its file `line`
    instead, which `data` records with the job."""
    if on_postgresql():
        # A json value's binary COPY form is its text: written here, no json.dumps per row.
        for row in rows:
            row["data"] = f'{{"import_job": {job_id}, "line": {row["line"]}}}'
        _insert(StatusEvent.__table__, {**EVENT_COLUMNS, "data": "text"}, rows)
    else:
        for row in rows:
            row["data"] = {"import_job": job_id, "line": row["line"]}
        _insert(StatusEvent.__table__, EVENT_COLUMNS, rows)


def insert_errors(rows: Sequence[dict[str, Any]]) -> None:
    _insert(ImportRowError.__table__, ERROR_COLUMNS, rows)


def _insert(table: Table, columns: dict[str, str], rows: Sequence[dict[str, Any]]) -> None:
    """Insert the `columns` of `rows` (other keys are left out)."""
    if not rows:
        return
    if not on_postgresql():
        db.session.execute(insert(table), [{name: row[name] for name in columns} for row in rows])
        return
    values = itemgetter(*columns)
    # The session's own connection: the rows commit or roll back with the rest of the chunk.
    connection = db.session.connection().connection.driver_connection
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(list(columns.values()))
        for row in rows:
            copy.write_row(values(row))
