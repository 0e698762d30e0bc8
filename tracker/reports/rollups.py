"""Keeping the rollups up to date as dossiers are taken in and events recorded.

The dossier signals note what a change adds (`count_intake`, `count_event`, `count_intakes`,
connected in `tracker.subscriptions`); the deltas gather in the session and are written at the
outermost commit (`write_counts`, a hook of `tracker.unit_of_work`), in the same transaction, as one
upsert per table into `daily_counts` and `monthly_counts` and into the office and procedure
totals of both (`daily_totals`, `monthly_totals`). Writing them last, sorted by key,
keeps the row locks of counters short and always taken in the same order, so two transactions
that count into the same rows wait for each other rather than deadlock.

What counts, on which day (Asia/Ho_Chi_Minh):
- taken: the dossier, on the day the post took charge of it (`received_at`: intake for two-way
  and send-only, result collection for one-way); a return registration (a one-way dossier
  logged `registered`, before its result exists) counts nothing when it is logged, and is taken
  on the day of its applied `result_collected` event, the day the post fetched the result
  (DESIGN 4);
- delivered: the result in the citizen's hands (an applied `delivered` or `collected_in_person`
  event), on that day; early / on_time / late compare that day with the due date, as the public
  lookup does (`tracker.dossiers.timeliness`), and are left out when there is no due date;
- overdue: the agency's result (`result_ready` or `rejected`, applied) came after the due date,
  counted on the day of the result.
Late events that were kept without moving the status count nothing: the status they would have
reached was already passed. `tracker.reports.recompute` applies the same rules to the events.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date
from functools import lru_cache

from sqlalchemy import String, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from tracker.calendar import local_date
from tracker.dossiers.lifecycle import REGISTERED
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.dossiers.persist import kept
from tracker.dossiers.timeliness import DELIVERED, handed_over
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

_DELTAS_KEY = "report_rollup_deltas"
AGENCY_RESULTS = frozenset({"result_ready", "rejected"})
# A return registration is taken when the post fetches its result: the one transition into
# `result_collected` a return_only dossier can make (the others start there).
COLLECTION = ("return_only", "result_ready", "result_collected")

# (day, office_id, channel_id, procedure_id, agency_id, service_form)
Key = tuple[date, int, int, int, int, str]


def key_of(dossier: Dossier, day: date) -> Key:
    return (
        day,
        dossier.office_id,
        dossier.channel_id,
        dossier.procedure_id,
        dossier.agency_id,
        dossier.service_form,
    )


def timeliness_of(day: date, due_date: date | None) -> str | None:
    """early | on_time | late of a result handed over on `day`; None without a due date."""
    return None if due_date is None else handed_over(day, due_date)


def count_intake(session: Session, dossier: Dossier) -> None:
    """A dossier the post took charge of (its ids must be set: call after the flush)."""
    if dossier.status == REGISTERED:
        return  # taken when the post fetches its result (count_event)
    _note(session, dossier, key_of(dossier, local_date(dossier.received_at)), "taken")


def count_intakes(session: Session, keys: Iterable[Key]) -> None:
    """Many dossiers taken in at once by Core inserts (imports): one key each."""
    for key in keys:
        _note(session, None, key, "taken")


def count_event(session: Session, dossier: Dossier, event: StatusEvent) -> None:
    """An applied event; the dossier's clock fields already reflect it."""
    day = local_date(event.occurred_at)
    if (dossier.service_form, event.from_status, event.to_status) == COLLECTION:
        _note(session, event, key_of(dossier, day), "taken")
    elif event.to_status in DELIVERED:
        _note(session, event, key_of(dossier, day), "delivered")
        timeliness = timeliness_of(day, dossier.due_date)
        if timeliness is not None:
            _note(session, event, key_of(dossier, day), timeliness)
    elif event.to_status in AGENCY_RESULTS and dossier.due_date and day > dossier.due_date:
        _note(session, event, key_of(dossier, day), "overdue")


def _note(session: Session, source: object | None, key: Key, measure: str) -> None:
    session.info.setdefault(_DELTAS_KEY, []).append((source, key, measure))


