"""Where the reports' figures come from: the rollups, the baselines managers entered, and the
catalogue's names. Never the dossiers or their events: a report costs the same for any number of
dossiers.

Each figure is read from the smallest rollup that holds the columns it groups by and those its
filters narrow (`rollup_for`): the office totals (office x channel) or the procedure totals
(procedure x agency, sectors through the procedures) of `monthly_totals` / `daily_totals`, else
the cube (`monthly_counts` / `daily_counts`, every column). An unfiltered report reads only the
totals; a filter on one side still reads that side's figures from its totals, and the other
side's breakdowns from the cube narrowed by the filter. Whole months come from the monthly
table, the days of a month not yet over from the daily one.

A tally holds sums per service form and measure: `tally["two_way"]["taken"]`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import BigInteger, Table, cast, func, literal, select, union_all

from tracker.catalogue.models import Agency, Channel, Office, Procedure, Sector
from tracker.extensions import db
from tracker.reports.models import (
    TOTAL_DIMENSIONS,
    Baseline,
    DailyCount,
    DailyTotal,
    MonthlyCount,
    MonthlyTotal,
)

METRICS = ("two_way", "one_way", "send_only", "postal_total")
# The service form each metric counts; the postal total is the three together.
FORM_OF = {"two_way": "two_way", "one_way": "return_only", "send_only": "send_only"}
# The rollup columns grouped in the database; sectors are summed from procedures in Python.
GROUPED = ("channel_id", "office_id", "procedure_id", "agency_id")
SUMMED = ("taken", "delivered", "early", "on_time", "late")

# form -> measure -> count
Tally = defaultdict[str, Counter]


@dataclass(frozen=True)
class ReportFilters:
    """Catalogue ids to narrow the report to; None: no filter."""

    channel_id: int | None = None
    office_id: int | None = None
    sector_id: int | None = None
    procedure_id: int | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    @property
    def columns(self) -> set[str]:
        """The rollup columns the filters narrow (a sector narrows the procedures)."""
        narrowed = {name for name in ("channel_id", "office_id") if getattr(self, name) is not None}
        if self.procedure_id is not None or self.sector_id is not None:
            narrowed.add("procedure_id")
        return narrowed


@dataclass(frozen=True)
class Window:
    """1 January to `end`: whole months before `cut` read from a monthly rollup and, when `end`
    is not the last day of its month, the days from `cut` to `end` from a daily one."""

    end: date

    @property
    def start(self) -> date:
        return date(self.end.year, 1, 1)

    @property
    def month_over(self) -> bool:
        return (self.end + timedelta(days=1)).day == 1

    @property
    def cut(self) -> date:
        return self.end + timedelta(days=1) if self.month_over else self.end.replace(day=1)


def same_day_last_year(day: date) -> date:
    """The same calendar day a year earlier; 29 February falls back to the 28th."""
    if day.month == 2 and day.day == 29:
        return date(day.year - 1, 2, 28)
    return day.replace(year=day.year - 1)


# The rollups ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollup:
    """A rollup read under the cube's column names: the cube (`dimension` None) or one dimension
    of the totals, whose member and partner stand for two of the cube's columns."""

    dimension: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return GROUPED if self.dimension is None else TOTAL_DIMENSIONS[self.dimension]

    def table(self, daily: bool) -> Table:
        if self.dimension is None:
            return (DailyCount if daily else MonthlyCount).__table__
        return (DailyTotal if daily else MonthlyTotal).__table__

    def column(self, table: Table, name: str):
        """The column of `table` holding the cube's column `name`."""
        if self.dimension is None:
            return table.c[name]
        member, partner = TOTAL_DIMENSIONS[self.dimension]
        return table.c[{member: "member_id", partner: "partner_id"}[name]]

    def where(self, table: Table, filters: ReportFilters) -> list:
        """This rollup's rows (of its dimension) that the filters keep."""
        clauses = [] if self.dimension is None else [table.c.dimension == self.dimension]
        for name in ("channel_id", "office_id", "procedure_id"):
            if getattr(filters, name) is not None:
                clauses.append(self.column(table, name) == getattr(filters, name))
        if filters.sector_id is not None:
            of_sector = select(Procedure.id).where(Procedure.sector_id == filters.sector_id)
            clauses.append(self.column(table, "procedure_id").in_(of_sector))
        return clauses


CUBE = Rollup()
TOTALS = tuple(Rollup(dimension) for dimension in TOTAL_DIMENSIONS)


