"""Read side of reports: the figures managers entered, the growth rate of a year, the go-live
date and the targets set per office or channel. The target rules are in `targets`, the targets a
year's rate gives in `growth.target_state`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from tracker.accounts.models import User
from tracker.catalogue.models import Channel, Office, Procedure
from tracker.dossiers.lifecycle import REGISTERED
from tracker.dossiers.models import Dossier
from tracker.dossiers.queries import id_of
from tracker.errors import NotFound
from tracker.extensions import db
from tracker.reports.figures import ReportFilters
from tracker.reports.models import (
    DEFAULT_GROWTH_RATE,
    Baseline,
    GrowthTarget,
    OfficeTarget,
    ReportSetting,
)

# The figures a baseline row may hold, named as the report's metrics.
BASELINE_FIGURES = ("two_way", "one_way", "send_only", "all_tthc")
# The targets a manager may set for an office or a channel: the report's metrics.
TARGET_FIGURES = ("two_way", "one_way", "send_only", "postal_total")
# The catalogue a unit target names, by dimension.
UNIT_MODELS = {"office": Office, "channel": Channel}


def baselines_of(year: int) -> dict[int, Baseline]:
    """The baseline rows of a year by month (0 = the whole year); empty when none was entered."""
    rows = db.session.scalars(select(Baseline).where(Baseline.year == year))
    return {row.month: row for row in rows}


def growth_target(year: int) -> GrowthTarget | None:
    """The growth rate a manager set for `year`, with its note; None: the 30% default."""
    return db.session.get(GrowthTarget, year)


def growth_rate(year: int) -> tuple[Decimal, bool]:
    """The growth rate set for `year`, and whether it is the 30% default (no rate set)."""
    target = growth_target(year)
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
        "updated_by": username_of(latest.updated_by_id) if latest else None,
    }


def go_live_on() -> date | None:
    """The day the system went live (None: not set; see `series.records_start`)."""
    return db.session.scalar(select(ReportSetting.go_live_on).where(ReportSetting.id == 1))


def go_live_state() -> dict:
    """The go-live date as managers read and write it, with who set it last."""
    row = db.session.get(ReportSetting, 1)
    return {
        "go_live_on": row.go_live_on if row else None,
        "note": row.note if row else None,
        "updated_at": row.updated_at if row else None,
        "updated_by": username_of(row.updated_by_id) if row else None,
    }


def office_targets(year: int) -> dict[str, dict[int, OfficeTarget]]:
    """The targets managers set for `year`, by dimension ("office", "channel") and member id."""
    found: dict[str, dict[int, OfficeTarget]] = {"office": {}, "channel": {}}
    for row in db.session.scalars(select(OfficeTarget).where(OfficeTarget.year == year)):
        found[row.dimension][row.member_id] = row
    return found


def unit_id(dimension: str, code: str) -> int:
    """The id of the office or channel (`dimension`) `code`; a 404 naming `code` if none."""
    return id_of(UNIT_MODELS[dimension], code, "code", missing=NotFound)


def office_target_state(year: int, dimension: str, member_id: int) -> dict:
    """What a manager set for one office or channel in `year` (nulls when nothing)."""
    row = db.session.get(OfficeTarget, (year, dimension, member_id))
    member = db.session.get(UNIT_MODELS[dimension], member_id)
    return {
        "year": year,
        "dimension": dimension,
        "code": member.code,
        "name": member.name if dimension == "office" else member.name_vi,
        **{name: getattr(row, name, None) for name in TARGET_FIGURES},
        "weight": row.weight if row else None,
        "note": row.note if row else None,
        "updated_at": row.updated_at if row else None,
        "updated_by": username_of(row.updated_by_id) if row else None,
    }


def username_of(user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return db.session.scalar(select(User.username).where(User.id == user_id))


def registrations_awaiting(filters: ReportFilters) -> int:
    """Return registrations whose result the post has not fetched yet (`registered`, or the
    agency's result ready), now, within `filters`: a pipeline figure beside the counts (they are
    counted when the post fetches the result). Reads the dossiers by their indexed status."""
    query = select(func.count(Dossier.id)).where(
        Dossier.service_form == "return_only",
        Dossier.status.in_((REGISTERED, "result_ready")),
    )
    for column, value in (
        (Dossier.channel_id, filters.channel_id),
        (Dossier.office_id, filters.office_id),
        (Dossier.procedure_id, filters.procedure_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.sector_id is not None:
        query = query.join(Procedure, Procedure.id == Dossier.procedure_id).where(
            Procedure.sector_id == filters.sector_id
        )
    return db.session.scalar(query) or 0
