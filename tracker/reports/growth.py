"""The growth report (DESIGN 4): per metric, the year to date against the previous year, its target
and the same period last year, a projection of the year end, the share of all TTHC dossiers, the
months of both years and breakdowns by channel, office, sector, procedure and agency.

Where the figures come from:
- a year with records (any row of `monthly_totals` in it) is read from the rollups alone: whole
  months from the monthly tables, the days of a month not yet over from the daily ones. An
  unfiltered report reads only the office and procedure totals (`monthly_totals`,
  `daily_totals`). A report filtered on one side of the catalogue (channel and office, or
  procedure and sector) reads that side from its totals and the other side's breakdowns from
  the cube (`monthly_counts`, `daily_counts`) narrowed by the filter; filters on both sides read
  the cube alone (`tracker.reports.figures.rollup_for`). Dossiers and events are never read, so
  the report costs the same for ten thousand or ten million dossiers;
- a year without records uses the figures managers entered (`report_baselines`). They are
  province-wide, so a filtered report cannot use them (basis "none", with a note);
- the share's denominator (all TTHC dossiers of the province) always comes from the baselines.

The result is JSON as it stands: counts are ints, ratios floats rounded to 4 places (0.28 is 28%),
dates ISO strings; the growth rate is a float too, but targets are computed from its Decimal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from tracker.calendar import today_vn
from tracker.catalogue.models import Channel, Office, Procedure, Sector
from tracker.dossiers.queries import id_of
from tracker.errors import NotFound, ValidationFailed
from tracker.reports import queries
from tracker.reports.figures import (
    METRICS,
    ReportFilters,
    Tally,
    Window,
    add_into,
    all_tthc,
    baseline_metrics,
    catalogue_names,
    merged,
    next_month,
    per_metric,
    period_total,
    read_groups,
    read_months,
    read_totals,
    same_day_last_year,
    whole,
    years_with_records,
)
from tracker.reports.models import Baseline
from tracker.schemas import EARLIEST, LATEST

__all__ = ["METRICS", "ReportFilters", "build_report", "filters_from_codes", "year_totals"]

METRIC_LABELS = {
    "two_way": "Hai chiều",
    "one_way": "Một chiều (chỉ trả kết quả)",
    "send_only": "Chỉ gửi hồ sơ",
    "postal_total": "Tổng qua bưu chính",
}
BREAKDOWNS = ("channel", "office", "sector", "procedure", "agency")
FILTERED = ("channel", "office", "sector", "procedure")
PLACES = Decimal("0.0001")


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


def year_totals(year: int) -> dict:
    """Per metric, the whole year's figure province-wide and where it comes from:
    `{"two_way": {"actual": 579, "basis": "baseline"}, ...}`; basis is "records" | "baseline" |
    "none" (actual None then)."""
    window = Window(date(year, 12, 31))
    if year in years_with_records(year):
        figures = per_metric(read_totals(window), "taken")
        return {metric: {"actual": figures[metric], "basis": "records"} for metric in METRICS}
    figures = baseline_metrics(queries.baselines_of(year), window.start, window.end)
    return {
        metric: {"actual": value, "basis": "none" if value is None else "baseline"}
        for metric, value in figures.items()
    }


def build_report(
    year: int, as_of: date | None = None, filters: ReportFilters | None = None
) -> dict:
    """The growth report of `year` from 1 January to `as_of` (default: today in Vietnam for the
    current year, 31 December for a past one), optionally narrowed by `filters`. A year outside
    2000..2100 or in the future, an as_of outside the year or after today: ValidationFailed."""
    filters = filters or ReportFilters()
    current = Window(_check_period(year, as_of))
    previous = Window(same_day_last_year(current.end))
    baselines = {y: queries.baselines_of(y) for y in (year - 1, year)}
    usable = baselines if filters.empty else {year - 1: {}, year: {}}
    with_records = years_with_records(year - 1, year)
    months = read_months(current, previous, filters)
    groups = read_groups(current, previous, filters)
    names = catalogue_names(groups, filters)
    sums = {period: period_total(groups, period, filters) for period in ("current", "previous")}
    this = _current_year(current, year in with_records, months, sums, usable[year])
    last = _previous_year(previous, year - 1 in with_records, months, sums, usable[year - 1])
    tthc = all_tthc(current, previous, usable)
    rate, rate_is_default = queries.growth_rate(year)
    return {
        "year": year,
        "as_of": current.end.isoformat(),
        "period": _span(current),
        "same_period": _span(previous),
        "filters": {name: _code(names, name, filters) for name in FILTERED},
        "rate": float(rate),
        "rate_is_default": rate_is_default,
        "basis": {"current": this["basis"], "previous": last["basis"]},
        "all_tthc": {key: whole(value) for key, value in tthc.items()},
        "metrics": _metric_blocks(current, this, last, rate, tthc),
        "on_time_rate": {"current": this["on_time_rate"], "same_period": last["on_time_rate"]},
        "months": [
            {
                "month": index + 1,
                "current": this["months"][index],
                "previous": last["months"][index],
            }
            for index in range(12)
        ],
        "breakdowns": _breakdowns(groups, names, last["basis"] == "records"),
        "notes": _notes(year, filters, baselines, this, last),
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


# The figures of the two years -------------------------------------------------------------


def _current_year(window: Window, recorded: bool, months: dict, sums: dict, rows: dict) -> dict:
    """basis, total (year to date per metric), delivered, on_time_rate and the 12 months (None
    after as_of) of the report's year; `sums` holds each period's tally."""
    year = window.end.year
    if not recorded:
        return _from_baselines(rows, year, window.end)
    whole_months = window.end.month if window.month_over else window.end.month - 1
    tallies = [merged([months.get(date(year, m, 1))]) for m in range(1, whole_months + 1)]
    if not window.month_over:
        # The month of as_of: what the year to date (its days included) adds to the months.
        to_date = merged([sums["current"]])
        for tally in tallies:
            for form, counts in tally.items():
                to_date[form].subtract(counts)
        tallies.append(to_date)
    return _from_records(tallies)


def _previous_year(window: Window, recorded: bool, months: dict, sums: dict, rows: dict) -> dict:
    """The same for the whole previous year, with `same`: 1 January to the same day."""
    year = window.end.year
    if not recorded:
        side = _from_baselines(rows, year, date(year, 12, 31))
        side["same"] = baseline_metrics(rows, window.start, window.end)
        return side
    side = _from_records([merged([months.get(date(year, m, 1))]) for m in range(1, 13)])
    same = sums["previous"]
    side["same"] = per_metric(same, "taken")
    side["on_time_rate"] = _on_time(same)
    return side


def _from_records(tallies: list[Tally]) -> dict:
    total = merged(tallies)
    return {
        "basis": "records",
        "total": per_metric(total, "taken"),
        "delivered": per_metric(total, "delivered"),
        "on_time_rate": _on_time(total),
        "months": [_month_entry(tally) for tally in tallies] + [None] * (12 - len(tallies)),
    }


def _from_baselines(rows: dict[int, Baseline], year: int, until: date) -> dict:
    if not rows:
        return {
            "basis": "none",
            "total": dict.fromkeys(METRICS),
            "same": dict.fromkeys(METRICS),
            "delivered": dict.fromkeys(METRICS),
            "on_time_rate": None,
            "months": [None] * 12,
        }
    months = []
    for month in range(1, 13):
        first = date(year, month, 1)
        last = min(until, next_month(first) - timedelta(days=1))
        entry = {**baseline_metrics(rows, first, last), "delivered": None}
        months.append(entry if first <= until else None)
    return {
        "basis": "baseline",
        "total": baseline_metrics(rows, date(year, 1, 1), until),
        "delivered": dict.fromkeys(METRICS),
        "on_time_rate": None,
        "months": months,
    }


# Assembling the report --------------------------------------------------------------------


def _metric_blocks(current: Window, this: dict, last: dict, rate: Decimal, all_tthc: dict) -> dict:
    elapsed = (current.end - current.start).days + 1
    year_days = (date(current.end.year + 1, 1, 1) - current.start).days
    blocks = {}
    for metric in METRICS:
        actual, previous = this["total"][metric], last["total"][metric]
        same = last["same"][metric]
        target = queries.target_of(previous, rate)
        if actual is None:
            projection, method = None, None
        elif last["basis"] == "records" and same:
            projection, method = whole(Decimal(actual) * previous / same), "seasonal"
        else:
            projection, method = whole(Decimal(actual) * year_days / elapsed), "linear"
        blocks[metric] = {
            "label": METRIC_LABELS[metric],
            "actual": actual,
            "delivered": this["delivered"][metric],
            "previous_year": previous,
            "target": target,
            "progress": _ratio(actual, target),
            "same_period": same,
            "growth": _growth(actual, same),
            "projection": projection,
            "projection_method": method,
            "on_track": None if None in (projection, target) else projection >= target,
            "share": _ratio(actual, all_tthc["current"]),
            "previous_year_share": _ratio(previous, all_tthc["previous_year"]),
            "same_period_share": _ratio(same, all_tthc["same_period"]),
        }
    return blocks


def _breakdowns(groups: dict, names: dict, with_same: bool) -> dict[str, list[dict]]:
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
    return {name: _breakdown(source[name], names[name], with_same) for name in BREAKDOWNS}


def _breakdown(periods_by_id: dict, names: dict, with_same: bool) -> list[dict]:
    rows = []
    for key, periods in periods_by_id.items():
        current = periods.get("current", {})
        actual = per_metric(current, "taken")
        if with_same:
            same = per_metric(periods.get("previous", {}), "taken")
        else:
            same = dict.fromkeys(METRICS)
        code, name = names.get(key, (None, None))[:2]
        metrics = {
            m: {"actual": actual[m], "same_period": same[m], "growth": _growth(actual[m], same[m])}
            for m in METRICS
        }
        delivered = per_metric(current, "delivered")["postal_total"]
        rows.append(
            {
                "code": code,
                "name": name,
                "metrics": metrics,
                "delivered": delivered,
                "on_time_rate": _on_time(current),
            }
        )
    rows.sort(key=lambda row: (-row["metrics"]["postal_total"]["actual"], row["code"] or ""))
    return rows


def _notes(year: int, filters: ReportFilters, baselines: dict, this: dict, last: dict) -> list:
    """What the reader must know about figures left out, in Vietnamese."""
    notes = []
    for y, side in ((year, this), (year - 1, last)):
        if side["basis"] == "none" and baselines[y] and not filters.empty:
            notes.append(
                _note(
                    "baseline_not_filterable",
                    f"Năm {y} chỉ có số liệu tổng hợp toàn tỉnh, không tách được theo bộ lọc.",
                )
            )
        elif side["basis"] == "none":
            notes.append(_note("no_figures", f"Năm {y} chưa có dữ liệu hay số liệu tổng hợp."))
        elif side["basis"] == "records" and _has_postal_figures(baselines[y]):
            # The year the system went live: its records may miss the months before, and the
            # baseline entered for that year is not added to them. Say so rather than show a
            # target built on a few weeks without a word.
            notes.append(
                _note(
                    "baseline_set_aside",
                    f"Năm {y} có dữ liệu ghi nhận trong hệ thống nên số liệu tổng hợp đã nhập cho"
                    f" năm này không được dùng; nếu hệ thống bắt đầu giữa năm {y}, các tháng"
                    " trước đó không được tính.",
                )
            )
    if last["basis"] == "none":
        notes.append(_note("no_target", "Chưa tính được kế hoạch khi thiếu số liệu năm trước."))
    elif last["same"]["postal_total"] is None:
        notes.append(
            _note("no_same_period", f"Số liệu năm {year - 1} không đủ theo tháng để so cùng kỳ.")
        )
    if not filters.empty:
        notes.append(
            _note("share_unfiltered_only", "Tỷ trọng trên tổng hồ sơ TTHC chỉ tính cho toàn tỉnh.")
        )
    return notes


def _has_postal_figures(rows: dict[int, Baseline]) -> bool:
    return any(
        getattr(row, name) is not None
        for row in rows.values()
        for name in ("two_way", "one_way", "send_only")
    )


def _note(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


# Small arithmetic -------------------------------------------------------------------------


def _month_entry(tally: Tally) -> dict[str, int]:
    return {
        **per_metric(tally, "taken"),
        "delivered": per_metric(tally, "delivered")["postal_total"],
    }


def _on_time(tally: Tally) -> float | None:
    """(early + on time) / (early + on time + late); None when nothing with a due date was
    delivered."""
    good = sum(counts["early"] + counts["on_time"] for counts in tally.values())
    late = sum(counts["late"] for counts in tally.values())
    return _ratio(good, good + late)


def _ratio(part: int | Decimal | None, of: int | Decimal | None) -> float | None:
    if part is None or not of:
        return None
    return float((Decimal(part) / Decimal(of)).quantize(PLACES, rounding=ROUND_HALF_UP))


def _growth(actual: int | None, before: int | None) -> float | None:
    return None if actual is None or before is None else _ratio(actual - before, before)
