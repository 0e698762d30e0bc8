"""The growth report's breakdowns (channel, office, sector, procedure, agency) and the targets
pushed down to their rows.

A row's figure in a period is its records plus its share of the baseline in the report's
figure (`series.part_of`): the baselines are province-wide, so the months before go-live are
shared out by the row's part of the records (last year's when there are any, else this
year's). The rows of a breakdown therefore add up to the report's figures, exactly.

A row's target, per metric, follows `targets.unit_target` (a manager's figure, the growth
over its previous year, or its weight of the province's target).

A row's projection is its year to date times the report's own projection ÷ the report's year
to date: the rest of the year at the report's pace (rows have no months of their own).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from tracker.reports.figures import (
    METRICS,
    Tally,
    add_into,
    growth,
    on_time,
    per_metric,
    ratio,
    whole,
)
from tracker.reports.models import OfficeTarget
from tracker.reports.series import part_of, shares_of
from tracker.reports.targets import unit_target

BREAKDOWNS = ("channel", "office", "sector", "procedure", "agency")
# The breakdowns whose rows a manager can give a target of their own.
UNITS = {"office": "office_id", "channel": "channel_id"}


@dataclass(frozen=True)
class Whole:
    """What the rows of a breakdown share out: the report's figures as shown and its records
    per period ("current", "previous" = the same period, "last_year") and metric, its
    projection per metric, the growth rate, the province's targets and the managers' settings
    (dimension -> member id -> OfficeTarget)."""

    figures: dict[str, dict[str, int | None]]
    records: dict[str, Tally]
    projections: dict[str, int | None]
    rate: Decimal
    province_targets: dict[str, int | None]
    settings: dict[str, dict[int, OfficeTarget]]


def breakdowns(groups: dict, names: dict, whole_: Whole, extra: dict) -> dict[str, list[dict]]:
    """Every breakdown's rows, most dossiers first; `extra` adds the members (by dimension)
    that have a setting but no records, so their target shows."""
    by_sector: dict[int | None, dict[str, Tally]] = {}
    for procedure_id, periods in groups["procedure_id"].items():
        sector_id = names["procedure"].get(procedure_id, (None, None, None))[2]
        into = by_sector.setdefault(sector_id, {})
        for period, tally in periods.items():
            add_into(into.setdefault(period, defaultdict(Counter)), tally)
    source = {
        "channel": groups["channel_id"],
        "office": groups["office_id"],
        "sector": by_sector,
        "procedure": groups["procedure_id"],
        "agency": groups["agency_id"],
    }
    result = {}
    for name in BREAKDOWNS:
        members = dict(source[name])
        for member_id in extra.get(name, ()):
            members.setdefault(member_id, {})
        settings = whole_.settings.get(name, {})
        rows = [
            _row(periods, names[name].get(key, (None, None))[:2], whole_, settings.get(key))
            for key, periods in members.items()
        ]
        result[name] = sorted(rows, key=_most_first)
    return result


def _most_first(row: dict) -> tuple:
    return (-(row["metrics"]["postal_total"]["actual"] or 0), row["code"] or "")


def _row(periods: dict[str, Tally], named: tuple, whole_: Whole, setting) -> dict:
    shares = shares_of(periods, whole_.records)
    counts = {p: per_metric(periods.get(p) or {}, "taken") for p in whole_.records}
    of_counts = {p: per_metric(tally, "taken") for p, tally in whole_.records.items()}
    metrics = {}
    for metric in METRICS:
        exact = {
            p: part_of(counts[p][m], shares[m], whole_.figures[p][m], of_counts[p][m])
            for p in whole_.records
            for m in (metric,)
        }
        metrics[metric] = _row_metric(metric, exact, whole_, setting)
    current = periods.get("current") or {}
    return {
        "code": named[0],
        "name": named[1],
        "metrics": metrics,
        "delivered": per_metric(current, "delivered")["postal_total"],
        "on_time_rate": on_time(current),
    }


def _row_metric(metric: str, exact: dict, whole_: Whole, setting) -> dict:
    actual, same = whole(exact["current"]), whole(exact["previous"])
    target, basis = unit_target(
        metric, exact["last_year"], setting, whole_.rate, whole_.province_targets[metric]
    )
    report_actual = whole_.figures["current"][metric]
    projection = whole_.projections[metric]
    if exact["current"] is None or projection is None:
        projected = None
    elif report_actual:
        projected = whole(exact["current"] * Fraction(projection, report_actual))
    else:
        projected = actual
    return {
        "actual": actual,
        "same_period": same,
        "growth": growth(actual, same),
        "previous_year": whole(exact["last_year"]),
        "target": target,
        "target_basis": basis,
        "progress": ratio(actual, target),
        "projection": projected,
        "on_track": None if None in (projected, target) else projected >= target,
    }
