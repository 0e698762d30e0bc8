"""Writing what managers enter for reports: the baseline figures of a year, its growth rate,
the go-live date of the deployment and the targets of an office or channel.

All flush and never commit (the request or command does); each change writes one audit entry
with the state before and after.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.calendar import today_vn, utcnow
from tracker.errors import Conflict, ValidationFailed
from tracker.extensions import db
from tracker.reports import growth, queries
from tracker.reports.models import Baseline, GrowthTarget, OfficeTarget, ReportSetting
from tracker.reports.queries import BASELINE_FIGURES, TARGET_FIGURES

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
        _stamp(row, actor, now)
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
    stored state with the targets it gives (`growth.target_state`)."""
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
        _stamp(row, actor)
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
    return growth.target_state(year)


def set_go_live(data: dict, actor: User | None) -> dict:
    """Set the day the system went live (a loaded `GoLiveIn`), or clear it with null: before
    it the reports read the baselines, from it the records. Refused (422) after today. Returns
    the stored state (`queries.go_live_state`)."""
    day = data["go_live_on"]
    if day is not None and day > today_vn():
        raise ValidationFailed.field("go_live_on", f"must not be after today ({today_vn()})")
    row = db.session.get(ReportSetting, 1)
    before = _go_live_snapshot(row)
    row = row or ReportSetting(id=1)
    row.go_live_on, row.note = day, data.get("note") or None
    _stamp(row, actor)
    _flush("the go-live date")
    actor_id = actor.id if actor else None
    after = _go_live_snapshot(row)
    record_audit(
        actor_id, "report.go_live.set", "report_settings", "go_live", before=before, after=after
    )
    log.info("go-live date set to %s", day)
    return queries.go_live_state()


def set_office_target(year: int, dimension: str, code: str, data: dict, actor: User | None):
    """Set what a manager says of the target of one office or channel (`dimension`) in `year`
    (a loaded `OfficeTargetIn`): figures that replace the computed targets, the weight of a
    unit without last year's figure, a note. A body with none of them removes the setting. An
    unknown code is a 404 naming `code`. Returns (member id, `queries.office_target_state`)."""
    member_id = queries.unit_id(dimension, code)
    row = db.session.get(OfficeTarget, (year, dimension, member_id))
    before = _office_target_snapshot(row)
    wanted = {name: data.get(name) for name in (*TARGET_FIGURES, "weight")}
    note = data.get("note") or None
    if all(value is None for value in wanted.values()) and not note:
        if row is not None:
            db.session.delete(row)
        row = None
    else:
        row = row or OfficeTarget(year=year, dimension=dimension, member_id=member_id)
        for name, value in wanted.items():
            setattr(row, name, value)
        row.note = note
        _stamp(row, actor)
    _flush(f"the target of {dimension} {code} in {year}")
    record_audit(
        actor.id if actor else None,
        "report.office_target.set",
        "office_target",
        f"{year}/{dimension}/{code}",
        before=before,
        after=_office_target_snapshot(row),
    )
    log.info("target of %s %s in %s set", dimension, code, year)
    return member_id, queries.office_target_state(year, dimension, member_id)


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


def _stamp(row, actor: User | None, now: datetime | None = None) -> None:
    """Who changed a row and when; the row joins the session."""
    row.updated_by_id = actor.id if actor else None
    row.updated_at = now or utcnow()
    db.session.add(row)


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


def _go_live_snapshot(row: ReportSetting | None) -> dict | None:
    if row is None:
        return None
    day = row.go_live_on.isoformat() if row.go_live_on else None
    return {"go_live_on": day, "note": row.note}


def _office_target_snapshot(row: OfficeTarget | None) -> dict | None:
    if row is None:
        return None
    weight = None if row.weight is None else str(Decimal(row.weight).normalize())
    figures = {name: getattr(row, name) for name in TARGET_FIGURES}
    return {**figures, "weight": weight, "note": row.note}
