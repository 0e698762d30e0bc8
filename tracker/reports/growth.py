"""The growth report (DESIGN 4): per metric, the year to date against the previous year, its target
and the same period last year, a projection of the year end, the share of all TTHC dossiers, the
months of both years and breakdowns by channel, office, sector, procedure and agency.

Where the figures come from (`series` states the rules once):
- every figure is a **stitched series**: records from the day the records start (the go-live
  date; without one, 1 January of a year with records) and the baselines managers entered for
  the days before, month by month. Targets, same periods, growth, shares, projections and the
  breakdowns all read it; each metric says which months came from where (`sources`);
- records are read from the rollups alone: whole months from the monthly tables, a month cut
  at the go-live day or at as_of from the daily ones. An unfiltered report reads only the office
  and procedure totals; a report filtered on one side of the catalogue reads that side from its
  totals and the other side's breakdowns from the cube (`figures.rollup_for`). Dossiers and
  events are never read, so the report costs the same for ten thousand or ten million dossiers;
- baselines are province-wide: a filtered report (and each breakdown row) takes its share of
  them by its part of the records (`series.shares_of`, `breakdowns`);
- the share's denominator (all TTHC dossiers of the province) always comes from the baselines.

The result is JSON as it stands: counts are ints, ratios floats rounded to 4 places (0.28 is 28%),
dates ISO strings; the growth rate is a float too, but targets are computed from its Decimal.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tracker.calendar import today_vn
from tracker.catalogue.models import Channel, Office, Procedure, Sector
from tracker.dossiers.queries import id_of
from tracker.errors import NotFound, ValidationFailed
from tracker.i18n import N_, reader_text
from tracker.reports import queries, series
from tracker.reports.breakdowns import BREAKDOWNS, UNITS, Whole, breakdowns
from tracker.reports.figures import (
    METRICS,
    ReportFilters,
    Window,
    catalogue_names,
    growth,
    next_month,
    on_time,
    per_metric,
    period_total,
    ratio,
    read_groups,
    read_months,
    read_periods,
    same_day_last_year,
    whole,
    years_with_records,
)
from tracker.reports.notes import notes_of
from tracker.reports.projection import project
from tracker.reports.targets import target_of, unit_target
from tracker.schemas import EARLIEST, LATEST

__all__ = [
    "BREAKDOWNS",
    "METRICS",
    "ReportFilters",
    "build_report",
    "filters_from_codes",
    "target_state",
    "year_totals",
]

# The metrics' names, given in the reader's language (`label` of each metric in the report).
METRIC_NAMES = {
    "two_way": N_("Two-way"),
    "one_way": N_("One-way (results only)"),
    "send_only": N_("Send-only"),
    "postal_total": N_("Postal total"),
}
FILTERED = ("channel", "office", "sector", "procedure")
# The periods every report reads: the year to date, the same period last year, last year.
PERIODS = ("current", "previous", "last_year")


def filters_from_codes(
    channel: str | None = None,
    office: str | None = None,
    sector: str | None = None,
    procedure: str | None = None,
) -> ReportFilters:
    """Catalogue codes to ids; a code the catalogue does not know is a 404 naming its field."""
    found: dict[str, int] = {}
    for name, model, code in (
        ("channel", Channel, channel),
        ("office", Office, office),
        ("sector", Sector, sector),
        ("procedure", Procedure, procedure),
    ):
        if code is not None:
            found[f"{name}_id"] = id_of(model, code, name, missing=NotFound)
    return ReportFilters(**found)


def records_starts(*years: int, go_live: date | None) -> dict[int, date | None]:
    """The first day each year reads from the records (`series.records_start`)."""
    recorded = years_with_records(*years) if go_live is None else set()
    return {year: series.records_start(year, go_live, year in recorded) for year in years}


def year_totals(year: int) -> dict:
    """Per metric, the whole year's stitched figure province-wide and where it comes from:
    `{"two_way": {"actual": 579, "basis": "baseline"}, ...}`; basis is "records" | "baseline" |
    "stitched" | "none" (actual None then)."""
    start = records_starts(year, go_live=queries.go_live_on())[year]
    period = series.window(date(year, 12, 31), start)
    rows = queries.baselines_of(year)
    records = read_periods({"year": period}, ReportFilters())["year"]
    figures = series.stitched(period.start, period.end, period.first, records, rows, {})
    basis = _basis(period, rows)
    return {
        metric: {"actual": whole(value), "basis": "none" if value is None else basis}
        for metric, value in figures.items()
    }


def target_state(year: int) -> dict:
    """The growth rate of a year and the targets it gives over the previous year's figures."""
    rate, is_default = queries.growth_rate(year)
    row = None if is_default else queries.growth_target(year)
    previous = year_totals(year - 1)
    return {
        "year": year,
        "rate": rate.normalize(),
        "is_default": is_default,
        "note": row.note if row else None,
        "updated_at": row.updated_at if row else None,
        "updated_by": queries.username_of(row.updated_by_id) if row else None,
        "targets": {m: target_of(previous[m]["actual"], rate) for m in METRICS},
        "previous": {"year": year - 1, **previous},
    }


