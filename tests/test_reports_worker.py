"""Refresh jobs and the nightly report tasks: the endpoint, a job run in process (done, failed,
abandoned), and a real worker process running the refresh, the recompute and the snapshots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.conftest import fresh_session
from tracker.calendar import today_vn, utcnow
from tracker.dossiers import operations
from tracker.extensions import db
from tracker.outbox.models import OutboxMessage
from tracker.outbox.operations import acquire_lease
from tracker.reports import jobs
from tracker.reports.models import (
    DailyCount,
    DailyTotal,
    MonthlyCount,
    MonthlyTotal,
    ReportJob,
    ReportSnapshot,
)

URL = "/api/v1/reports/refresh"


def two_years_of_dossiers(make_dossier) -> None:
    """A dossier last year and one this year, delivered the day after: rows in both years."""
    for received in (utcnow() - timedelta(days=370), utcnow() - timedelta(days=3)):
        dossier = make_dossier("return_only", received_at=received, procedure_code="1.004567")
        operations.record_event(
            dossier,
            "delivered",
            source="counter",
            occurred_at=received + timedelta(days=1),
            receiver={"name": "Trần Thị Bình", "relation": "family"},
        )
        db.session.commit()


def corrupt_rollups() -> int:
    """Wrong counts in every daily row, a row too many in each table: the rows to fix."""
    db.session.execute(update(DailyCount).values(taken=DailyCount.taken + 5))
    wrong = db.session.query(DailyCount).count()
    cube = ("office_id", "channel_id", "procedure_id", "agency_id", "service_form")
    totals = ("dimension", "member_id", "partner_id", "service_form")
    for model, period, keys in (
        (DailyCount, "day", cube),
        (MonthlyCount, "month", cube),
        (DailyTotal, "day", totals),
        (MonthlyTotal, "month", totals),
    ):
        row = db.session.scalars(select(model)).first()
        db.session.add(model(**{period: date(2024, 2, 1)}, **{k: getattr(row, k) for k in keys}))
    db.session.commit()
    return wrong + 4


def bogus_rows() -> int:
    db.session.commit()
    return sum(
        db.session.query(model).filter(period == date(2024, 2, 1)).count()
        for model, period in (
            (DailyCount, DailyCount.day),
            (MonthlyCount, MonthlyCount.month),
            (DailyTotal, DailyTotal.day),
            (MonthlyTotal, MonthlyTotal.month),
        )
    )


@pytest.fixture
def manager(make_staff):
    return make_staff("manager")


# The endpoint ----------------------------------------------------------------------------------


def test_a_refresh_is_queued_once_and_read_by_id(client, manager, make_staff, catalogue):
    response = client.post(URL, headers=manager.headers)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["state"] == "queued"
    assert (job["years_total"], job["years_done"], job["rows_fixed"]) == (0, 0, 0)
    assert response.headers["Location"].endswith(f"{URL}/{job['id']}")
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.task == "reports.refresh")
    )
    assert message.kwargs == {"job_id": job["id"]}

    # While it waits, asking again (for any year) answers the same job.
    again = client.post(URL, json={"year": 2024}, headers=make_staff("admin").headers)
    assert again.status_code == 200
    assert again.get_json()["id"] == job["id"]
    assert db.session.query(ReportJob).count() == 1

    read = client.get(response.headers["Location"], headers=manager.headers)
    assert read.status_code == 200
    assert read.get_json()["state"] == "queued"
    assert client.get(f"{URL}/{job['id'] + 1}", headers=manager.headers).status_code == 404
    # Ids past the column's range are unknown too, never a database error.
    for too_big in (2**31, 2**63):
        assert client.get(f"{URL}/{too_big}", headers=manager.headers).status_code == 404


def test_a_refresh_of_one_year_keeps_its_year_on_the_job(client, manager, catalogue):
    response = client.post(URL, json={"year": 2024}, headers=manager.headers)
    assert response.status_code == 202
    assert response.get_json()["years_total"] == 1
    assert response.get_json()["year"] == 2024
    assert db.session.get(ReportJob, response.get_json()["id"]).year == 2024
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.task == "reports.refresh")
    )
    assert message.kwargs == {"job_id": response.get_json()["id"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"year": 1999}, "year"),
        ({"year": "2024"}, "year"),
        ({"year": today_vn().year + 1}, "year"),
        ({"years": 2024}, "years"),
    ],
)
def test_bad_refresh_bodies_name_the_field(client, manager, catalogue, body, field):
    response = client.post(URL, json=body, headers=manager.headers)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert db.session.query(ReportJob).count() == 0


def test_only_managers_and_admins_refresh(client, clerk, make_staff, catalogue):
    assert client.post(URL).status_code == 401
    for staff in (clerk, make_staff("agency")):
        assert client.post(URL, headers=staff.headers).status_code == 403
        assert client.get(f"{URL}/1", headers=staff.headers).status_code == 403
    assert db.session.query(ReportJob).count() == 0


# Jobs run in process ---------------------------------------------------------------------------


def test_a_job_repairs_the_rollups_and_snapshots_the_years(client, manager, make_dossier):
    two_years_of_dossiers(make_dossier)
    to_fix = corrupt_rollups()
    job_id = client.post(URL, headers=manager.headers).get_json()["id"]

    job = jobs.run_refresh(job_id)
    assert job.state == "done", job.message
    # From the bogus row's 2024 to this year.
    this_year = today_vn().year
    assert (job.years_total, job.years_done) == (this_year - 2023, this_year - 2023)
    assert job.rows_fixed == to_fix
    assert job.started_at <= job.finished_at
    assert bogus_rows() == 0
    snapshots = db.session.scalars(select(ReportSnapshot).order_by(ReportSnapshot.year)).all()
    assert [s.year for s in snapshots] == list(range(2024, this_year + 1))
    assert snapshots[-1].as_of == today_vn()
    assert snapshots[0].as_of == date(2024, 12, 31)
    assert snapshots[-1].data["year"] == this_year

    body = client.get(f"{URL}/{job_id}", headers=manager.headers).get_json()
    assert body["state"] == "done"
    assert body["rows_fixed"] == to_fix
    assert body["message"] == f"{job.years_done} year(s) checked, {to_fix} rollup row(s) fixed"
    # Finished: run again (a message delivered twice), it does nothing.
    assert jobs.run_refresh(job_id) is None


def test_a_job_that_fails_says_why(app, manager, catalogue):
    job, created = jobs.request_refresh(manager.user)
    db.session.commit()
    assert created
    # A year whose report cannot be built (in the future): the snapshot refuses it.
    job.year = today_vn().year + 1
    db.session.commit()
    job = jobs.run_refresh(job.id)
    assert job.state == "failed"
    assert job.message.startswith("ValidationFailed")
    assert job.finished_at is not None
    # A failed job is not in the way of the next request.
    assert jobs.request_refresh(manager.user)[1] is True


def test_a_job_its_worker_abandoned_is_queued_again(client, manager, catalogue):
    year = today_vn().year - 1
    job_id = client.post(URL, json={"year": year}, headers=manager.headers).get_json()["id"]
    db.session.execute(update(ReportJob).values(state="running", started_at=utcnow()))
    db.session.commit()
    # Running, and no run holds its lease: asking again hands it out again.
    response = client.post(URL, headers=manager.headers)
    assert response.status_code == 200
    assert response.get_json()["state"] == "queued"
    # The same job, still for the one year it was asked for.
    assert response.get_json()["year"] == year
    messages = db.session.scalars(
        select(OutboxMessage.kwargs).where(OutboxMessage.task == "reports.refresh")
    ).all()
    assert messages == [{"job_id": job_id}, {"job_id": job_id}]


def test_a_job_another_run_holds_is_left_to_it(app, manager, catalogue):
    job, _ = jobs.request_refresh(manager.user)
    db.session.commit()
    assert acquire_lease(f"reports.refresh:{job.id}", timedelta(minutes=5), holder="other:1")
    assert jobs.run_refresh(job.id) is None
    fresh_session()
    assert db.session.get(ReportJob, job.id).state == "queued"
    # Held and running: not abandoned, asking again answers it as it is.
    db.session.execute(update(ReportJob).values(state="running"))
    db.session.commit()
    assert jobs.request_refresh(manager.user) == (job, False)
    assert job.state == "running"


# A real worker ---------------------------------------------------------------------------------


def test_the_nightly_tasks_run_at_night_in_vietnam(app):
    celery = app.extensions["celery"]
    assert celery.conf.timezone == "Asia/Ho_Chi_Minh"
    schedule = celery.conf.beat_schedule
    recompute_at = schedule["reports-recompute"]["schedule"]
    snapshot_at = schedule["reports-snapshot"]["schedule"]
    assert schedule["reports-snapshot"]["task"] == "reports.snapshot"
    # Beat reads crontabs in its own time zone: 01:15 and 02:15 in Vietnam.
    assert (recompute_at.hour, recompute_at.minute) == ({1}, {15})
    assert (snapshot_at.hour, snapshot_at.minute) == ({2}, {15})


def test_worker_runs_a_refresh_and_the_nightly_tasks(
    app, client, manager, make_dossier, start_worker
):
    two_years_of_dossiers(make_dossier)
    to_fix = corrupt_rollups()
    worker = start_worker()

    location = client.post(URL, headers=manager.headers).headers["Location"]

    def finished():
        body = client.get(location, headers=manager.headers).get_json()
        return body if body["state"] in ("done", "failed") else None

    job = worker.wait_for(finished, 60)
    assert job["state"] == "done", job["message"]
    assert job["rows_fixed"] == to_fix
    assert job["years_done"] == job["years_total"] == today_vn().year - 2023
    assert bogus_rows() == 0

    # The nightly recompute, sent as beat sends it.
    corrupt_rollups()
    db.session.execute(update(ReportSnapshot).values(taken_at=datetime(2024, 1, 1, tzinfo=UTC)))
    db.session.commit()
    celery = app.extensions["celery"]
    celery.send_task("reports.recompute")
    worker.wait_for(lambda: bogus_rows() == 0, 60)
    log = worker.log_path.read_bytes()
    assert b"rollups of 2024: fixed 1 daily rows" in log
    assert b"rollups of 2024: fixed 1 monthly_totals rows" in log

    celery.send_task("reports.snapshot")
    this_year = today_vn().year

    def snapshotted():
        rows = db.session.scalars(
            select(ReportSnapshot).where(ReportSnapshot.taken_at > utcnow() - timedelta(minutes=5))
        ).all()
        return sorted((row.year, row.as_of) for row in rows)

    nightly = [(this_year - 1, date(this_year - 1, 12, 31)), (this_year, today_vn())]
    assert worker.wait_for(
        lambda: snapshotted() == nightly and nightly, 60, before_each=fresh_session
    )
