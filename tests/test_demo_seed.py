"""`flask demo seed`: sample data that reaches every status through the real operations."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta
from itertools import pairwise

from sqlalchemy import delete, func, select

from tracker.accounts.models import User
from tracker.accounts.operations import create_user, verify_password
from tracker.audit.models import AuditEntry
from tracker.calendar import today_vn, utcnow
from tracker.catalogue.models import SERVICE_FORMS, Channel, Office
from tracker.dossiers.lifecycle import INITIAL_STATUS, STATUSES, is_allowed
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.reports.models import Baseline

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
        assert history[0].to_status == INITIAL_STATUS[dossier.service_form]
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
    assert {u.role for u in users.values()} == {"admin", "manager", "clerk", "agency"}
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
    assert (count(Dossier), count(User)) == (dossiers, users) == (20, 7)


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
    [row] = db.session.scalars(select(Baseline))
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
    assert [r.one_way for r in db.session.scalars(select(Baseline))] == [307_870]
    audits = select(func.count()).where(AuditEntry.action == "report.baseline.set")
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
