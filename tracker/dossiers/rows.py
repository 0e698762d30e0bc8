"""A new dossier's row, every column as a plain dict: built here once for the intake at the
counter (`operations.create_dossier`, through the ORM), the bulk import (`tracker.imports`,
binary COPY) and the benchmarks' generators, so that a dossier is the same row whichever way it
came in. Its clock is `tracker.dossiers.clock`'s."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import Table, TextClause, insert, inspect, text

from tracker.audit.models import AuditEntry
from tracker.audit.operations import AUDIT_INSERT
from tracker.database import on_postgresql
from tracker.dossiers import clock, lifecycle
from tracker.dossiers.models import Dossier, DossierDocument, StatusEvent
from tracker.extensions import db
from tracker.text import fold

_FOLDED_LENGTH = Dossier.applicant_name_folded.type.length
# fold() costs microseconds and names repeat a lot: a bounded memo keeps memory flat.
_FOLDED: dict[str, str] = {}
_FOLDED_MAX = 100_000


class ProcedureIds(Protocol):
    """A procedure, an import's or a benchmark's reference to one: its id and its agency's."""

    id: int
    agency_id: int


class OfficeIds(Protocol):
    """An office, or a reference to one: its id and its channel's at the time of receipt."""

    id: int
    channel_id: int


def folded_name(name: str) -> str:
    """The applicant's name as searched: folded (`tracker.text.fold`), within its column."""
    folded = _FOLDED.get(name)
    if folded is None:
        if len(_FOLDED) >= _FOLDED_MAX:
            _FOLDED.clear()
        # Folding can lengthen text (e.g. Hangul syllables decompose): keep within the column.
        folded = _FOLDED[name] = fold(name)[:_FOLDED_LENGTH]
    return folded


