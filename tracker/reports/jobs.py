"""Refresh jobs (a recompute a manager asks for, then snapshots) and the nightly snapshots.

`request_refresh` and the snapshot operations flush, never commit. `run_refresh` is a runner, as
`tracker.imports.runner` is: it owns its transaction and commits after every year, so that the
progress shows while it runs and each year's fixes are one transaction of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from sqlalchemy import select

from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.calendar import today_vn, utcnow
from tracker.database import advisory_lock, get_by_id, upsert
from tracker.errors import NotFound, ValidationFailed
from tracker.extensions import db
from tracker.outbox.operations import acquire_lease, enqueue, lease_expires_at, release_lease
from tracker.reports import growth, recompute
from tracker.reports.models import ReportJob, ReportSnapshot
from tracker.unit_of_work import discard, unit_of_work

log = logging.getLogger(__name__)

REFRESH_TASK = "reports.refresh"
ACTIVE = ("queued", "running")
# A run holds its job's lease, renewed after every year: two runs of a job never overlap, and a
# job whose lease ran out was abandoned by its worker.
REFRESH_LEASE = timedelta(minutes=30)


def get_job(job_id: int) -> ReportJob:
    # An id past the column's range is as unknown as any other (PostgreSQL would refuse it).
    job = get_by_id(ReportJob, job_id)
    if job is None:
        raise NotFound(f"no refresh job {job_id}")
    return job


def request_refresh(actor: User, year: int | None = None) -> tuple[ReportJob, bool]:
    """Queue a recompute of every year (or of `year`) and the snapshots after it. Returns the job
    and whether it is new: while one is queued or running, that one is returned instead (another
    would redo the same work), whatever its year."""
    if year is not None and year > today_vn().year:
        raise ValidationFailed.field("year", "must not be after this year")
    # Two managers clicking at once: the second waits, then finds the first's job.
    advisory_lock(REFRESH_TASK)
    active = db.session.scalar(
        select(ReportJob).where(ReportJob.state.in_(ACTIVE)).order_by(ReportJob.id.desc()).limit(1)
    )
    if active is not None and not _abandoned(active):
        return active, False
    if active is not None:
        # Its worker died and nothing will finish it: the job is handed out again.
        log.warning("refresh job %s was abandoned by its worker: queued again", active.id)
        active.state = "queued"
        enqueue(REFRESH_TASK, job_id=active.id)
        db.session.flush()
        return active, False
    job = ReportJob(
        state="queued", requested_by_id=actor.id, year=year, years_total=1 if year else 0
    )
    db.session.add(job)
    db.session.flush()
    enqueue(REFRESH_TASK, job_id=job.id)
    record_audit(actor.id, "report.refresh", "report_job", str(job.id), after={"year": year})
    return job, True


def _abandoned(job: ReportJob) -> bool:
    """Running, but no run holds its lease (renewed after every year) any more."""
    if job.state != "running":
        return False
    expires = lease_expires_at(_lease_of(job.id))
    return expires is None or expires < utcnow()


def _lease_of(job_id: int) -> str:
    return f"{REFRESH_TASK}:{job_id}"


def run_refresh(job_id: int) -> ReportJob | None:
    """Run refresh job `job_id`: recompute its years (the one it names, else every year with
    data) one transaction each, updating its progress,
    then snapshot them. None when the job is finished already or another run holds it. An error
    fails the job with its message (the years already fixed stay fixed)."""
    discard()  # end the caller's read: on SQLite a lease needs the write lock
    lease = _lease_of(job_id)
    if not acquire_lease(lease, REFRESH_LEASE):
        log.info("refresh job %s is being run by another process", job_id)
        return None
    try:
        return _run(job_id, renew=lambda: acquire_lease(lease, REFRESH_LEASE))
    finally:
        discard()  # what counts is committed; SQLite frees its lock for the lease
        release_lease(lease)


def _run(job_id: int, renew: Callable[[], object]) -> ReportJob | None:
    with unit_of_work():
        job = db.session.get(ReportJob, job_id)
        if job is None or job.state not in ACTIVE:
            log.info("refresh job %s: nothing to do", job_id)
            return None
        years = [job.year] if job.year else recompute.years_to_recompute()
        job.state, job.started_at, job.finished_at, job.message = "running", utcnow(), None, None
        job.years_total, job.years_done, job.rows_fixed = len(years), 0, 0
    try:
        for each in years:
            with unit_of_work():  # a year's fixes and the progress they make
                fixed = recompute.recompute_year(each).fixed
                job.years_done += 1
                job.rows_fixed += fixed
            renew()
        with unit_of_work():
            snapshot_years(years)
            _finish(job, "done")
    except Exception as exc:  # any failure ends the job: the manager sees why and may ask again
        log.exception("refresh job %s failed", job_id)
        with unit_of_work():
            job = db.session.get(ReportJob, job_id)
            _finish(job, "failed", f"{type(exc).__name__}: {exc}")
    return job


def _finish(job: ReportJob, state: str, message: str | None = None) -> None:
    job.state, job.finished_at = state, utcnow()
    job.message = (
        message or f"{job.years_done} year(s) checked, {job.rows_fixed} rollup row(s) fixed"
    )[:2000]
    log.info("refresh job %s %s: %s", job.id, state, job.message)


# Snapshots -------------------------------------------------------------------------------------


def snapshot_year(year: int, as_of: date | None = None) -> ReportSnapshot:
    """Store the growth report of `year` as it stands on `as_of` (default: today, or the last day
    of a year that is over), replacing one taken earlier for the same day."""
    as_of = as_of or min(today_vn(), date(year, 12, 31))
    data = growth.build_report(year, as_of)
    table = ReportSnapshot.__table__
    now = utcnow()
    statement = upsert(table).values(year=year, as_of=as_of, taken_at=now, data=data)
    statement = statement.on_conflict_do_update(
        index_elements=["year", "as_of"], set_={"taken_at": now, "data": data}
    )
    db.session.execute(statement)
    snapshot = db.session.scalar(
        select(ReportSnapshot)
        .where(ReportSnapshot.year == year, ReportSnapshot.as_of == as_of)
        .execution_options(populate_existing=True)
    )
    log.info("report of %s as of %s snapshotted", year, as_of)
    return snapshot


def snapshot_years(years: Iterable[int]) -> list[ReportSnapshot]:
    return [snapshot_year(year) for year in years]


def nightly_snapshot_years(today: date | None = None) -> list[int]:
    """The years the nightly task snapshots: this one (a row per day: how the year went), and
    the previous one (as of its 31 December, replaced nightly), into which late events and
    imports may still count. Older years no longer move; a refresh job snapshots them anew."""
    today = today or today_vn()
    return [today.year - 1, today.year]