def rollup_for(columns: Iterable[str], filters: ReportFilters) -> Rollup:
    """The rollup to group by `columns` under `filters`: the first totals dimension holding
    them and every column the filters narrow (the office totals when unfiltered), else the cube.
    A province's cube has ~80,000 rows a month (offices x procedures), its totals ~3,000."""
    needed = set(columns) | filters.columns
    return next((rollup for rollup in TOTALS if needed <= set(rollup.columns)), CUBE)


def _sums(columns) -> list:
    # PostgreSQL sums bigints (a sum of sums) as numeric: cast, not thousands of Decimals.
    return [cast(func.sum(columns[measure]), BigInteger).label(measure) for measure in SUMMED]


def years_with_records(*years: int) -> set[int]:
    """The years among `years` with at least one rollup row: each is one index probe (the
    first month of the year) in the totals, never a scan."""
    table = MonthlyTotal.__table__
    firsts = [
        select(func.min(table.c.month))
        .where(table.c.month >= date(year, 1, 1), table.c.month < date(year + 1, 1, 1))
        .scalar_subquery()
        for year in years
    ]
    row = db.session.execute(select(*firsts)).one()
    return {year for year, first in zip(years, row, strict=True) if first is not None}


def read_totals(window: Window) -> Tally:
    """The whole months of `window` province-wide, from the office totals."""
    rollup = rollup_for((), ReportFilters())
    table = rollup.table(daily=False)
    statement = (
        select(table.c.service_form, *_sums(table.c))
        .where(table.c.month >= window.start, table.c.month < window.cut)
        .where(*rollup.where(table, ReportFilters()))
        .group_by(table.c.service_form)
    )
    tally: Tally = defaultdict(Counter)
    for row in db.session.execute(statement).mappings():
        _add(tally, row)
    return tally


def read_months(current: Window, previous: Window, filters: ReportFilters) -> dict[date, Tally]:
    """The whole months of both years (the current one up to as_of's month), per month. The
    month of as_of, when not over, is what the year to date adds to them (`period_total`)."""
    rollup = rollup_for((), filters)
    table = rollup.table(daily=False)
    statement = (
        select(table.c.month, table.c.service_form, *_sums(table.c))
        .where(table.c.month >= previous.start, table.c.month < current.cut)
        .where(*rollup.where(table, filters))
        .group_by(table.c.month, table.c.service_form)
    )
    months: dict[date, Tally] = defaultdict(lambda: defaultdict(Counter))
    for row in db.session.execute(statement).mappings():
        _add(months[row["month"]], row)
    return months


def read_groups(
    current: Window, previous: Window, filters: ReportFilters
) -> dict[str, dict[int, dict[str, Tally]]]:
    """Per grouped column, per id, per period ("current": year to date, "previous": the same
    period last year): the sums by service form. One query per rollup the columns need: the
    office and the procedure totals when unfiltered."""
    by_rollup: dict[Rollup, list[str]] = defaultdict(list)
    for column in GROUPED:
        by_rollup[rollup_for((column,), filters)].append(column)
    groups: dict = {column: {} for column in GROUPED}
    for rollup, columns in by_rollup.items():
        statement = _grouped(rollup, columns, current, previous, filters)
        for row in db.session.execute(statement).mappings():
            by_period = groups[row["dim"]].setdefault(row["key"], {})
            if row["period"] not in by_period:
                by_period[row["period"]] = defaultdict(Counter)
            _add(by_period[row["period"]], row)
    return groups


def _grouped(
    rollup: Rollup, columns: list[str], current: Window, previous: Window, filters: ReportFilters
):
    """The rows of both periods are first summed over their months and days, in one pass (a CTE
    the database materialises: tens of months of rows become one row per key and period), and
    the groupings by each of `columns` then run over that small set."""
    slices = []
    for period, window in (("current", current), ("previous", previous)):
        slices.append(_slice(rollup, columns, False, period, window.start, window.cut, filters))
        if not window.month_over:
            end = window.end + timedelta(days=1)
            slices.append(_slice(rollup, columns, True, period, window.cut, end, filters))
    rows = union_all(*slices).subquery("slices")
    keys = [rows.c.period, *(rows.c[column] for column in columns), rows.c.service_form]
    summed = select(*keys, *_sums(rows.c)).group_by(*keys).cte("summed")
    return union_all(
        *(
            select(literal(column).label("dim"), summed.c.period, summed.c[column].label("key"))
            .add_columns(summed.c.service_form, *_sums(summed.c))
            .group_by(summed.c.period, summed.c[column], summed.c.service_form)
            for column in columns
        )
    )


def _slice(
    rollup: Rollup,
    columns: list[str],
    daily: bool,
    period: str,
    start: date,
    before: date,
    filters: ReportFilters,
):
    table = rollup.table(daily)
    at = table.c.day if daily else table.c.month
    return (
        select(literal(period).label("period"))
        .add_columns(*(rollup.column(table, name).label(name) for name in columns))
        .add_columns(table.c.service_form, *(table.c[m] for m in SUMMED))
        .where(at >= start, at < before, *rollup.where(table, filters))
    )