def new_dossier_row(
    *,
    code: str,
    service_form: str,
    procedure: ProcedureIds,
    office: OfficeIds,
    applicant_name: str,
    applicant_phone: str,
    received_at: datetime,
    lookup_secret_hash: str,
    now: datetime,
    applicant_id_number: str | None = None,
    applicant_email: str | None = None,
    agency_reference: str | None = None,
    delivery_address: str | None = None,
    postal_item_number: str | None = None,
    fee_vnd: int = 0,
    note: str | None = None,
    appointment_date: date | None = None,
    created_by_id: int | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Every column of a dossier the post took charge of at `received_at` (or, `status`
    "registered", registered for its result at that moment), but its id: in `status`, by default
    its service form's first status, its clock started, at version 1, written at `now`."""
    status = status or lifecycle.INITIAL_STATUS[service_form]
    if status not in lifecycle.INITIAL_STATUSES[service_form]:
        raise ValueError(f"a {service_form} dossier cannot start as {status}")
    return {
        "code": code,
        "service_form": service_form,
        "procedure_id": procedure.id,
        "agency_id": procedure.agency_id,
        "office_id": office.id,
        "channel_id": office.channel_id,
        "agency_reference": agency_reference,
        "applicant_name": applicant_name,
        "applicant_name_folded": folded_name(applicant_name),
        "applicant_phone": applicant_phone,
        "applicant_id_number": applicant_id_number,
        "applicant_email": applicant_email,
        "delivery_address": delivery_address,
        "postal_item_number": postal_item_number,
        "fee_vnd": fee_vnd,
        "note": note,
        "status": status,
        "received_at": received_at,
        "status_changed_at": received_at,
        # The clock starts: the appointment given at intake, if any, and nothing paused yet.
        "appointment_date": appointment_date,
        "supplement_days": 0,
        "supplement_since": None,
        "due_date": clock.due_date(appointment_date, 0),
        "result_at": None,
        "closed_at": None,
        "overdue_since": None,
        "stuck_since": None,
        "lookup_secret_hash": lookup_secret_hash,
        "created_by_id": created_by_id,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


# Writing one new dossier without the ORM's unit of work ---------------------------------------

_DOSSIERS = Dossier.__table__
_DOCUMENTS = DossierDocument.__table__
_EVENTS = StatusEvent.__table__
_AUDIT = AuditEntry.__table__
_INSERT_DOSSIER = insert(_DOSSIERS).returning(_DOSSIERS.c.id)
_INSERT_DOCUMENTS = insert(_DOCUMENTS).returning(_DOCUMENTS.c.id, sort_by_parameter_order=True)
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)


def _intake_statement() -> TextClause:
    """(PostgreSQL) The audit entry, the dossier, its documents and its first event in one
    statement, answering the ids of the dossier, the event and the documents (in order).

    Each table's values come as one JSON parameter that `json_populate_record` turns into a row
    of that table (its columns' own types): four parameters, not sixty, so that psycopg caches
    the statement's conversion and prepares it (it does for at most 50 parameters)."""

    def names(table: Table, *leave_out: str) -> str:
        return ", ".join(c.name for c in table.c if c.key not in ("id", *leave_out))

    def picked(table: Table, *leave_out: str) -> str:
        return ", ".join(f"v.{c.name}" for c in table.c if c.key not in ("id", *leave_out))

    def source(table: Table, parameter: str) -> str:
        return f"json_populate_record(NULL::{table.name}, CAST(:{parameter} AS json)) AS v"

    sql = (
        f"WITH audit AS (INSERT INTO {_AUDIT.name} ({names(_AUDIT)})"
        f" SELECT {picked(_AUDIT)} FROM {source(_AUDIT, 'audit')}),"
        f" d AS (INSERT INTO {_DOSSIERS.name} ({names(_DOSSIERS)})"
        f" SELECT {picked(_DOSSIERS)} FROM {source(_DOSSIERS, 'dossier')} RETURNING id),"
        f" docs AS (INSERT INTO {_DOCUMENTS.name} (dossier_id, {names(_DOCUMENTS, 'dossier_id')})"
        f" SELECT d.id, {picked(_DOCUMENTS, 'dossier_id')} FROM d,"
        f" json_populate_recordset(NULL::{_DOCUMENTS.name}, CAST(:documents AS json))"
        " WITH ORDINALITY AS v ORDER BY v.ordinality RETURNING id),"
        f" e AS (INSERT INTO {_EVENTS.name} (dossier_id, {names(_EVENTS, 'dossier_id')})"
        f" SELECT d.id, {picked(_EVENTS, 'dossier_id')} FROM d, {source(_EVENTS, 'event')}"
        " RETURNING id)"
        " SELECT d.id, e.id, ARRAY(SELECT id FROM docs ORDER BY id) FROM d, e"
    )
    return text(sql)


def _json(values: Any) -> str:
    """`values` as the JSON `json_populate_record` reads: moments and days in ISO 8601 (a
    moment with its offset), JSON columns as nested values (written as the JSON type writes
    them: `json.dumps`'s defaults)."""
    return json.dumps(values, default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_INTAKE = _intake_statement()


def insert_dossier(
    row: dict[str, Any],
    documents: list[dict[str, Any]],
    event: dict[str, Any],
    related: dict[str, Any],
    audit: dict[str, Any],
) -> tuple[Dossier, StatusEvent]:
    """Write the `audit` entry (`tracker.audit.operations.audit_row`) of a new dossier, the
    dossier (`row`, `new_dossier_row`'s), its `documents` (name, kind, count) and its first
    status event (every column of the event but its ids) with Core, and answer them as ORM
    objects the session holds as persistent: as if a flush had written them.

    The intake at the counter logs one dossier per request; the ORM's flush of a dossier, its
    documents and its event (dependency sort, one save per mapper, a round trip per table) cost
    about a third of it. Here the same rows go in the same order, with the ids the database
    gives: on PostgreSQL in one statement, elsewhere one statement a table. The objects are built
    with every column set (`related` names the loaded catalogue rows: procedure, agency, office,
    channel) and registered with the session as its flush registers the objects it inserted: in
    the identity map and as new in the current transaction, so that a rolled-back savepoint
    takes them away as it would the ORM's. tests/test_dossier_rows.py compares the rows with
    the ORM's own.
    """
    session = db.session
    document_rows = [{"count": 1, **doc} for doc in documents]
    if on_postgresql():
        params = {
            "audit": _json(audit),
            "dossier": _json(row),
            "documents": _json(document_rows),
            "event": _json(event),
        }
        dossier_id, event_id, document_ids = session.execute(_INTAKE, params).one()
    else:
        session.execute(AUDIT_INSERT, audit)
        dossier_id = session.execute(_INSERT_DOSSIER, row).scalar_one()
        document_ids = (
            session.execute(
                _INSERT_DOCUMENTS, [{"dossier_id": dossier_id, **doc} for doc in document_rows]
            )
            .scalars()
            .all()
            if document_rows
            else []
        )
        event_id = session.execute(_INSERT_EVENT, {"dossier_id": dossier_id, **event}).scalar_one()
    dossier = Dossier(
        id=dossier_id,
        **row,
        **related,
        documents=[
            DossierDocument(id=doc_id, dossier_id=dossier_id, **doc)
            for doc_id, doc in zip(document_ids, document_rows, strict=True)
        ],
    )
    first_event = StatusEvent(id=event_id, dossier_id=dossier_id, **event, dossier=dossier)
    session.add(dossier)
    session.add(first_event)
    states = {inspect(dossier), inspect(first_event), *(inspect(d) for d in dossier.documents)}
    # What `Session.flush` does with the objects it has just inserted (no public API for it).
    session()._register_persistent(states)
    return dossier, first_event
