"""Read side of reports: the figures managers entered, and the growth rate of a year."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from tracker.extensions import db
from tracker.reports.models import DEFAULT_GROWTH_RATE, Baseline, GrowthTarget

# The figures a baseline row may hold, named as the report's metrics.
BASELINE_FIGURES = ("two_way", "one_way", "send_only", "all_tthc")


def baselines_of(year: int) -> dict[int, Baseline]:
    """The baseline rows of a year by month (0 = the whole year); empty when none was entered."""
    rows = db.session.scalars(select(Baseline).where(Baseline.year == year))
    return {row.month: row for row in rows}


def growth_rate(year: int) -> tuple[Decimal, bool]:
    """The growth rate set for `year`, and whether it is the 30% default (no rate set)."""
    target = db.session.get(GrowthTarget, year)
    if target is None:
        return DEFAULT_GROWTH_RATE, True
    return Decimal(target.rate), False
