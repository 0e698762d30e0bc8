"""The nightly check of the rollups: recomputed from the dossiers and their events, compared with
the stored rows, and only what differs is fixed.

Each table is checked against its source, in this order (`CHECKS`): `daily_counts` against the
dossiers and events, `monthly_counts` against the daily rows summed by month, `daily_totals`
against the daily rows summed per office and per procedure, `monthly_totals` against the daily
totals summed by month. A table is compared only once its source is right.

The counting rules are those of the `tracker.reports.rollups` docstring; `_expected_daily` is
their set-based form (one GROUP BY over the dossiers and the applied events of a year), built from
the same constants (`DELIVERED`, `AGENCY_RESULTS`). Change one, change the other: the property
test in tests/test_rollups.py holds them to each other.

A year is one transaction (the caller commits between years). A correct year is read and left
untouched: no lock, no write. When something differs on PostgreSQL, the rollup tables are locked
against writers (SHARE ROW EXCLUSIVE: reports still read them) and the year is compared again
under the lock before it is fixed: a dossier counted by a concurrent transaction between our read
and our write would otherwise be overwritten, i.e. the fix would itself drift. SQLite has one
writer at a time anyway (tasks and commands begin with the write lock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Date,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)

from tracker.calendar import VN_TZ, local_date
from tracker.database import on_postgresql, upsert
from tracker.dossiers.lifecycle import REGISTERED
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.dossiers.timeliness import DELIVERED
from tracker.extensions import db
from tracker.reports.models import (
    DIMENSIONS,
    MEASURES,
    TOTAL_DIMENSIONS,
    TOTAL_KEY,
    DailyCount,
    DailyTotal,
    MonthlyCount,
    MonthlyTotal,
)
from tracker.reports.rollups import AGENCY_RESULTS, COLLECTION
from tracker.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

# Differing rows are written this many at a time (one executemany each).
CHUNK = 2000
# Keys of fixed rows named in the log, per table and year.
LOGGED_KEYS = 5


@dataclass
class TableFixes:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    # The first few keys fixed, as (kind, key) for the log.
    sample: list[tuple[str, tuple]] = field(default_factory=list, repr=False)

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.deleted


@dataclass
class RecomputeResult:
    """What the recompute of one year fixed, per table (named as in `CHECKS`)."""

    year: int
    daily: TableFixes = field(default_factory=TableFixes)
    monthly: TableFixes = field(default_factory=TableFixes)
    daily_totals: TableFixes = field(default_factory=TableFixes)
    monthly_totals: TableFixes = field(default_factory=TableFixes)

    def tables(self) -> list[tuple[str, TableFixes]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self) if f.name != "year"]

    @property
    def fixed(self) -> int:
        return sum(fixes.total for _name, fixes in self.tables())

    def as_dict(self) -> dict[str, Any]:
        counts = {
            name: {k: v for k, v in asdict(fixes).items() if k != "sample"}
            for name, fixes in self.tables()
        }
        return {"year": self.year, **counts, "fixed": self.fixed}


def recompute_all(
    on_year: Callable[[RecomputeResult], None] | None = None,
) -> list[RecomputeResult]:
    """Recompute every year that has dossiers or rollup rows, oldest first, each year a unit of
    work of its own (its fixes committed together); `on_year` is called after each year's
    commit (the nightly task renews its lease there, the command prints)."""
    results = []
    for year in years_to_recompute():
        with unit_of_work():
            results.append(recompute_year(year))
        if on_year is not None:
            on_year(results[-1])
    return results


def years_to_recompute() -> list[int]:
    """From the year of the first dossier (or rollup row) to the year of the last applied event
    (or rollup row). `status_changed_at` is the moment of a dossier's last applied event."""
    c = Dossier.__table__.c
    first, last = db.session.execute(
        select(func.min(c.received_at), func.max(c.status_changed_at))
    ).one()
    years = {local_date(moment).year for moment in (first, last) if moment is not None}
    for check in CHECKS:
        column = check.table.c[check.key[0]]
        days = db.session.execute(select(func.min(column), func.max(column))).one()
        years.update(day.year for day in days if day is not None)
    return list(range(min(years), max(years) + 1)) if years else []