def build_report(
    year: int, as_of: date | None = None, filters: ReportFilters | None = None
) -> dict:
    """The growth report of `year` from 1 January to `as_of` (default: today in Vietnam for the
    current year, 31 December for a past one), optionally narrowed by `filters`. A year outside
    2000..2100 or in the future, an as_of outside the year or after today: ValidationFailed."""
    filters = filters or ReportFilters()
    end = _check_period(year, as_of)
    go_live = queries.go_live_on()
    starts = records_starts(year - 1, year, go_live=go_live)
    periods = _periods(end, starts)
    baselines = {y: queries.baselines_of(y) for y in (year - 1, year)}
    groups = read_groups(periods, filters)
    sums = {name: period_total(groups, name, filters) for name in PERIODS}
    exact, province, shares = _stitched_totals(periods, sums, baselines, filters)
    months = read_months((periods["current"], periods["last_year"]), filters)
    this = series.year_series(periods["current"], months, baselines[year], shares)
    last = series.year_series(periods["last_year"], months, baselines[year - 1], shares)
    rate, rate_is_default = queries.growth_rate(year)
    settings = queries.office_targets(year)
    province_targets = {m: target_of(province["last_year"][m], rate) for m in METRICS}
    tthc = _all_tthc(periods, baselines) if filters.empty else dict.fromkeys(_TTHC)
    metrics = _metric_blocks(
        periods, exact, this, last, _targets(filters, exact, province_targets, settings, rate),
        tthc, _delivered(periods["current"], sums["current"]),
    )  # fmt: skip
    extra = {name: set(settings[name]) for name in UNITS} if filters.empty else {}
    names = catalogue_names(groups, filters, extra)
    shown = {p: {m: whole(exact[p][m]) for m in METRICS} for p in PERIODS}
    projections = {m: metrics[m]["projection"] for m in METRICS}
    whole_ = Whole(shown, sums, projections, rate, province_targets, settings)
    basis = {
        "current": _basis(periods["current"], baselines[year]),
        "previous": _basis(periods["last_year"], baselines[year - 1]),
    }
    return {
        "year": year,
        "as_of": end.isoformat(),
        "period": _span(periods["current"]),
        "same_period": _span(periods["previous"]),
        "filters": {name: _code(names, name, filters) for name in FILTERED},
        "rate": float(rate),
        "rate_is_default": rate_is_default,
        "go_live": _iso(go_live),
        "records_from": {"current": _iso(starts[year]), "previous": _iso(starts[year - 1])},
        "basis": basis,
        "baseline_share": None if filters.empty else {m: _float(shares[m]) for m in METRICS},
        "all_tthc": {key: whole(value) for key, value in tthc.items()},
        "metrics": metrics,
        "on_time_rate": {
            "current": on_time(sums["current"]) if periods["current"].first else None,
            "same_period": on_time(sums["previous"]) if periods["previous"].first else None,
        },
        "months": _months(periods, months, this, last),
        "breakdowns": breakdowns(groups, names, whole_, extra),
        "notes": notes_of(
            year, filters, baselines, basis, periods, shares, this, last, metrics, go_live
        ),
    }


def _periods(end: date, starts: dict[int, date | None]) -> dict[str, Window]:
    """The year to date, the same period last year and the whole of last year."""
    year = end.year
    return {
        "current": series.window(end, starts[year]),
        "previous": series.window(same_day_last_year(end), starts[year - 1]),
        "last_year": series.window(date(year - 1, 12, 31), starts[year - 1]),
    }


def _code(names: dict, name: str, filters: ReportFilters) -> str | None:
    row_id = getattr(filters, f"{name}_id")
    return None if row_id is None else names[name].get(row_id, (None,))[0]


def _check_period(year: int, as_of: date | None) -> date:
    today = today_vn()
    if not EARLIEST.year <= year <= LATEST.year:
        raise ValidationFailed.field("year", f"must be between {EARLIEST.year} and {LATEST.year}")
    if year > today.year:
        raise ValidationFailed.field("year", f"{year} has not begun (today is {today})")
    if as_of is None:
        return today if year == today.year else date(year, 12, 31)
    if as_of.year != year:
        raise ValidationFailed.field("as_of", f"must be a day of {year}")
    if as_of > today:
        raise ValidationFailed.field("as_of", f"must not be after today ({today})")
    return as_of


def _span(window: Window) -> dict[str, str]:
    return {"start": window.start.isoformat(), "end": window.end.isoformat()}


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _float(value) -> float | None:
    return None if value is None else ratio(value, 1)


def _basis(period: Window, rows: dict) -> str:
    """Where a year's figures come from: "records", "baseline", "stitched" (both) or "none"."""
    if period.first == period.start:
        return "records"
    if period.first is not None:
        return "stitched"
    return "baseline" if rows else "none"


# The figures of the periods ---------------------------------------------------------------


