"""`flask demo seed`: sample data that reaches every status through the real operations."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

from sqlalchemy import delete, func, select, update

from tracker.accounts.models import User
from tracker.accounts.operations import create_user, verify_password
from tracker.audit.models import AuditEntry
from tracker.calendar import local_date, today_vn, utcnow
from tracker.catalogue.models import SERVICE_FORMS, Channel, Office
from tracker.demo_pickups import CALLS, move_pickups, slots_ahead
from tracker.dossiers.lifecycle import INITIAL_STATUSES, STATUSES, is_allowed
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.handovers.models import HandoverRecord
from tracker.notifications.models import Notification
from tracker.pickups.models import Pickup
from tracker.reports import queries
from tracker.reports.growth import build_report
from tracker.reports.models import Baseline, ReportSetting
from tracker.reports.targets import target_of
from tracker.simulation import simulate

DEMO_PASSWORD = "demo-only-password"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_seed_reaches_every_status_form_and_active_channel(app):
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--password", DEMO_PASSWORD])

    assert result.exit_code == 0, result.output
    assert "SAMPLE data loaded" in result.output
    assert "DEMO ONLY" in result.output
    dossiers = list(db.session.scalars(select(Dossier)))
    assert len(dossiers) == 300
    assert {d.status for d in dossiers} == set(STATUSES)
    assert {d.service_form for d in dossiers} == set(SERVICE_FORMS)
    today = today_vn()
    active = {o.channel.code for o in db.session.scalars(select(Office)) if o.is_active_on(today)}
    assert {d.channel.code for d in dossiers} == active
    assert count(Channel) == 8
    received = sorted(d.received_at for d in dossiers)
    assert received[-1] - received[0] > timedelta(days=365)  # spread over about 14 months


def test_seed_histories_follow_the_transition_table_in_time_order(app):
    app.test_cli_runner().invoke(args=["demo", "seed", "--dossiers", "120"])
    events = defaultdict(list)
    for event in db.session.scalars(select(StatusEvent).order_by(StatusEvent.id)):
        events[event.dossier_id].append(event)
    now = utcnow()

    for dossier in db.session.scalars(select(Dossier)):
        history = events[dossier.id]
        assert all(event.applied for event in history)
        assert history[0].to_status in INITIAL_STATUSES[dossier.service_form]
        assert history[0].occurred_at == dossier.received_at
        for before, after in pairwise(history):
            assert before.occurred_at < after.occurred_at <= now
            assert after.from_status == before.to_status
            assert is_allowed(dossier.service_form, before.to_status, after.to_status)
        assert history[-1].to_status == dossier.status


def test_seed_creates_demo_users_and_prints_the_password_once(app):
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--dossiers", "20"])

    password = re.search(r"password of every demo user above \(shown once, DEMO ONLY\): (\S+)",
                         result.output)[1]  # fmt: skip
    assert result.output.count(password) == 1
    users = {u.username: u for u in db.session.scalars(select(User))}
    roles = {"admin", "manager", "clerk", "agency", "hotline", "postman"}
    assert {u.role for u in users.values()} == roles
    clerk_offices = {u.office.code for u in users.values() if u.role == "clerk"}
    assert len(clerk_offices) >= 3
    assert "HL1022" in clerk_offices  # the hotline desk
    assert all(verify_password(user, password) for user in users.values())


def test_seed_is_idempotent_and_keeps_existing_users(app):
    create_user("admin", "admin", "an-admin-password")
    db.session.commit()
    runner = app.test_cli_runner()

    first = runner.invoke(args=["demo", "seed", "--dossiers", "20"])
    dossiers, users = count(Dossier), count(User)
    second = runner.invoke(args=["demo", "seed"])

    assert first.exit_code == 0, first.output
    assert not re.search(r"^\s+admin\s", first.output, re.MULTILINE)  # not listed as a new user
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    assert verify_password(admin, "an-admin-password")
    assert second.exit_code == 0
    assert second.output == "the database already holds 20 dossiers: demo data not loaded\n"
    assert (count(Dossier), count(User)) == (dossiers, users) == (20, 10)


def test_seed_refuses_a_production_database(app, monkeypatch):
    monkeypatch.setitem(app.config, "ENV_NAME", "production")

    result = app.test_cli_runner().invoke(args=["demo", "seed"])

    assert result.exit_code == 1
    assert "never loaded into a production database" in result.output
    assert (count(Dossier), count(Channel)) == (0, 0)


def test_seed_writes_the_2017_baseline_once_and_keeps_a_corrected_one(app):
    runner = app.test_cli_runner()

    first = runner.invoke(args=["demo", "seed", "--dossiers", "20"])

    assert first.exit_code == 0, first.output
    assert "baseline 2017: two_way 579, one_way 307,871, all_tthc 1,101,607" in first.output
    [row] = db.session.scalars(select(Baseline).where(Baseline.year == 2017))
    assert (row.year, row.month, row.two_way, row.one_way, row.send_only) == (
        2017,
        0,
        579,
        307_871,
        None,
    )
    assert round((row.two_way + row.one_way) / row.all_tthc, 3) == 0.28
    assert "Đồng Nai" in row.note and "2017" in row.note
    manager = db.session.scalar(select(User).where(User.username == "manager"))
    assert row.updated_by_id == manager.id
    row.one_way = 307_870  # a manager's correction: a second seed must not undo it
    db.session.commit()

    second = runner.invoke(args=["demo", "seed"])

    assert second.exit_code == 0
    of_2017 = select(Baseline).where(Baseline.year == 2017)
    assert [r.one_way for r in db.session.scalars(of_2017)] == [307_870]
    audits = select(func.count()).where(
        AuditEntry.action == "report.baseline.set", AuditEntry.entity_key == "2017"
    )
    assert db.session.scalar(audits) == 1


def test_seed_adds_the_baseline_to_a_demo_database_that_lacks_it(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "seed", "--dossiers", "20"])
    db.session.execute(delete(Baseline))
    db.session.commit()

    result = runner.invoke(args=["demo", "seed"])

    assert result.exit_code == 0
    assert result.output.endswith("the 2017 baseline added\n")
    assert count(Dossier) == 20
    assert [(r.year, r.two_way) for r in db.session.scalars(select(Baseline))] == [(2017, 579)]


def test_seed_sets_the_go_live_date_and_baselines_before_it_so_the_board_tells_a_true_story(app):
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--password", DEMO_PASSWORD])

    assert result.exit_code == 0, result.output
    first = min(local_date(d.received_at) for d in db.session.scalars(select(Dossier)))
    assert queries.go_live_on() == first
    assert f"go-live date {first:%Y-%m-%d}" in result.output
    months = queries.baselines_of(first.year)
    assert sorted(m for m in months if m) == list(range(1, first.month + 1))  # go-live month too
    assert all(row.two_way and row.one_way and row.send_only for m, row in months.items() if m)
    year_before = queries.baselines_of(first.year - 1)
    assert list(year_before) == [0] and year_before[0].one_way > year_before[0].two_way
    assert [
        r.two_way for r in db.session.scalars(select(Baseline).where(Baseline.year == 2017))
    ] == [579]

    today = today_vn()
    report = build_report(today.year)
    total = report["metrics"]["postal_total"]
    last_year = build_report(today.year - 1)["metrics"]["postal_total"]
    # Last year is whole: its stitched figure, not the records of its last weeks.
    assert total["previous_year"] == last_year["actual"] > 0
    assert total["target"] == target_of(total["previous_year"], Decimal("0.3"))
    # The seed's pace grows about 30% a year, as the plan asks: the year ends near its target.
    assert 0.6 <= total["projection"] / total["target"] <= 1.6, total
    assert total["actual"] <= total["projection"]
    if today.month > 1:
        assert total["progress"] < 1.2  # not 6,084% of plan
    # The 2018 seed case is unchanged.
    seed_case = build_report(2018)["metrics"]
    assert [seed_case[m]["target"] for m in ("two_way", "one_way", "postal_total")] == [
        753,
        400_233,
        400_985,
    ]


def test_seed_keeps_a_go_live_date_a_manager_set(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "seed", "--dossiers", "20"])
    db.session.get(ReportSetting, 1).go_live_on = date(2025, 1, 1)
    db.session.commit()

    again = runner.invoke(args=["demo", "seed"])

    assert again.exit_code == 0
    assert queries.go_live_on() == date(2025, 1, 1)
    db.session.execute(delete(ReportSetting))
    db.session.commit()
    restored = runner.invoke(args=["demo", "seed"])
    assert "go-live date" in restored.output and queries.go_live_on() is not None


def test_seed_records_hotline_calls_in_the_slots_ahead_half_of_them_assigned(app):
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--dossiers", "20"])

    assert result.exit_code == 0, result.output
    pickups = list(db.session.scalars(select(Pickup).order_by(Pickup.id)))
    assert len(pickups) == len(CALLS) and f"{len(CALLS)} calls to hotline 1022" in result.output
    ahead = slots_ahead(utcnow())
    assert all((pickup.day, pickup.slot) in ahead for pickup in pickups)
    assigned = [pickup for pickup in pickups if pickup.state == "assigned"]
    assert len(assigned) == len(CALLS) // 2
    assert all(p.postman.role == "postman" and p.postman.office_id == p.office_id for p in assigned)
    # Each caller was told the slot by SMS.
    assert count(Notification) >= len(CALLS)


def test_a_demo_database_from_another_day_gets_new_calls(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "seed", "--dossiers", "20"])
    yesterday = today_vn() - timedelta(days=1)
    db.session.execute(update(Pickup).values(day=yesterday))
    db.session.commit()

    second = runner.invoke(args=["demo", "seed"])

    assert second.exit_code == 0, second.output
    assert f"{len(CALLS)} demo calls to hotline 1022 recorded" in second.output
    assert count(Pickup) == 2 * len(CALLS)


def test_the_simulation_assigns_due_calls_and_collects_them_at_the_door(app):
    app.test_cli_runner().invoke(args=["demo", "seed", "--dossiers", "20"])
    db.session.execute(update(Pickup).values(day=today_vn()))  # the calls' day has come
    db.session.commit()
    before = count(Dossier)

    rng = random.Random(7)
    for _ in range(3 * len(CALLS)):
        move_pickups(rng)
        db.session.commit()

    states = Counter(db.session.scalars(select(Pickup.state)))
    collected = list(db.session.scalars(select(Pickup).where(Pickup.state == "collected")))
    assert collected and states["collected"] + states["requested"] == len(CALLS)
    assert count(Dossier) == before + len(collected)
    for pickup in collected:
        assert pickup.dossier.channel.code == "hotline_1022"
        assert pickup.dossier.office_id == pickup.office_id
        assert pickup.dossier.applicant_name == pickup.caller_name
        assert pickup.postman.role == "postman"
    # A request found nobody home waits for the next working day, unassigned.
    for pickup in db.session.scalars(select(Pickup).where(Pickup.state == "requested")):
        assert pickup.day > today_vn() and pickup.postman is None


def test_the_simulation_hands_dossiers_over_with_a_record_per_office_and_agency(app):
    app.test_cli_runner().invoke(args=["demo", "seed", "--dossiers", "20"])
    assert db.session.scalar(select(func.count()).where(Dossier.status == "received"))
    # The seed's own events end here. The simulation's forwards are of the seed's received
    # dossiers and, on a working day in Vietnam, of those its pickups collected at the door.
    seeded = db.session.scalar(select(func.max(StatusEvent.id)))

    for seed in range(10):
        simulate(random.Random(seed), per_run=20)
        db.session.commit()

    forwarded = set(
        db.session.scalars(
            select(StatusEvent.dossier_id).where(
                StatusEvent.to_status == "forwarded", StatusEvent.id > seeded
            )
        )
    )
    assert forwarded
    records = list(db.session.scalars(select(HandoverRecord)))
    on_records = [line.dossier for record in records for line in record.lines]
    # Every dossier the simulation handed over is on exactly one record of its agency, printed
    # by a clerk of its office.
    assert sorted(d.id for d in on_records) == sorted(forwarded)
    for record in records:
        assert record.kind == "forward" and record.created_by.role == "clerk"
        assert record.created_by.office_id == record.office_id
        assert {line.dossier.agency_id for line in record.lines} == {record.agency_id}
        assert {line.dossier.office_id for line in record.lines} == {record.office_id}
