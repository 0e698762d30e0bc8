"""On-time state of a dossier against its (supplement-adjusted) appointment date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from tracker.calendar import local_date, today_vn
from tracker.dossiers.lifecycle import AGENCY_CLOCK

DELIVERED = frozenset({"delivered", "collected_in_person"})


class Dated(Protocol):
    status: str
    due_date: date | None
    closed_at: datetime | None


def timeliness(dossier: Dated, today: date | None = None) -> str:
    """The on-time state of a dossier (or any row with its status, due_date and closed_at).

    early | on_time | late once the result is in the citizen's hands; before that
    on_track | paused (waiting for a supplement) | overdue (the agency is late) | late (the result
    exists but reaches the citizen after the date); unknown without an appointment date;
    not_applicable for a dossier closed without a result delivered."""
    if dossier.due_date is None:
        return "unknown"
    if dossier.status in DELIVERED and dossier.closed_at is not None:
        return handed_over(local_date(dossier.closed_at), dossier.due_date)
    if dossier.closed_at is not None:
        return "not_applicable"
    if dossier.status == "supplement_required":
        return "paused"
    if (today or today_vn()) <= dossier.due_date:
        return "on_track"
    # Past the date: the agency is overdue while its clock runs; after that the result is late.
    return "overdue" if dossier.status in AGENCY_CLOCK else "late"


def handed_over(day: date, due_date: date) -> str:
    """early | on_time | late of a result put in the citizen's hands on `day`."""
    if day < due_date:
        return "early"
    return "on_time" if day == due_date else "late"
