"""On-time state of a dossier against its (supplement-adjusted) appointment date."""

from __future__ import annotations

from datetime import date

from tracker.calendar import local_date, today_vn
from tracker.dossiers.lifecycle import AGENCY_CLOCK
from tracker.dossiers.models import Dossier

DELIVERED = frozenset({"delivered", "collected_in_person"})


def timeliness(dossier: Dossier, today: date | None = None) -> str:
    """early | on_time | late once the result is in the citizen's hands; before that
    on_track | paused (waiting for a supplement) | overdue (the agency is late) | late (the result
    exists but reaches the citizen after the date); unknown without an appointment date;
    not_applicable for a dossier closed without a result delivered."""
    if dossier.due_date is None:
        return "unknown"
    if dossier.status in DELIVERED and dossier.closed_at is not None:
        handed = local_date(dossier.closed_at)
        if handed < dossier.due_date:
            return "early"
        return "on_time" if handed == dossier.due_date else "late"
    if dossier.closed_at is not None:
        return "not_applicable"
    if dossier.status == "supplement_required":
        return "paused"
    today = today or today_vn()
    if dossier.status in AGENCY_CLOCK:
        return "overdue" if dossier.is_overdue(today) else "on_track"
    return "late" if today > dossier.due_date else "on_track"