def add_counts(session: Session, deltas: dict[Key, Counter[str]]) -> None:
    """Add `deltas` to the daily rows, to the monthly rows that contain them, and to the
    office and procedure totals of both (`tracker.reports.models.TotalColumns`)."""
    if not deltas:
        return
    by_period: dict[str, dict[tuple, Counter[str]]] = {
        name: defaultdict(Counter) for name in ("month", "day_totals", "month_totals")
    }
    for key, counts in deltas.items():
        day, rest = key[0], key[1:]
        month = day.replace(day=1)
        by_period["month"][(month, *rest)].update(counts)
        for total_key in total_keys(key):
            by_period["day_totals"][(day, *total_key)].update(counts)
            by_period["month_totals"][(month, *total_key)].update(counts)
    _upsert(session, DailyCount.__table__, ("day", *DIMENSIONS), deltas)
    _upsert(session, MonthlyCount.__table__, ("month", *DIMENSIONS), by_period["month"])
    _upsert(session, DailyTotal.__table__, ("day", *TOTAL_KEY), by_period["day_totals"])
    _upsert(session, MonthlyTotal.__table__, ("month", *TOTAL_KEY), by_period["month_totals"])


def total_keys(key: Key) -> list[tuple[str, int, int, str]]:
    """The (dimension, member, partner, form) of the totals a cube key adds to."""
    columns = dict(zip(DIMENSIONS, key[1:], strict=True))
    return [
        (dimension, columns[member], columns[partner], columns["service_form"])
        for dimension, (member, partner) in TOTAL_DIMENSIONS.items()
    ]


def _upsert(session: Session, table: Table, columns: tuple[str, ...], deltas: dict) -> None:
    rows = [
        {**dict(zip(columns, key, strict=True)), **{m: counts[m] for m in MEASURES}}
        for key, counts in sorted(deltas.items())
        if any(counts.values())
    ]
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        # One statement over one array per column: a feed's chunk counts into hundreds of keys,
        # and an executemany converts and sends every row on its own.
        names = (*columns, *MEASURES)
        arrays = {name: [row[name] for row in rows] for name in names}
        session.execute(_upsert_arrays(table, columns), arrays)
    else:
        session.execute(_upsert_statement(table.name, columns), rows)


@lru_cache
def _upsert_statement(table: str, columns: tuple[str, ...]) -> TextClause:
    """INSERT ... ON CONFLICT DO UPDATE adding the measures, in the syntax PostgreSQL and SQLite
    share. Written once as text: building and compiling the Core construct on every commit cost
    more than the statement itself, on the path of every intake."""
    names = (*columns, *MEASURES)
    added = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in MEASURES)
    return text(
        f"INSERT INTO {table} ({', '.join(names)})"
        f" VALUES ({', '.join(':' + name for name in names)})"
        f" ON CONFLICT ({', '.join(columns)}) DO UPDATE SET {added}"
    )


@lru_cache
def _upsert_arrays(table: Table, columns: tuple[str, ...]) -> TextClause:
    """PostgreSQL: the same upsert, its rows given as arrays (`unnest`), in key order. Text
    columns go as unbounded text, so that nothing is cut short by a cast."""
    dialect = postgresql.dialect()
    names = (*columns, *MEASURES)
    arrays = []
    for name in names:
        kind = table.c[name].type
        sql_type = "text" if isinstance(kind, String) else kind.compile(dialect=dialect)
        arrays.append(f"CAST(:{name} AS {sql_type}[])")
    added = ", ".join(f"{m} = {table.name}.{m} + excluded.{m}" for m in MEASURES)
    return text(
        f"INSERT INTO {table.name} ({', '.join(names)})"
        f" SELECT * FROM unnest({', '.join(arrays)}) AS v({', '.join(names)})"
        f" ON CONFLICT ({', '.join(columns)}) DO UPDATE SET {added}"
    )


def write_counts(session: Session) -> None:
    """At the outermost commit (`tracker.unit_of_work`): the counts noted, one upsert a table."""
    if not session.info.get(_DELTAS_KEY):
        return
    session.flush()
    deltas: dict[Key, Counter[str]] = defaultdict(Counter)
    for source, key, measure in session.info.pop(_DELTAS_KEY):
        # What went away with a rolled-back savepoint is not counted.
        if source is None or kept(source):
            deltas[key][measure] += 1
    add_counts(session, deltas)


def forget_counts(session: Session) -> None:
    # Rolled back or closed: the counts go with the changes they counted.
    session.info.pop(_DELTAS_KEY, None)
