"""Sweeps over all dossiers: the overdue and stuck marks, and the reconciliation of the postal and
agency sides. Operations only execute and flush; the task owns the transaction.

Everything here is a handful of set-based statements, whatever the number of dossiers. The marks
are written with Core UPDATEs on the table: the ORM's optimistic-lock `version` (and
`updated_at`) stay as they were, so a client that read a dossier before the sweep can still
PATCH it with the version it read. A mark is bookkeeping, not an edit.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Row, bindparam, insert, or_, select, update

from tracker.calendar import VN_TZ, is_working_day, local_date, utcnow
from tracker.dossiers.lifecycle import OVERDUE_STATUSES
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.sweeps.checks import CHECKS, OPEN_STATUSES, Check, Context, Restrict
from tracker.sweeps.models import Anomaly

log = logging.getLogger(__name__)

# The agency confirms a hand-over record within this many working days (else an anomaly).
HANDOVER_CONFIRM_DAYS = 1
# Anomalies found are stored this many dossiers at a time (one INSERT/UPDATE round each).
CHUNK = 1000


@dataclass(frozen=True)
class MarkCounts:
    overdue_marked: int
    overdue_cleared: int
    stuck_marked: int
    stuck_cleared: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def working_days_cutoff(today: date, days: int) -> datetime:
    """The start (Vietnam time) of the `days`-th working day before `today`.

    A moment before it is followed by at least `days` whole working days that are over: with
    days=1 on a Monday, anything before Friday 00:00 (Friday having passed entirely)."""
    day = today
    counted = 0
    while counted < days:
        day -= timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return datetime.combine(day, time.min, tzinfo=VN_TZ)


def mark_overdue_and_stuck(now: datetime | None = None) -> MarkCounts:
    """Set and clear `overdue_since` and `stuck_since` on every dossier; return the counts.

    Overdue (DESIGN 3, `Dossier.is_overdue`): the agency's clock runs (status in
    OVERDUE_STATUSES, so never while a supplement is awaited) and the supplement-adjusted
    `due_date` is before today in Vietnam. Stuck: not closed, and its last applied status
    change (`status_changed_at`) is older than STUCK_AFTER_DAYS whole working days. A mark
    holds the moment the sweep first found it; it is cleared as soon as the condition is gone.
    """
    now = now or utcnow()
    today = local_date(now)
    stuck_before = working_days_cutoff(today, current_app.config["STUCK_AFTER_DAYS"])
    c = Dossier.__table__.c
    overdue_statuses = sorted(OVERDUE_STATUSES)
    counts = MarkCounts(
        overdue_marked=_update_mark(
            c.overdue_since,
            now,
            c.overdue_since.is_(None),
            c.status.in_(overdue_statuses),
            c.due_date < today,
        ),
        overdue_cleared=_update_mark(
            c.overdue_since,
            None,
            c.overdue_since.is_not(None),
            or_(c.status.not_in(overdue_statuses), c.due_date.is_(None), c.due_date >= today),
        ),
        stuck_marked=_update_mark(
            c.stuck_since,
            now,
            c.stuck_since.is_(None),
            c.status.in_(OPEN_STATUSES),
            c.status_changed_at < stuck_before,
        ),
        stuck_cleared=_update_mark(
            c.stuck_since,
            None,
            c.stuck_since.is_not(None),
            or_(c.status.not_in(OPEN_STATUSES), c.status_changed_at >= stuck_before),
        ),
    )
    log.info(
        "sweep: %s newly overdue, %s no longer; %s newly stuck, %s no longer",
        counts.overdue_marked,
        counts.overdue_cleared,
        counts.stuck_marked,
        counts.stuck_cleared,
    )
    return counts


def _update_mark(mark, value: datetime | None, *conditions: ColumnElement[bool]) -> int:
    """Set `mark` to `value` on the dossiers matching `conditions`; return how many."""
    table = Dossier.__table__
    # Rows are locked in id order, as feed chunks lock theirs: two writers of many dossiers
    # then wait for each other instead of deadlocking (SQLite has one writer anyway).
    targets = select(table.c.id).where(*conditions).order_by(table.c.id).with_for_update()
    statement = (
        update(table)
        .where(table.c.id.in_(targets))
        # Naming updated_at keeps its onupdate default from firing: a mark is not an edit.
        .values({mark: value, table.c.updated_at: table.c.updated_at})
    )
    return db.session.execute(statement).rowcount


# Reconciliation --------------------------------------------------------------------------------


@dataclass
class KindCounts:
    found: int = 0
    reopened: int = 0
    resolved: int = 0


def reconcile(now: datetime | None = None, *, full: bool = False) -> dict[str, dict[str, int]]:
    """Compare the postal and agency sides of the dossiers; keep `anomalies` up to date.

    One row per dossier and kind: inserted when a contradiction is found, `resolved_at` set when
    it is gone, reopened (resolved_at cleared, found_at moved) when it comes back. Open anomalies
    are re-checked on every run, whatever their dossier. New event contradictions are looked for
    among the dossiers with an event recorded within RECONCILE_LOOKBACK_HOURS, unless `full`;
    the feed and uncollected-result checks are narrow by their own indexed conditions and always
    look at everything. Returns {kind: {found, reopened, resolved}}.
    """
    now = now or utcnow()
    config = current_app.config
    days = config["UNCOLLECTED_RESULT_DAYS"]
    ctx = Context(
        now=now,
        uncollected_before=working_days_cutoff(local_date(now), days),
        uncollected_days=days,
        unconfirmed_before=working_days_cutoff(local_date(now), HANDOVER_CONFIRM_DAYS),
        events_after=None
        if full
        else last_event_before(now - timedelta(hours=config["RECONCILE_LOOKBACK_HOURS"])),
    )
    summary: dict[str, dict[str, int]] = {}
    for check in CHECKS:
        counts = KindCounts(resolved=_resolve(check, ctx))
        counts.found, counts.reopened = _find(check, ctx)
        summary[check.kind] = asdict(counts)
    log.info("reconcile (full=%s): %s", full, summary)
    return summary


def last_event_before(moment: datetime) -> int:
    """The id of the newest status event recorded before `moment` (0 if none).

    Ids grow with recording time (give or take the seconds a batch takes to flush), so walking
    the primary key down from the newest row stops after the window's events: no index on
    recorded_at is needed, and the cost is that of the window, not of the table."""
    events = StatusEvent.__table__.c
    newest_before = (
        select(events.id).where(events.recorded_at < moment).order_by(events.id.desc()).limit(1)
    )
    return db.session.scalar(newest_before) or 0


def _resolve(check: Check, ctx: Context) -> int:
    """Resolve the open anomalies of this kind whose contradiction is gone."""
    table = Anomaly.__table__
    open_of_kind = (table.c.kind == check.kind) & table.c.resolved_at.is_(None)
    open_ids = select(table.c.dossier_id).where(open_of_kind).scalar_subquery()

    def among_open(column: ColumnElement[int]) -> ColumnElement[bool]:
        return column.in_(open_ids)

    # Re-checked without the look-back window: an old dossier's anomaly resolves too.
    still = check.build(replace(ctx, events_after=None), among_open).subquery()
    statement = (
        update(table)
        .where(open_of_kind, table.c.dossier_id.not_in(select(still.c.dossier_id)))
        .values(resolved_at=ctx.now)
    )
    return db.session.execute(statement).rowcount


def _after(last_id: int) -> Restrict:
    def restrict(column: ColumnElement[int]) -> ColumnElement[bool]:
        return column > last_id

    return restrict


def _find(check: Check, ctx: Context) -> tuple[int, int]:
    """Record what the check finds, a keyset page of dossiers at a time: (new, reopened)."""
    found = reopened = 0
    last_id = 0
    while True:
        statement = check.build(ctx, _after(last_id))
        statement = statement.order_by(statement.selected_columns[0]).limit(CHUNK)
        rows = db.session.execute(statement).all()
        if not rows:
            break
        added, back = _store(check, ctx, rows)
        found += added
        reopened += back
        last_id = rows[-1].dossier_id
        if len(rows) < CHUNK:
            break
    return found, reopened


def _store(check: Check, ctx: Context, rows: list[Row]) -> tuple[int, int]:
    """Insert the new anomalies of one page, reopen the resolved ones, refresh the details."""
    described = {row.dossier_id: check.describe(row, ctx) for row in rows}
    table = Anomaly.__table__
    known = db.session.execute(
        select(table.c.id, table.c.dossier_id, table.c.resolved_at, table.c.detail).where(
            table.c.kind == check.kind, table.c.dossier_id.in_(described)
        )
    ).all()
    by_dossier = {row.dossier_id: row for row in known}
    new = [
        {
            "dossier_id": dossier_id,
            "kind": check.kind,
            "detail": d,
            "data": data,
            "found_at": ctx.now,
        }
        for dossier_id, (d, data) in described.items()
        if dossier_id not in by_dossier
    ]
    reopen: list[dict[str, Any]] = []
    refresh: list[dict[str, Any]] = []
    for dossier_id, row in by_dossier.items():
        detail, data = described[dossier_id]
        change = {"anomaly_id": row.id, "new_detail": detail, "new_data": data}
        if row.resolved_at is not None:
            reopen.append(change)
        elif row.detail != detail:
            refresh.append(change)
    if new:
        db.session.execute(insert(table), new)
    _update_details(reopen, resolved_at=None, found_at=ctx.now)
    _update_details(refresh)
    return len(new), len(reopen)


def _update_details(changes: list[dict[str, Any]], **values: Any) -> None:
    if not changes:
        return
    table = Anomaly.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("anomaly_id"))
        .values(detail=bindparam("new_detail"), data=bindparam("new_data"), **values)
    )
    db.session.execute(statement, changes)
