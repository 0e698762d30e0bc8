"""Inserting thousands of rows in one go: binary COPY on PostgreSQL, one Core executemany
elsewhere. Both join the session's transaction; nothing goes through the ORM's unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql
from sqlalchemy import Table, func, insert, select, text

from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.imports.models import ImportRowError

# The columns each bulk insert writes, in row order, with their PostgreSQL type for binary COPY.
# Nullable columns left out keep their NULL (tests/test_imports.py checks none is forgotten).
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
    if _dialect() == "postgresql":
        # One array value back, not a row per id.
        return db.session.scalar(_RESERVE_IDS, {"n": count})
    # SQLite: the transaction holds the database's only write lock, so nobody takes these.
    last = db.session.scalar(select(func.max(Dossier.id))) or 0
    return list(range(last + 1, last + 1 + count))


def insert_dossiers(rows: Sequence[tuple]) -> None:
    _insert(Dossier.__table__, DOSSIER_COLUMNS, rows)


def insert_events(rows: Sequence[tuple], job_id: int) -> None:
    """First events; each row ends with its file line, which `data` records with the job."""
    if _dialect() == "postgresql":
        # A json value's binary COPY form is its text: written here, no json.dumps per row.
        rows = [(*row[:-1], f'{{"import_job": {job_id}, "line": {row[-1]}}}') for row in rows]
        _insert(StatusEvent.__table__, {**EVENT_COLUMNS, "data": "text"}, rows)
    else:
        rows = [(*row[:-1], {"import_job": job_id, "line": row[-1]}) for row in rows]
        _insert(StatusEvent.__table__, EVENT_COLUMNS, rows)


def insert_errors(rows: Sequence[tuple]) -> None:
    _insert(ImportRowError.__table__, ERROR_COLUMNS, rows)


def _insert(table: Table, columns: dict[str, str], rows: Sequence[tuple]) -> None:
    if not rows:
        return
    if _dialect() != "postgresql":
        names = list(columns)
        db.session.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])
        return
    # The session's own connection: the rows commit or roll back with the rest of the chunk.
    connection = db.session.connection().connection.driver_connection
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(list(columns.values()))
        for row in rows:
            copy.write_row(row)


def _dialect() -> str:
    return db.session.get_bind().dialect.name
