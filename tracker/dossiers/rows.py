"""A new dossier's row, every column as a plain dict: built here once for the intake at the
counter (`operations.create_dossier`, through the ORM), the bulk import (`tracker.imports`,
binary COPY) and the benchmarks' generators, so that a dossier is the same row whichever way it
came in. Its clock is `tracker.dossiers.clock`'s."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

from tracker.dossiers import clock, lifecycle
from tracker.dossiers.models import Dossier
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
