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
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache, lru_cache

from sqlalchemy import Table, TextClause, text
from sqlalchemy.orm import Session

from tracker.calendar import local_date
from tracker.database import array_text
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
    session.info.setdefault(_DELTAS_KEY, []).extend((None, key, "taken") for key in keys)


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


def add_counts(session: Session, deltas: Mapping[Key, Mapping[str, int]]) -> None:
    """Add `deltas` to the daily rows, to the monthly rows that contain them, and to the
    office and procedure totals of both (`tracker.reports.models.TotalColumns`), in that order
    of tables and each in key order."""
    keys = sorted(key for key, counts in deltas.items() if any(counts.values()))
    if not keys:
        return
    if session.get_bind().dialect.name == "postgresql":
        # One statement: the daily deltas go once, as one array per column, and the server
        # sums them into the months and the totals.
        columns = list(zip(*keys, strict=True))
        arrays = {
            name: array_text(list(values)) for name, values in zip(DAY_KEY, columns, strict=True)
        }
        for measure in MEASURES:
            arrays[measure] = array_text([deltas[key].get(measure, 0) for key in keys])
        session.execute(_rollup_statement(), arrays)
        return
    by_period: dict[str, dict[tuple, Counter[str]]] = {
        name: defaultdict(Counter) for name in ("month", "day_totals", "month_totals")
    }
    for key in keys:
        counts = deltas[key]
        day, rest = key[0], key[1:]
        month = day.replace(day=1)
        by_period["month"][(month, *rest)].update(counts)
        for total_key in total_keys(key):
            by_period["day_totals"][(day, *total_key)].update(counts)
            by_period["month_totals"][(month, *total_key)].update(counts)
    _upsert(session, DailyCount.__table__, DAY_KEY, {key: deltas[key] for key in keys})
    _upsert(session, MonthlyCount.__table__, ("month", *DIMENSIONS), by_period["month"])
    _upsert(session, DailyTotal.__table__, ("day", *TOTAL_KEY), by_period["day_totals"])
    _upsert(session, MonthlyTotal.__table__, ("month", *TOTAL_KEY), by_period["month_totals"])


DAY_KEY = ("day", *DIMENSIONS)


def total_keys(key: Key) -> list[tuple[str, int, int, str]]:
    """The (dimension, member, partner, form) of the totals a cube key adds to."""
    columns = dict(zip(DIMENSIONS, key[1:], strict=True))
    return [
        (dimension, columns[member], columns[partner], columns["service_form"])
        for dimension, (member, partner) in TOTAL_DIMENSIONS.items()
    ]


def _upsert(session: Session, table: Table, columns: tuple[str, ...], deltas: dict) -> None:
    """SQLite: one executemany of the upsert per table, in key order."""
    rows = [
        {**dict(zip(columns, key, strict=True)), **{m: counts.get(m, 0) for m in MEASURES}}
        for key, counts in sorted(deltas.items())
        if any(counts.values())
    ]
    if rows:
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


@cache
def _rollup_statement() -> TextClause:
    """PostgreSQL: the four upserts of `add_counts` in one statement over the daily deltas
    (`v`, one array per column). Each INSERT reads its rows in key order, so that two
    transactions counting into the same rows wait for each other rather than deadlock. Every
    writer on PostgreSQL runs this one statement, so the four tables are also taken in one
    order: PostgreSQL's documentation leaves the order of a statement's data-modifying WITH
    parts unspecified, but its executor runs them in a fixed order for a given statement."""
    dimensions = ", ".join(DIMENSIONS)
    measures = ", ".join(MEASURES)
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    arrays = ", ".join(
        f"CAST(:{name} AS {_ARRAY_TYPES.get(name, 'integer')}[])" for name in (*DAY_KEY, *MEASURES)
    )
    month = "CAST(date_trunc('month', day) AS date)"
    sides = ", ".join(
        f"('{dimension}', {member}, {partner})"
        for dimension, (member, partner) in TOTAL_DIMENSIONS.items()
    )
    totals = f"v CROSS JOIN LATERAL (VALUES {sides}) AS t(dimension, member_id, partner_id)"
    total_key = ", ".join(TOTAL_KEY)

    def upsert(table: str, key: str, select: str) -> str:
        added = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in MEASURES)
        return (
            f"INSERT INTO {table} ({key}, {measures}) {select}"
            f" ON CONFLICT ({key}) DO UPDATE SET {added}"
        )

    parts = {
        "v": f"SELECT * FROM unnest({arrays}) AS v(day, {dimensions}, {measures})",
        "days": upsert(
            "daily_counts", f"day, {dimensions}",
            f"SELECT day, {dimensions}, {measures} FROM v ORDER BY day, {dimensions}",
        ),
        "months": upsert(
            "monthly_counts", f"month, {dimensions}",
            f"SELECT {month}, {dimensions}, {sums} FROM v"
            f" GROUP BY 1, {dimensions} ORDER BY 1, {dimensions}",
        ),
        "day_totals": upsert(
            "daily_totals", f"day, {total_key}",
            f"SELECT day, {total_key}, {sums} FROM {totals}"
            f" GROUP BY day, {total_key} ORDER BY day, {total_key}",
        ),
        "month_totals": upsert(
            "monthly_totals", f"month, {total_key}",
            f"SELECT {month}, {total_key}, {sums} FROM {totals}"
            f" GROUP BY 1, {total_key} ORDER BY 1, {total_key}",
        ),
    }  # fmt: skip
    return text(
        "WITH " + ", ".join(f"{name} AS ({sql})" for name, sql in parts.items()) + " SELECT 1"
    )


# The arrays' element types; the ids and measures are integers.
_ARRAY_TYPES = {"day": "date", "service_form": "text"}


def write_counts(session: Session) -> None:
    """At the outermost commit (`tracker.unit_of_work`): the counts noted, one upsert a table."""
    if not session.info.get(_DELTAS_KEY):
        return
    session.flush()
    deltas: dict[Key, dict[str, int]] = {}
    for source, key, measure in session.info.pop(_DELTAS_KEY):
        # What went away with a rolled-back savepoint is not counted.
        if source is None or kept(source):
            counts = deltas.get(key)
            if counts is None:
                deltas[key] = {measure: 1}
            else:
                counts[measure] = counts.get(measure, 0) + 1
    add_counts(session, deltas)


def forget_counts(session: Session) -> None:
    # Rolled back or closed: the counts go with the changes they counted.
    session.info.pop(_DELTAS_KEY, None)