def period_total(groups: dict, period: str, filters: ReportFilters) -> Tally:
    """The whole of `period`: the groups of one column add up to it (every rollup row has an id
    in each column). The column is taken from the rollup `read_months` reads, so the month of
    as_of (the year to date less its whole months) comes from a single rollup."""
    column = rollup_for((), filters).columns[0]
    return merged([periods.get(period) for periods in groups[column].values()])


def _add(tally: Tally, row) -> None:
    tally[row["service_form"]].update({m: row[m] for m in SUMMED})


def catalogue_names(groups: dict, filters: ReportFilters) -> dict[str, dict[int, tuple]]:
    """(code, name) per id of what the report shows; procedures carry their sector id too."""

    def ids(column: str, extra: int | None) -> set[int]:
        return set(groups[column]) | ({extra} if extra is not None else set())

    def load(*columns, among: set[int]) -> dict[int, tuple]:
        rows = db.session.execute(select(*columns).where(columns[0].in_(among))) if among else []
        return {row[0]: tuple(row[1:]) for row in rows}

    procedures = load(
        Procedure.id,
        Procedure.code,
        Procedure.name,
        Procedure.sector_id,
        among=ids("procedure_id", filters.procedure_id),
    )
    sector_ids = {row[2] for row in procedures.values()}
    if filters.sector_id is not None:
        sector_ids.add(filters.sector_id)
    channels = ids("channel_id", filters.channel_id)
    offices = ids("office_id", filters.office_id)
    return {
        "channel": load(Channel.id, Channel.code, Channel.name_vi, among=channels),
        "office": load(Office.id, Office.code, Office.name, among=offices),
        "agency": load(Agency.id, Agency.code, Agency.name, among=ids("agency_id", None)),
        "procedure": procedures,
        "sector": load(Sector.id, Sector.code, Sector.name_vi, among=sector_ids),
    }


# The baselines ---------------------------------------------------------------------------


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def baseline_figure(rows: dict[int, Baseline], name: str, start: date, end: date) -> Decimal | None:
    """A baseline figure over start..end (within one year): the year's own row for the whole
    year, else the months covering the period, a month cut short counting its share of days;
    None when a month needed has no such figure."""
    year_row = rows.get(0)
    whole_year = (start, end) == (date(start.year, 1, 1), date(start.year, 12, 31))
    if whole_year and year_row is not None and getattr(year_row, name) is not None:
        return Decimal(getattr(year_row, name))
    total = Decimal(0)
    month = start.replace(day=1)
    while month <= end:
        following = next_month(month)
        row = rows.get(month.month)
        value = None if row is None else getattr(row, name)
        if value is None:
            return None
        first, last = max(start, month), min(end, following - timedelta(days=1))
        total += Decimal(value) * ((last - first).days + 1) / (following - month).days
        month = following
    return total


def baseline_metrics(rows: dict[int, Baseline], start: date, end: date) -> dict[str, int | None]:
    """The metrics from the baselines; the postal total adds the figures known (the 2017 seed
    has no send-only figure, yet its postal total is two-way + one-way)."""
    figures = {m: whole(baseline_figure(rows, m, start, end)) for m in FORM_OF}
    known = [value for value in figures.values() if value is not None]
    figures["postal_total"] = sum(known) if known else None
    return figures


def all_tthc(current: Window, previous: Window, baselines: dict) -> dict[str, Decimal | None]:
    this, last = baselines[current.end.year], baselines[previous.end.year]
    year_end = date(previous.end.year, 12, 31)
    return {
        "current": baseline_figure(this, "all_tthc", current.start, current.end),
        "previous_year": baseline_figure(last, "all_tthc", previous.start, year_end),
        "same_period": baseline_figure(last, "all_tthc", previous.start, previous.end),
    }


# Tallies ---------------------------------------------------------------------------------


def merged(tallies) -> Tally:
    total: Tally = defaultdict(Counter)
    for tally in tallies:
        add_into(total, tally)
    return total


def add_into(total: Tally, tally: Tally | None) -> None:
    for form, counts in (tally or {}).items():
        total[form].update(counts)


def per_metric(tally: Tally, measure: str) -> dict[str, int]:
    figures = {
        metric: tally[form][measure] if form in tally else 0 for metric, form in FORM_OF.items()
    }
    figures["postal_total"] = sum(figures.values())
    return figures


def whole(value: Decimal | None) -> int | None:
    return None if value is None else int(value.to_integral_value(rounding=ROUND_HALF_UP))
