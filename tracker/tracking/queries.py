"""Finding a dossier for a citizen, on the hot path: one round trip, no ORM objects.

Every way of failing looks the same from outside: None, after the same hashing work.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Row

from tracker.catalogue.models import Office, Procedure
from tracker.database import read_connection
from tracker.dossiers import codes
from tracker.dossiers.delivery import DELIVERED_TO, FAILURE_REASONS
from tracker.dossiers.lifecycle import SERVICE_FORM_LABELS, status_label
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.dossiers.timeliness import timeliness
from tracker.text import mask_name

# Compared against when no dossier matched, so that an unknown code costs what a wrong secret does.
_DUMMY_HASH = "0" * 64

_VIEW: Select = (
    select(
        Dossier.code,
        Dossier.service_form,
        Dossier.status,
        Dossier.received_at,
        Dossier.appointment_date,
        Dossier.due_date,
        Dossier.closed_at,
        Dossier.applicant_name,
        Dossier.applicant_phone,
        Dossier.lookup_secret_hash,
        Procedure.code.label("procedure_code"),
        Procedure.name.label("procedure_name"),
        StatusEvent.to_status,
        StatusEvent.occurred_at,
        # The relation, never the receiver's name; the reason, never the note.
        StatusEvent.receiver_relation,
        StatusEvent.failure_reason,
        Office.name.label("event_office"),
    )
    .join(Procedure, Procedure.id == Dossier.procedure_id)
    # Late events stay in the staff history; the citizen sees the path the dossier took.
    .outerjoin(StatusEvent, (StatusEvent.dossier_id == Dossier.id) & StatusEvent.applied)
    .outerjoin(Office, Office.id == StatusEvent.office_id)
    .order_by(StatusEvent.occurred_at, StatusEvent.id)
)
# Built once: only the parameters change from one lookup to the next.
_BY_CODE = _VIEW.where(Dossier.code == bindparam("code"))
_BY_ITEM = _VIEW.where(
    Dossier.id
    == (
        select(Dossier.id)
        .where(Dossier.postal_item_number == bindparam("item"))
        .order_by(Dossier.received_at.desc())
        .limit(1)
        .scalar_subquery()
    )
)


def find_by_code_and_secret(code: str, secret: str) -> dict[str, Any] | None:
    code = code.strip().upper()
    rows = _fetch(_BY_CODE, code=code)
    stored = rows[0].lookup_secret_hash if rows else _DUMMY_HASH
    matches = codes.secret_matches(code, secret, stored)
    return _present(rows) if rows and matches else None


def find_by_item_and_phone(item: str, phone_last4: str) -> dict[str, Any] | None:
    rows = _fetch(_BY_ITEM, item=item)
    if not rows or not rows[0].applicant_phone.endswith(phone_last4):
        return None
    return _present(rows)


def _fetch(query: Select, **params: str) -> list[Row]:
    with read_connection() as connection:
        return list(connection.execute(query, params))


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _present(rows: list[Row]) -> dict[str, Any]:
    """The citizen's view: no staff names, the applicant's name masked, nothing else personal
    (who received the result only as a relation, a failed delivery's coded reason, no note).

    Already JSON-shaped (the lookup is the hot path: no dump schema walks it); `TrackOut`
    documents it and a test holds the two together."""
    first = rows[0]
    label_vi, label_en = SERVICE_FORM_LABELS[first.service_form]
    return {
        "code": first.code,
        "procedure": {"code": first.procedure_code, "name": first.procedure_name},
        "service_form": {"code": first.service_form, "label_vi": label_vi, "label_en": label_en},
        "status": status_label(first.status),
        "received_at": first.received_at.isoformat(),
        "appointment_date": _iso(first.appointment_date),
        "due_date": _iso(first.due_date),
        "timeliness": timeliness(first),
        "applicant_name": mask_name(first.applicant_name),
        "timeline": [
            {
                "status": status_label(row.to_status),
                "at": row.occurred_at.isoformat(),
                "office": row.event_office,
                "delivered_to": _label(DELIVERED_TO, row.receiver_relation),
                "failure_reason": _label(FAILURE_REASONS, row.failure_reason),
            }
            for row in rows
            if row.to_status
        ],
    }


def _label(table: dict, code: str | None) -> dict[str, str] | None:
    return None if code is None else table[code].as_dict()
