"""Writing what managers enter for reports: the baseline figures of a year and its growth rate.

Both flush and never commit (the request or command does); each change writes one audit entry
with the state before and after, keyed by the year.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.calendar import utcnow
from tracker.errors import Conflict, ValidationFailed
from tracker.extensions import db
from tracker.reports import queries
from tracker.reports.models import Baseline, GrowthTarget
from tracker.reports.queries import BASELINE_FIGURES

log = logging.getLogger(__name__)


def set_baseline(year: int, data: dict, actor: User | None) -> dict:
    """Replace the baseline of `year` with `data` (a loaded `BaselineIn`): the year's figures
    and note (month 0) and the months given; figures left out become unknown, months left out
    are removed, and a body with no figure and no note removes the year's baseline. Refused
    (422) when the months of a figure add up to more than the year's figure. Returns the
    stored state (`queries.baseline_state`)."""
    wanted = _rows_wanted(data)
    _check_month_sums(wanted)
    before = queries.baseline_state(year)
    existing = queries.baselines_of(year)
    now = utcnow()
    for month, row in existing.items():
        if month not in wanted:
            db.session.delete(row)
    for month, values in wanted.items():
        row = existing.get(month) or Baseline(year=year, month=month)
        for name, value in values.items():
            setattr(row, name, value)
        # Every row is rewritten, so every row says who wrote it, changed or not.
        row.updated_by_id = actor.id if actor else None
        row.updated_at = now
        db.session.add(row)
    _flush(f"the baseline of {year}")
    after = queries.baseline_state(year)
    record_audit(
        actor.id if actor else None,
        "report.baseline.set",
        "report_year",
        str(year),
        before=_baseline_snapshot(before),
        after=_baseline_snapshot(after),
    )
    log.info("baseline of %s set: months %s", year, sorted(wanted))
    return after


def set_target(year: int, data: dict, actor: User | None) -> dict:
    """Set the growth rate of `year` (a loaded `TargetIn`: rate 0..10, 0.3 = 30%, and a note);
    a null rate removes the year's rate and note, so the 30% default applies again. Returns the
    stored state with the targets it gives (`queries.target_state`)."""
    row = db.session.get(GrowthTarget, year)
    before = _target_snapshot(row)
    if data["rate"] is None:
        if row is not None:
            db.session.delete(row)
        row = None
    else:
        row = row or GrowthTarget(year=year)
        row.rate = Decimal(data["rate"])
        row.note = data.get("note") or None
        row.updated_by_id = actor.id if actor else None
        row.updated_at = utcnow()
        db.session.add(row)
    _flush(f"the growth rate of {year}")
    record_audit(
        actor.id if actor else None,
        "report.target.set",
        "report_year",
        str(year),
        before=before,
        after=_target_snapshot(row),
    )
    log.info("growth rate of %s set to %s", year, row.rate if row else "the default")
    return queries.target_state(year)


def _rows_wanted(data: dict) -> dict[int, dict]:
    """The rows the baseline is made of, by month (0 = the year); rows with nothing in them
    are not kept."""
    annual = {name: data.get(name) for name in BASELINE_FIGURES}
    note = data.get("note") or None
    rows = {}
    if any(value is not None for value in annual.values()) or note:
        rows[0] = {**annual, "note": note}
    for entry in data.get("months", []):
        rows[entry["month"]] = {name: entry.get(name) for name in BASELINE_FIGURES}
    return rows


def _check_month_sums(rows: dict[int, dict]) -> None:
    annual = rows.get(0)
    if annual is None:
        return
    for name in BASELINE_FIGURES:
        total = sum(row[name] or 0 for month, row in rows.items() if month)
        if annual[name] is not None and total > annual[name]:
            raise ValidationFailed.field(
                name, f"the months add up to {total}, more than the year's {annual[name]}"
            )


def _flush(what: str) -> None:
    """Two managers creating the same rows at once: the second is told to try again."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} was changed by someone else at the same time; try again") from exc


def _baseline_snapshot(state: dict) -> dict | None:
    if state["updated_at"] is None:
        return None
    figures = ("note", *BASELINE_FIGURES)
    return {"months": state["months"], **{name: state[name] for name in figures}}


def _target_snapshot(row: GrowthTarget | None) -> dict | None:
    if row is None:
        return None
    return {"rate": str(Decimal(row.rate).normalize()), "note": row.note}