def recompute_year(year: int) -> RecomputeResult:
    """Compare the rollups of `year` with the counts its dossiers and events give, and fix what
    differs (insert missing rows, update wrong ones, delete rows that should not exist), table
    by table in the order of `CHECKS`, each against its source already fixed. Never commits."""
    result = RecomputeResult(year)
    if on_postgresql():
        # Read without a lock first: a correct year (the nightly rule) blocks no writer. Writers
        # change the four tables in one transaction, so each comparison (one statement) sees a
        # table and its source agree unless one of them drifted.
        if not any(_differs(_diff(check, year)) for check in CHECKS):
            _log(result)
            return result
        # Writers wait from here to our commit; the comparisons below see every one before. The
        # tables in the order writers upsert them (`rollups.add_counts`).
        tables = ", ".join(check.table.name for check in CHECKS)
        db.session.execute(text(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE"))
    for check in CHECKS:
        _fix(check, _diff(check, year), getattr(result, check.name))
    _log(result)
    return result


def _log(result: RecomputeResult) -> None:
    if not result.fixed:
        log.info("rollups of %s are correct", result.year)
        return
    for name, fixes in result.tables():
        if fixes.total:
            log.warning(
                "rollups of %s: fixed %s %s rows (%s inserted, %s updated, %s deleted), e.g. %s",
                result.year,
                fixes.total,
                name,
                fixes.inserted,
                fixes.updated,
                fixes.deleted,
                fixes.sample,
            )


# The counting rules, set-based ------------------------------------------------------------------


def _local_day(moment):
    """The day in Vietnam of a UTC timestamp column, in SQL."""
    if on_postgresql():
        return cast(func.timezone(VN_TZ.key, moment), Date)
    # SQLite keeps naive UTC text. A fixed +7 hours is exact: Vietnam has kept UTC+7, without
    # daylight saving, since 1975 (the tz database's Asia/Ho_Chi_Minh), before any dossier here.
    return type_coerce(func.date(moment, "+7 hours"), Date)


def _month_of(day):
    if on_postgresql():
        return cast(func.date_trunc("month", day), Date)
    return type_coerce(func.date(day, "start of month"), Date)


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    """The UTC range of a Vietnamese year, for range scans on the timestamp columns' indexes."""
    return datetime(year, 1, 1, tzinfo=VN_TZ), datetime(year + 1, 1, 1, tzinfo=VN_TZ)


def _expected_daily(year: int) -> Select:
    """The daily counts of `year` by the rules of `tracker.reports.rollups`: one row per key with
    at least one count, every dimension taken from the dossier."""
    d = Dossier.__table__.c
    e = StatusEvent.__table__.c
    start, end = _year_bounds(year)
    dims = [d[name] for name in DIMENSIONS]
    one, zero = literal(1), literal(0)
    # taken: on the day the post took charge of the dossier (received_at), but a return
    # registration, taken on the day the post fetched its result (its collection event).
    registration = (
        select(e.id)
        .where(e.dossier_id == d.id, e.to_status == REGISTERED, e.from_status.is_(None), e.applied)
        .exists()
    )
    taken = select(
        _local_day(d.received_at).label("day"),
        *dims,
        one.label("taken"),
        *(zero.label(m) for m in MEASURES[1:]),
    ).where(
        d.received_at >= start,
        d.received_at < end,
        or_(d.service_form != COLLECTION[0], ~registration),
    )
    form, before, after = COLLECTION
    collected = (
        select(
            _local_day(e.occurred_at).label("day"),
            *dims,
            one.label("taken"),
            *(zero.label(m) for m in MEASURES[1:]),
        )
        .join_from(StatusEvent.__table__, Dossier.__table__, e.dossier_id == d.id)
        .where(
            e.applied,
            e.occurred_at >= start,
            e.occurred_at < end,
            e.to_status == after,
            e.from_status == before,
            d.service_form == form,
        )
    )
    # delivered (+ early / on_time / late against the due date) and overdue: applied events only,
    # on the day they occurred.
    day = _local_day(e.occurred_at)
    delivered = e.to_status.in_(sorted(DELIVERED))
    overdue = and_(e.to_status.in_(sorted(AGENCY_RESULTS)), day > d.due_date)
    events = (
        select(
            day.label("day"),
            *dims,
            zero.label("taken"),
            case((delivered, 1), else_=0).label("delivered"),
            case((and_(delivered, day < d.due_date), 1), else_=0).label("early"),
            case((and_(delivered, day == d.due_date), 1), else_=0).label("on_time"),
            case((and_(delivered, day > d.due_date), 1), else_=0).label("late"),
            case((overdue, 1), else_=0).label("overdue"),
        )
        .join_from(StatusEvent.__table__, Dossier.__table__, e.dossier_id == d.id)
        .where(e.applied, e.occurred_at >= start, e.occurred_at < end, or_(delivered, overdue))
    )
    both = union_all(taken, collected, events).subquery("counted")
    keys = [both.c.day, *(both.c[name] for name in DIMENSIONS)]
    return select(*keys, *_sums(both.c)).group_by(*keys)


def _by_month(daily: Table, key: Sequence[str], year: int) -> Select:
    """The rows of the daily table `daily` in `year` summed per month and `key`."""
    c = daily.c
    month = _month_of(c.day)
    return (
        select(month.label("month"), *(c[name] for name in key), *_sums(c))
        .where(c.day >= date(year, 1, 1), c.day < date(year + 1, 1, 1))
        .group_by(month, *(c[name] for name in key))
    )


def _daily_totals(year: int) -> CompoundSelect:
    """The daily rows of `year` summed down to each dimension of `TOTAL_DIMENSIONS`."""
    c = DailyCount.__table__.c
    return union_all(
        *(
            select(
                c.day,
                literal(dimension, String).label("dimension"),
                c[member].label("member_id"),
                c[partner].label("partner_id"),
                c.service_form,
                *_sums(c),
            )
            .where(c.day >= date(year, 1, 1), c.day < date(year + 1, 1, 1))
            .group_by(c.day, c[member], c[partner], c.service_form)
            for dimension, (member, partner) in TOTAL_DIMENSIONS.items()
        )
    )


def _sums(columns) -> list:
    return [func.sum(columns[m]).label(m) for m in MEASURES]


# Comparing and fixing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """A rollup table, its key (the day or month first), and its expected rows for a year."""

    name: str  # its field in RecomputeResult
    table: Table
    key: tuple[str, ...]
    expected: Callable[[int], Select | CompoundSelect]


# In order: each table's expected rows are read from tables checked before it.
CHECKS = (
    Check("daily", DailyCount.__table__, ("day", *DIMENSIONS), _expected_daily),
    Check(
        "monthly",
        MonthlyCount.__table__,
        ("month", *DIMENSIONS),
        lambda year: _by_month(DailyCount.__table__, DIMENSIONS, year),
    ),
    Check("daily_totals", DailyTotal.__table__, ("day", *TOTAL_KEY), _daily_totals),
    Check(
        "monthly_totals",
        MonthlyTotal.__table__,
        ("month", *TOTAL_KEY),
        lambda year: _by_month(DailyTotal.__table__, TOTAL_KEY, year),
    ),
)


def _diff(check: Check, year: int) -> Select | CompoundSelect:
    """The rows where the expected rows and the table's rows of `year` differ, matched on the
    key: expected columns e_*, stored key a_* (NULL where a side has no row)."""
    table, columns = check.table, check.key
    period = columns[0]
    want = check.expected(year).subquery("expected")
    have = (
        select(table)
        .where(table.c[period] >= date(year, 1, 1), table.c[period] < date(year + 1, 1, 1))
        .subquery("stored")
    )
    on = and_(*(want.c[name] == have.c[name] for name in columns))
    both = select(
        *(want.c[name].label(f"e_{name}") for name in (*columns, *MEASURES)),
        *(have.c[name].label(f"a_{name}") for name in columns),
    )
    differs = or_(*(want.c[m] != have.c[m] for m in MEASURES))
    if on_postgresql():
        # One FULL JOIN: the expected counts are computed once.
        missing = or_(want.c[period].is_(None), have.c[period].is_(None))
        return both.select_from(want.join(have, on, full=True)).where(or_(missing, differs))
    # SQLite before 3.39 (still shipped by some distributions) has no FULL JOIN: the expected
    # rows missing or different, then the stored rows not expected.
    return union_all(
        both.select_from(want.outerjoin(have, on)).where(or_(have.c[period].is_(None), differs)),
        both.select_from(have.outerjoin(want, on)).where(want.c[period].is_(None)),
    )


def _differs(diff: Select | CompoundSelect) -> bool:
    return db.session.execute(diff.limit(1)).first() is not None


def _fix(check: Check, diff: Select | CompoundSelect, fixes: TableFixes) -> None:
    """Write what `diff` finds, CHUNK rows at a time. PostgreSQL streams the differences (a
    server-side cursor sees the snapshot it was opened in, so the writes do not disturb it);
    SQLite reads them all first (writing under an open cursor on the same table is undefined)."""
    columns = check.key
    period = columns[0]
    postgres = on_postgresql()
    result = db.session.execute(diff, execution_options={"yield_per": CHUNK} if postgres else {})
    chunks: Iterable[Sequence[Any]] = result.partitions(CHUNK) if postgres else [result.all()]
    for rows in chunks:
        upserts, deletes = [], []
        for row in rows:
            values = row._mapping
            if values[f"e_{period}"] is None:
                key = {name: values[f"a_{name}"] for name in columns}
                deletes.append({f"k_{name}": value for name, value in key.items()})
                _count(fixes, "deleted", tuple(key.values()))
            else:
                upserts.append({name: values[f"e_{name}"] for name in (*columns, *MEASURES)})
                kind = "inserted" if values[f"a_{period}"] is None else "updated"
                _count(fixes, kind, tuple(upserts[-1][name] for name in columns))
        _write(check.table, columns, upserts, deletes)


def _count(fixes: TableFixes, kind: str, key: tuple) -> None:
    setattr(fixes, kind, getattr(fixes, kind) + 1)
    if len(fixes.sample) < LOGGED_KEYS:
        fixes.sample.append((kind, key))


def _write(table: Table, columns: Sequence[str], upserts: list[dict], deletes: list[dict]) -> None:
    if upserts:
        statement = upsert(table)
        statement = statement.on_conflict_do_update(
            index_elements=list(columns), set_={m: statement.excluded[m] for m in MEASURES}
        )
        db.session.execute(statement, upserts)
    if deletes:
        where = [table.c[name] == bindparam(f"k_{name}") for name in columns]
        db.session.execute(delete(table).where(*where), deletes)
