"""Pickup figures (hotline 1022) by office and month: calls taken, dossiers collected at the
door, requests closed without a collection, and the median hours from the call to the
collection.

Each figure falls in the month (Vietnam time) of its own moment: a request when it was made,
a collection when the postman collected it, a failure when the request was closed. The office is
the one the request is routed to now (a request re-routed before its visit counts where it went).
Pickups are a few hundred a month in a province, so the rows of one year are read and bucketed
here, the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import select

from tracker.calendar import VN_TZ
from tracker.catalogue.models import Office
from tracker.extensions import db
from tracker.pickups.models import Pickup

MONTHS = range(1, 13)
FIGURES = ("requested", "collected", "failed")


def pickup_figures(year: int, office_id: int | None = None) -> dict[str, Any]:
    """The year's figures per office and month, each office's year, and the province's (or
    the one office's, with `office_id`)."""
    start, end = datetime(year, 1, 1, tzinfo=VN_TZ), datetime(year + 1, 1, 1, tzinfo=VN_TZ)
    only = [Pickup.office_id == office_id] if office_id is not None else []
    counts: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    hours: dict[tuple[int, int], list[float]] = defaultdict(list)

    def month_of(moment: datetime) -> int:
        return moment.astimezone(VN_TZ).month

    requested = select(Pickup.office_id, Pickup.created_at).where(
        Pickup.created_at >= start, Pickup.created_at < end, *only
    )
    for unit_id, created_at in db.session.execute(requested):
        counts[unit_id, month_of(created_at)]["requested"] += 1
    collected = select(Pickup.office_id, Pickup.created_at, Pickup.collected_at).where(
        Pickup.state == "collected", Pickup.collected_at >= start, Pickup.collected_at < end, *only
    )
    for unit_id, created_at, collected_at in db.session.execute(collected):
        key = unit_id, month_of(collected_at)
        counts[key]["collected"] += 1
        hours[key].append((collected_at - created_at).total_seconds() / 3600)
    failed = select(Pickup.office_id, Pickup.state_changed_at).where(
        Pickup.state == "failed",
        Pickup.state_changed_at >= start,
        Pickup.state_changed_at < end,
        *only,
    )
    for unit_id, closed_at in db.session.execute(failed):
        counts[unit_id, month_of(closed_at)]["failed"] += 1

    offices = db.session.scalars(
        select(Office).where(Office.id.in_({unit_id for unit_id, _ in counts}))
    )
    rows = [
        _office_row(unit, counts, hours) for unit in sorted(offices, key=lambda unit: unit.code)
    ]
    return {
        "year": year,
        "offices": rows,
        "total": _figures(
            [counts[key] for key in counts], [value for key in hours for value in hours[key]]
        ),
        "months": [
            {
                "month": month,
                **_figures(
                    [counts[key] for key in counts if key[1] == month],
                    [value for key in hours if key[1] == month for value in hours[key]],
                ),
            }
            for month in MONTHS
        ],
    }


def _office_row(office: Office, counts, hours) -> dict[str, Any]:
    months = [
        {"month": month, **_figures([counts[office.id, month]], hours.get((office.id, month), []))}
        for month in MONTHS
        if (office.id, month) in counts
    ]
    every = [value for month in MONTHS for value in hours.get((office.id, month), [])]
    return {
        "office": {"code": office.code, "name": office.name},
        "months": months,
        "total": _figures([counts[key] for key in counts if key[0] == office.id], every),
    }


def _figures(parts: list[dict[str, int]], hours: list[float]) -> dict[str, Any]:
    """The figures summed over `parts`, and the median of `hours` (None without a collection)."""
    summed = {name: sum(part[name] for part in parts) for name in FIGURES}
    return {**summed, "median_hours": round(median(hours), 1) if hours else None}
