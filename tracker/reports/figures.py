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

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sqlalchemy import BigInteger, Date, Table, cast, func, literal, select, union_all

from tracker.catalogue.models import Agency, Channel, Office, Procedure, Sector
from tracker.extensions import db
from tracker.reports.models import (
    TOTAL_DIMENSIONS,
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
    """1 January to `end`, of which the rollups hold the days from `first` on (1 January, or the
    go-live day); `first` None: no day of it is read from the rollups (`series.window`)."""

    end: date
    first: date | None

    @property
    def start(self) -> date:
        return date(self.end.year, 1, 1)

    @property
    def pieces(self) -> list[tuple[bool, date | None, date, date]]:
        """(daily, month, from, before): the slices holding `first`..`end`. Whole months come
        from the monthly rollup (`month` None: each row is its own month); a month cut at either
        end (the go-live day, a day of a month not over) from the daily one, named by `month`."""
        if self.first is None:
            return []
        after = self.end + timedelta(days=1)
        pieces: list[tuple[bool, date | None, date, date]] = []
        whole_from = self.first
        if self.first.day != 1:
            whole_from = next_month(self.first)
            pieces.append((True, self.first.replace(day=1), self.first, min(whole_from, after)))
        tail_from = after if after.day == 1 else self.end.replace(day=1)
        if whole_from < tail_from:
            pieces.append((False, None, whole_from, tail_from))
        if whole_from <= tail_from < after:
            pieces.append((True, tail_from, tail_from, after))
        return pieces


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


def read_periods(periods: dict[str, Window], filters: ReportFilters) -> dict[str, Tally]:
    """The whole of each period under `filters`, from the office totals when unfiltered."""
    rollup = rollup_for((), filters)
    slices = [
        _slice(rollup, [], piece, literal(name).label("period"), filters)
        for name, window in periods.items()
        for piece in window.pieces
    ]
    tallies: dict[str, Tally] = {name: defaultdict(Counter) for name in periods}
    for row in _summed(slices, "period"):
        _add(tallies[row["period"]], row)
    return tallies


def read_months(windows: Iterable[Window], filters: ReportFilters) -> dict[date, Tally]:
    """The records of each month of `windows` (a month cut at the go-live day or at as_of holds
    the days read), per month."""
    rollup = rollup_for((), filters)
    slices = []
    for window in windows:
        for piece in window.pieces:
            daily, month = piece[0], piece[1]
            table = rollup.table(daily)
            label = (literal(month, Date) if daily else table.c.month).label("month")
            slices.append(_slice(rollup, [], piece, label, filters))
    months: dict[date, Tally] = defaultdict(lambda: defaultdict(Counter))
    for row in _summed(slices, "month"):
        _add(months[row["month"]], row)
    return months


def _summed(slices: list, label: str) -> list:
    """The rows of `slices` summed per `label` (their first column) and service form."""
    if not slices:
        return []
    rows = union_all(*slices).subquery("slices")
    keys = (rows.c[label], rows.c.service_form)
    return list(db.session.execute(select(*keys, *_sums(rows.c)).group_by(*keys)).mappings())


def read_groups(
    periods: dict[str, Window], filters: ReportFilters
) -> dict[str, dict[int, dict[str, Tally]]]:
    """Per grouped column, per id, per period (e.g. "current": the year to date, "previous":
    the same period last year, "last_year": the whole of it): the sums by service form. One
    query per rollup the columns need: the office and the procedure totals when unfiltered."""
    by_rollup: dict[Rollup, list[str]] = defaultdict(list)
    for column in GROUPED:
        by_rollup[rollup_for((column,), filters)].append(column)
    groups: dict = {column: {} for column in GROUPED}
    for rollup, columns in by_rollup.items():
        statement = _grouped(rollup, columns, periods, filters)
        if statement is None:
            continue
        for row in db.session.execute(statement).mappings():
            by_period = groups[row["dim"]].setdefault(row["key"], {})
            if row["period"] not in by_period:
                by_period[row["period"]] = defaultdict(Counter)
            _add(by_period[row["period"]], row)
    return groups


def _grouped(
    rollup: Rollup, columns: list[str], periods: dict[str, Window], filters: ReportFilters
):
    """The rows of every period are first summed over their months and days, in one pass (a CTE
    the database materialises: tens of months of rows become one row per key and period), and
    the groupings by each of `columns` then run over that small set."""
    slices = [
        _slice(rollup, columns, piece, literal(name).label("period"), filters)
        for name, window in periods.items()
        for piece in window.pieces
    ]
    if not slices:
        return None
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


def _slice(rollup: Rollup, columns: list[str], piece: tuple, label, filters: ReportFilters):
    """The rows of one piece of a window (`Window.pieces`), `label` first."""
    daily, _month, start, before = piece
    table = rollup.table(daily)
    at = table.c.day if daily else table.c.month
    return (
        select(label)
        .add_columns(*(rollup.column(table, name).label(name) for name in columns))
        .add_columns(table.c.service_form, *(table.c[m] for m in SUMMED))
        .where(at >= start, at < before, *rollup.where(table, filters))
    )


def period_total(groups: dict, period: str, filters: ReportFilters) -> Tally:
    """The whole of `period`: the groups of one column add up to it (every rollup row has an id
    in each column), taken from the rollup `read_months` reads."""
    column = rollup_for((), filters).columns[0]
    return merged([periods.get(period) for periods in groups[column].values()])


def _add(tally: Tally, row) -> None:
    tally[row["service_form"]].update({m: row[m] for m in SUMMED})


def catalogue_names(
    groups: dict, filters: ReportFilters, extra: dict[str, set[int]] | None = None
) -> dict[str, dict[int, tuple]]:
    """(code, name) per id of what the report shows (and of `extra` ids by breakdown);
    procedures carry their sector id too."""
    extra = extra or {}

    def ids(column: str, also: int | None) -> set[int]:
        more = extra.get(column.removesuffix("_id"), set())
        return set(groups[column]) | more | ({also} if also is not None else set())

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


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


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


def whole(value: Fraction | Decimal | int | None) -> int | None:
    """A figure as shown: the nearest whole number, halves away from zero."""
    if value is None:
        return None
    exact = Fraction(value)
    rounded = math.floor(abs(exact) + Fraction(1, 2))
    return rounded if exact >= 0 else -rounded


# Ratios ----------------------------------------------------------------------------------

PLACES = Decimal("0.0001")


def ratio(part: int | Fraction | None, of: int | Fraction | None) -> float | None:
    """part / of as a float of 4 places (0.28 is 28%); None when either is unknown or of is 0."""
    if part is None or not of:
        return None
    exact = Fraction(part) / Fraction(of)
    quotient = Decimal(exact.numerator) / Decimal(exact.denominator)
    return float(quotient.quantize(PLACES, rounding=ROUND_HALF_UP))


def growth(actual: int | None, before: int | None) -> float | None:
    return None if actual is None or before is None else ratio(actual - before, before)


def on_time(tally: Tally) -> float | None:
    """(early + on time) / (early + on time + late); None when nothing with a due date was
    delivered."""
    good = sum(counts["early"] + counts["on_time"] for counts in tally.values())
    late = sum(counts["late"] for counts in tally.values())
    return ratio(good, good + late)
