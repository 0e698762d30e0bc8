"""Read side of reports: the figures managers entered, and the growth rate of a year."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from sqlalchemy import select

from tracker.accounts.models import User
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


def baseline_state(year: int) -> dict:
    """The baseline of a year as managers read and write it: the year's figures and note
    (month 0), the months that have figures, and who changed it last. Nulls when nothing was
    entered."""
    rows = baselines_of(year)
    annual = rows.get(0)
    latest = max(rows.values(), key=lambda row: row.updated_at, default=None)
    return {
        "year": year,
        **{name: getattr(annual, name, None) for name in BASELINE_FIGURES},
        "note": annual.note if annual else None,
        "months": [
            {"month": month, **{name: getattr(row, name) for name in BASELINE_FIGURES}}
            for month, row in sorted(rows.items())
            if month
        ],
        "updated_at": latest.updated_at if latest else None,
        "updated_by": _username(latest.updated_by_id) if latest else None,
    }


def target_of(previous: int | None, rate: Decimal) -> int | None:
    """ceil(previous x (1 + rate)), exact (Decimal, no float rounding); None when unknown."""
    if previous is None:
        return None
    return int((Decimal(previous) * (1 + rate)).to_integral_value(rounding=ROUND_CEILING))


def target_state(year: int) -> dict:
    """The growth rate of a year and the targets it gives over the previous year's actuals."""
    # growth reads this module's baselines and rates: imported here, not at the top.
    from tracker.reports.growth import METRICS, year_totals

    rate, is_default = growth_rate(year)
    row = None if is_default else db.session.get(GrowthTarget, year)
    previous = year_totals(year - 1)
    return {
        "year": year,
        "rate": rate.normalize(),
        "is_default": is_default,
        "note": row.note if row else None,
        "updated_at": row.updated_at if row else None,
        "updated_by": _username(row.updated_by_id) if row else None,
        "targets": {m: target_of(previous[m]["actual"], rate) for m in METRICS},
        "previous": {"year": year - 1, **previous},
    }


def _username(user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return db.session.scalar(select(User.username).where(User.id == user_id))