def _stitched_totals(periods: dict, sums: dict, baselines: dict, filters: ReportFilters):
    """(the report's exact figures, the province's figures as shown, the filter's shares of
    the baselines), per period and metric. A filtered report takes its share of the baseline
    in the province's figure, as a breakdown row does, so the two always agree."""
    province_sums = sums if filters.empty else read_periods(periods, ReportFilters())
    exact = {
        name: series.stitched(
            window.start, window.end, window.first, province_sums[name],
            baselines[window.end.year], {},
        )
        for name, window in periods.items()
    }  # fmt: skip
    province = {name: {m: whole(v) for m, v in figures.items()} for name, figures in exact.items()}
    if filters.empty:
        return exact, province, {}
    shares = series.shares_of(sums, province_sums)
    counted = {name: per_metric(sums[name], "taken") for name in periods}
    of_counted = {name: per_metric(province_sums[name], "taken") for name in periods}
    exact = {
        name: {
            m: series.part_of(counted[name][m], shares[m], province[name][m], of_counted[name][m])
            for m in METRICS
        }
        for name in periods
    }
    return exact, province, shares


def _targets(filters, exact, province_targets, settings, rate: Decimal) -> dict[str, tuple]:
    """Per metric (target, how it was set). The province's is its own; a report narrowed to
    one office or one channel alone takes that unit's target (`targets.unit_target`)."""
    if filters.empty:
        return {m: (t, None if t is None else "growth") for m, t in province_targets.items()}
    narrowed = {name for name in FILTERED if getattr(filters, f"{name}_id") is not None}
    setting = None
    if len(narrowed) == 1 and (unit := narrowed.pop()) in UNITS:
        setting = settings[unit].get(getattr(filters, UNITS[unit]))
    return {
        m: unit_target(m, exact["last_year"][m], setting, rate, province_targets[m])
        for m in METRICS
    }


_TTHC = ("current", "previous_year", "same_period")


def _all_tthc(periods: dict, baselines: dict) -> dict:
    current, previous = periods["current"], periods["previous"]
    last = baselines[previous.end.year]
    return {
        "current": series.all_tthc(baselines[current.end.year], current.start, current.end),
        "previous_year": series.all_tthc(last, previous.start, date(previous.end.year, 12, 31)),
        "same_period": series.all_tthc(last, previous.start, previous.end),
    }


def _delivered(period: Window, tally) -> dict[str, int | None]:
    """Results delivered come from the records alone (a baseline has none)."""
    if period.first is None:
        return dict.fromkeys(METRICS)
    return per_metric(tally, "delivered")


# Assembling the report --------------------------------------------------------------------


def _metric_blocks(
    periods: dict, exact: dict, this, last, targets: dict, tthc: dict, delivered: dict
) -> dict:
    end = periods["current"].end
    elapsed = (end - periods["current"].start).days + 1
    days_left = (date(end.year, 12, 31) - end).days
    same_month = periods["previous"].end.month
    blocks = {}
    for metric in METRICS:
        values = {p: exact[p][metric] for p in PERIODS}
        actual, previous, same = (whole(values[p]) for p in ("current", "last_year", "previous"))
        target, target_basis = targets[metric]
        projected = project(
            values["current"],
            values["last_year"],
            values["previous"],
            seasonal_ok=last.seasonal_until(metric, same_month),
            elapsed=elapsed,
            days_left=days_left,
            best_rate=this.best_daily_rate(metric, end),
        )
        blocks[metric] = {
            "label": reader_text(METRIC_NAMES[metric]),
            "actual": actual,
            "delivered": delivered[metric],
            "previous_year": previous,
            "target": target,
            "target_basis": target_basis,
            "progress": ratio(actual, target),
            "same_period": same,
            "growth": growth(actual, same),
            "projection": projected.value,
            "projection_method": projected.method,
            "projection_reason": projected.reason,
            "projection_bound": projected.bound,
            "on_track": None if None in (projected.value, target) else projected.value >= target,
            "share": ratio(actual, tthc["current"]),
            "previous_year_share": ratio(previous, tthc["previous_year"]),
            "same_period_share": ratio(same, tthc["same_period"]),
            "sources": {"current": this.sources[metric], "previous": last.sources[metric]},
        }
    return blocks


def _months(periods: dict, months: dict, this, last) -> list[dict]:
    """The twelve months of both years: each metric's stitched figure and, where the records
    hold the month, the results delivered (None: after the period, or unknown)."""
    sides = (("current", this, periods["current"]), ("previous", last, periods["last_year"]))
    entries = []
    for index in range(12):
        entry: dict = {"month": index + 1}
        for side, stitched, period in sides:
            month = date(period.end.year, index + 1, 1)
            if month > period.end:
                entry[side] = None
                continue
            figures = {m: whole(stitched.values[m][index]) for m in METRICS}
            recorded = period.first is not None and period.first < next_month(month)
            tally = months.get(month) or {}
            delivered = per_metric(tally, "delivered")["postal_total"]
            figures["delivered"] = delivered if recorded else None
            entry[side] = figures
        entries.append(entry)
    return entries
