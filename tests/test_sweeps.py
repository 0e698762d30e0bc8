"""Sweeps: overdue and stuck marks, reconciliation of the postal and agency sides, the anomalies
endpoint, the leases of the periodic tasks and a real worker running them.

Most tests live in June 2025 (no public holiday between 3 May and 31 August) and hand the sweep
its `now`, so that working days are exact and the expectations are written out as dates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import fresh_session
from tracker.calendar import VN_TZ, utcnow
from tracker.dossiers import operations
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.feeds.models import FeedBatch, FeedEvent
from tracker.outbox import operations as outbox
from tracker.sweeps import operations as sweeps
from tracker.sweeps.models import Anomaly


def vn(*args: int) -> datetime:
    """A moment given in Vietnam time."""
    return datetime(*args, tzinfo=VN_TZ)


JUNE_2 = vn(2025, 6, 2, 8, 0)  # a Monday


def move(dossier: Dossier, status: str, when: datetime, source: str = "counter", **kwargs):
    if status == "delivered":
        kwargs.setdefault("receiver", {"name": "Trần Thị Bình", "relation": "family"})
    outcome = operations.record_event(dossier, status, source=source, occurred_at=when, **kwargs)
    db.session.commit()
    return outcome


def marks(*dossiers: Dossier) -> list[tuple[datetime | None, datetime | None]]:
    db.session.commit()  # a fresh snapshot: a task commits in a session of its own
    db.session.expire_all()
    return [(d.overdue_since, d.stuck_since) for d in dossiers]


# Overdue ---------------------------------------------------------------------------------------


def test_overdue_marks_follow_the_supplement_adjusted_due_date(app, make_dossier):
    now = vn(2025, 6, 18, 10, 0)  # Wednesday
    # Forwarded Tuesday 3 June: the procedure's 10 working days end Tuesday 17 June.
    late = make_dossier(received_at=JUNE_2)
    move(late, "forwarded", vn(2025, 6, 3, 9))
    move(late, "processing", vn(2025, 6, 4, 9))
    due_today = make_dossier(received_at=JUNE_2)
    move(due_today, "forwarded", vn(2025, 6, 3, 9))
    move(due_today, "processing", vn(2025, 6, 4, 9), appointment_date=date(2025, 6, 18))
    # Paused Friday 6 -> Monday 9 June: one working day (three calendar days) pushes 16 -> 17.
    short_pause = make_dossier(received_at=JUNE_2)
    move(short_pause, "forwarded", vn(2025, 6, 3, 9))
    move(short_pause, "processing", vn(2025, 6, 4, 9), appointment_date=date(2025, 6, 16))
    move(short_pause, "supplement_required", vn(2025, 6, 6, 9))
    move(short_pause, "processing", vn(2025, 6, 9, 9))
    # Paused Thursday 5 -> Thursday 12 June: five working days push 16 -> 23.
    long_pause = make_dossier(received_at=JUNE_2)
    move(long_pause, "forwarded", vn(2025, 6, 3, 9))
    move(long_pause, "processing", vn(2025, 6, 4, 9), appointment_date=date(2025, 6, 16))
    move(long_pause, "supplement_required", vn(2025, 6, 5, 9))
    move(long_pause, "processing", vn(2025, 6, 12, 9))
    # Past its date but waiting for the citizen: the clock is paused, never overdue.
    paused = make_dossier(received_at=JUNE_2)
    move(paused, "forwarded", vn(2025, 6, 3, 9))
    move(paused, "processing", vn(2025, 6, 4, 9), appointment_date=date(2025, 6, 10))
    move(paused, "supplement_required", vn(2025, 6, 16, 9))
    # The agency is done: past the date, but not the agency's delay any more.
    done = make_dossier("send_only", received_at=JUNE_2)
    move(done, "forwarded", vn(2025, 6, 3, 9))
    move(done, "processing", vn(2025, 6, 4, 9), appointment_date=date(2025, 6, 5))
    move(done, "result_ready", vn(2025, 6, 6, 9))
    everyone = (late, due_today, short_pause, long_pause, paused, done)
    assert [d.due_date.day for d in everyone] == [17, 18, 17, 23, 10, 5]

    counts = sweeps.mark_overdue_and_stuck(now)
    db.session.commit()

    assert (counts.overdue_marked, counts.overdue_cleared) == (2, 0)
    assert [m[0] for m in marks(*everyone)] == [now, None, now, None, None, None]
    # The same rule as the model's own (shown in the API as `overdue`).
    assert [d.overdue_since is not None for d in everyone] == [
        d.is_overdue(date(2025, 6, 18)) for d in everyone
    ]

    # A day later the dossier due on the 18th is late too; the others keep their first mark.
    next_day = vn(2025, 6, 19, 0, 5)
    assert sweeps.mark_overdue_and_stuck(next_day).overdue_marked == 1
    db.session.commit()
    assert [m[0] for m in marks(late, due_today, short_pause)] == [now, next_day, now]


def test_overdue_mark_is_cleared_when_the_dossier_moves_on_or_gets_a_new_date(
    app, catalogue, make_staff, make_dossier
):
    now = vn(2025, 6, 18, 10, 0)
    answered, paused, new_date = [make_dossier(received_at=JUNE_2) for _ in range(3)]
    for dossier in (answered, paused, new_date):
        move(dossier, "forwarded", vn(2025, 6, 3, 9))
        move(dossier, "processing", vn(2025, 6, 4, 9))
    assert sweeps.mark_overdue_and_stuck(now).overdue_marked == 3
    db.session.commit()

    move(answered, "result_ready", vn(2025, 6, 18, 11))
    move(paused, "supplement_required", vn(2025, 6, 18, 11))
    officer = make_staff("agency", agency=catalogue.agency).user
    operations.update_dossier(
        new_date, {"version": new_date.version, "appointment_date": date(2025, 6, 30)}, officer
    )
    db.session.commit()
    counts = sweeps.mark_overdue_and_stuck(vn(2025, 6, 18, 12, 0))
    db.session.commit()

    assert (counts.overdue_marked, counts.overdue_cleared) == (0, 3)
    assert [m[0] for m in marks(answered, paused, new_date)] == [None, None, None]


def test_a_sweep_does_not_move_the_version_a_client_read(client, clerk, make_dossier):
    dossier = make_dossier(received_at=JUNE_2)
    move(dossier, "forwarded", vn(2025, 6, 3, 9))
    url = f"/api/v1/dossiers/{dossier.code}"
    read = client.get(url, headers=clerk.headers).get_json()
    assert read["overdue"] is True and read["overdue_since"] is None
    updated_at = db.session.get(Dossier, dossier.id).updated_at

    counts = sweeps.mark_overdue_and_stuck()  # today: long past its June 2025 date
    db.session.commit()
    assert counts.overdue_marked == counts.stuck_marked == 1

    db.session.expire_all()
    stored = db.session.get(Dossier, dossier.id)
    assert stored.version == read["version"] and stored.updated_at == updated_at
    # The clerk's edit, made with the version read before the sweep, goes through.
    edited = client.patch(
        url, json={"version": read["version"], "fee_vnd": 0}, headers=clerk.headers
    )
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["overdue_since"] is not None
    assert edited.get_json()["stuck_since"] is not None


# Stuck -----------------------------------------------------------------------------------------


def test_working_days_cutoff():
    # Monday, one working day: Friday must have passed whole.
    assert sweeps.working_days_cutoff(date(2025, 6, 16), 1) == vn(2025, 6, 13)
    assert sweeps.working_days_cutoff(date(2025, 6, 18), 3) == vn(2025, 6, 13)
    # Tết 2025 (Monday 27 to Friday 31 January off): two working days before 4 February.
    assert sweeps.working_days_cutoff(date(2025, 2, 4), 2) == vn(2025, 1, 24)


def test_stuck_after_n_working_days_without_event_and_cleared_by_one(
    app, make_dossier, monkeypatch
):
    monkeypatch.setitem(app.config, "STUCK_AFTER_DAYS", 3)
    now = vn(2025, 6, 18, 10, 0)  # Wednesday: 13, 16 and 17 June are the last 3 working days
    quiet = make_dossier(received_at=JUNE_2)
    move(quiet, "forwarded", vn(2025, 6, 12, 15))
    # A late event (it happened before the last change) says nothing about progress now.
    assert not move(quiet, "processing", vn(2025, 6, 11, 9), source="agency").applied
    edge = make_dossier(received_at=JUNE_2)
    move(edge, "forwarded", vn(2025, 6, 13, 0, 0))
    just_before = make_dossier(received_at=JUNE_2)
    move(just_before, "forwarded", vn(2025, 6, 12, 23, 59, 59))
    closed = make_dossier(received_at=JUNE_2)
    move(closed, "withdrawn", vn(2025, 6, 3, 9))

    counts = sweeps.mark_overdue_and_stuck(now)
    db.session.commit()

    assert (counts.stuck_marked, counts.stuck_cleared) == (2, 0)
    assert [m[1] for m in marks(quiet, edge, just_before, closed)] == [now, None, now, None]

    # An applied event clears the mark at once; the sweep finds nothing left to clear.
    move(quiet, "processing", vn(2025, 6, 18, 11), source="agency")
    assert quiet.stuck_since is None
    counts = sweeps.mark_overdue_and_stuck(vn(2025, 6, 18, 12))
    db.session.commit()
    assert (counts.stuck_marked, counts.stuck_cleared) == (0, 0)
    assert [m[1] for m in marks(quiet, just_before)] == [None, now]


def test_list_filters_on_the_marks(client, clerk, make_dossier):
    overdue = make_dossier(received_at=JUNE_2)
    move(overdue, "forwarded", vn(2025, 6, 3, 9))
    fresh = make_dossier(received_at=utcnow() - timedelta(minutes=5))
    sweeps.mark_overdue_and_stuck()
    db.session.commit()

    def codes(query: str) -> list[str]:
        response = client.get(f"/api/v1/dossiers?{query}", headers=clerk.headers)
        assert response.status_code == 200, response.get_json()
        return [item["code"] for item in response.get_json()["items"]]

    assert codes("stuck=true") == codes("overdue=true") == [overdue.code]
    assert codes("stuck=false") == codes("overdue=false") == [fresh.code]
    bad = client.get("/api/v1/dossiers?stuck=often", headers=clerk.headers)
    assert bad.status_code == 422
    assert list(bad.get_json()["error"]["fields"]) == ["stuck"]


# Reconciliation --------------------------------------------------------------------------------


def anomalies() -> dict[tuple[int, str], Anomaly]:
    db.session.expire_all()
    return {(a.dossier_id, a.kind): a for a in db.session.scalars(select(Anomaly))}


def test_delivery_without_result_then_collected_before_the_result(app, make_dossier):
    contradicted = make_dossier(received_at=JUNE_2)
    move(contradicted, "forwarded", vn(2025, 6, 3, 9))
    move(contradicted, "processing", vn(2025, 6, 5, 9), source="agency")
    # The post says it delivered before the agency even had the result: kept as a late event.
    late = move(contradicted, "delivered", vn(2025, 6, 4, 16), source="postal_feed")
    assert not late.applied
    normal = make_dossier(received_at=JUNE_2)
    for status, day in [("forwarded", 3), ("processing", 4), ("result_ready", 9)]:
        move(normal, status, vn(2025, 6, day, 9))
    for status, day in [("result_collected", 10), ("out_for_delivery", 11), ("delivered", 11)]:
        move(normal, status, vn(2025, 6, day, 15), source="postal_feed")
    one_way = make_dossier("return_only", received_at=JUNE_2, procedure_code="1.004567")
    move(one_way, "delivered", vn(2025, 6, 3, 9), source="postal_feed")

    summary = sweeps.reconcile(vn(2025, 6, 6, 10))
    db.session.commit()

    assert summary["delivery_without_result"] == {"found": 1, "reopened": 0, "resolved": 0}
    found = anomalies()
    assert list(found) == [(contradicted.id, "delivery_without_result")]
    anomaly = found[(contradicted.id, "delivery_without_result")]
    assert "16:00 04/06/2025" in anomaly.detail and "Đang giải quyết" in anomaly.detail
    assert anomaly.found_at == vn(2025, 6, 6, 10) and anomaly.resolved_at is None

    # The agency's result arrives: no longer missing, but dated after the post delivered it.
    move(contradicted, "result_ready", vn(2025, 6, 10, 9), source="agency_feed")
    summary = sweeps.reconcile(vn(2025, 6, 10, 10))
    db.session.commit()

    assert summary["delivery_without_result"]["resolved"] == 1
    assert summary["collected_before_result"]["found"] == 1
    found = anomalies()
    assert found[(contradicted.id, "delivery_without_result")].resolved_at == vn(2025, 6, 10, 10)
    before = found[(contradicted.id, "collected_before_result")]
    assert before.data == {
        "carried_at": "2025-06-04T09:00:00+00:00",
        "result_at": "2025-06-10T02:00:00+00:00",
    }
    # A second run finds nothing new and changes nothing.
    again = sweeps.reconcile(vn(2025, 6, 10, 11))
    assert all(counts == {"found": 0, "reopened": 0, "resolved": 0} for counts in again.values())


def test_result_not_collected_after_n_working_days(app, make_dossier):
    now = vn(2025, 6, 18, 10)  # 3 working days back: Friday 13 June 00:00

    def with_result(status: str, day: int, service_form: str = "two_way") -> Dossier:
        dossier = make_dossier(service_form, received_at=JUNE_2)
        move(dossier, "forwarded", vn(2025, 6, 3, 9))
        move(dossier, "processing", vn(2025, 6, 4, 9))
        move(dossier, status, vn(2025, 6, day, 9))
        return dossier

    forgotten = with_result("result_ready", 12)
    recent = with_result("result_ready", 16)
    refused = with_result("rejected", 10)  # a refusal notice is returned by post too
    at_the_agency = with_result("result_ready", 5, "send_only")

    summary = sweeps.reconcile(now)
    db.session.commit()

    assert summary["result_not_collected"]["found"] == 2
    found = anomalies()
    assert set(found) == {
        (forgotten.id, "result_not_collected"),
        (refused.id, "result_not_collected"),
    }
    assert "quá 3 ngày làm việc" in found[(forgotten.id, "result_not_collected")].detail
    assert recent.id and at_the_agency.id

    move(forgotten, "result_collected", vn(2025, 6, 18, 11))
    summary = sweeps.reconcile(vn(2025, 6, 18, 12))
    db.session.commit()
    assert summary["result_not_collected"] == {"found": 0, "reopened": 0, "resolved": 1}


def rejected_feed_event(dossier: Dossier | None, event_id: str, status: str, source="postal"):
    batch = FeedBatch(source=source, event_count=1)
    event = FeedEvent(
        batch=batch,
        source=source,
        event_id=event_id,
        item_number="EE123456785VN" if source == "postal" else None,
        dossier_code=None if source == "postal" or dossier is None else dossier.code,
        raw_code="EMS-DLV" if source == "postal" else None,
        status=status,
        occurred_at=vn(2025, 6, 9, 14),
        payload={"event_id": event_id},
        state="rejected",
        dossier_id=dossier.id if dossier else None,
        error="processing cannot be followed by delivered",
    )
    db.session.add(event)
    db.session.commit()
    return event


def test_rejected_feed_events_are_listed_resolved_and_reopened(app, make_dossier):
    dossier = make_dossier(received_at=JUNE_2)
    move(dossier, "forwarded", vn(2025, 6, 3, 9))
    move(dossier, "processing", vn(2025, 6, 4, 9))
    first = rejected_feed_event(dossier, "P-1", "delivered")
    rejected_feed_event(None, "P-unknown", "delivered")  # no dossier: the unmatched list's job
    agency_side = make_dossier(received_at=JUNE_2)
    move(agency_side, "forwarded", vn(2025, 6, 3, 9))
    rejected_feed_event(agency_side, "A-1", "result_ready", source="agency")
    # Refused, but the dossier reached that status anyway: nothing to look into.
    reached = make_dossier(received_at=JUNE_2)
    move(reached, "forwarded", vn(2025, 6, 3, 9))
    rejected_feed_event(reached, "P-2", "forwarded")

    summary = sweeps.reconcile(vn(2025, 6, 10, 10))
    db.session.commit()
    assert summary["postal_event_rejected"]["found"] == 1
    assert summary["agency_event_rejected"]["found"] == 1
    anomaly = anomalies()[(dossier.id, "postal_event_rejected")]
    assert "EMS-DLV" in anomaly.detail and "P-1" in anomaly.detail
    assert anomaly.data["count"] == 1

    first.state = "applied"  # replayed by an operator
    db.session.commit()
    summary = sweeps.reconcile(vn(2025, 6, 10, 11))
    db.session.commit()
    assert summary["postal_event_rejected"]["resolved"] == 1

    rejected_feed_event(dossier, "P-3", "out_for_delivery")
    summary = sweeps.reconcile(vn(2025, 6, 10, 12))
    db.session.commit()
    assert summary["postal_event_rejected"] == {"found": 0, "reopened": 1, "resolved": 0}
    reopened = anomalies()[(dossier.id, "postal_event_rejected")]
    assert reopened.id == anomaly.id
    assert reopened.resolved_at is None and reopened.found_at == vn(2025, 6, 10, 12)
    assert "P-3" in reopened.detail


def test_only_dossiers_with_recent_events_are_searched_until_a_full_run(app, make_dossier):
    withdrawn = make_dossier(received_at=JUNE_2)
    move(withdrawn, "forwarded", vn(2025, 6, 3, 9))
    move(withdrawn, "withdrawn", vn(2025, 6, 5, 9))
    move(withdrawn, "out_for_delivery", vn(2025, 6, 4, 9), source="postal_feed")
    # Two days on, its events (recorded just now) are out of the 24-hour look-back.
    later = utcnow() + timedelta(days=2)
    assert sweeps.last_event_before(later) == db.session.scalar(select(func.max(StatusEvent.id)))

    assert sweeps.reconcile(later)["delivery_without_result"]["found"] == 0
    full = sweeps.reconcile(later, full=True)
    assert full["delivery_without_result"]["found"] == 1
    db.session.commit()
    # Open anomalies are re-checked on every run, window or not: still there, not resolved.
    again = sweeps.reconcile(later + timedelta(hours=1))
    assert again["delivery_without_result"] == {"found": 0, "reopened": 0, "resolved": 0}
    assert anomalies()[(withdrawn.id, "delivery_without_result")].resolved_at is None

    # Within the look-back, a new contradiction is found by the hourly run.
    fresh = make_dossier(received_at=JUNE_2)
    move(fresh, "forwarded", vn(2025, 6, 3, 9))
    move(fresh, "processing", vn(2025, 6, 5, 9))
    move(fresh, "delivered", vn(2025, 6, 4, 9), source="postal_feed")
    assert sweeps.last_event_before(utcnow() - timedelta(hours=24)) == 0
    assert sweeps.reconcile()["delivery_without_result"]["found"] == 1


# The anomalies endpoint -----------------------------------------------------------------------


def add_anomaly(dossier: Dossier, kind: str, resolved: bool = False) -> Anomaly:
    anomaly = Anomaly(
        dossier_id=dossier.id,
        kind=kind,
        detail="Chi tiết",
        data={},
        found_at=vn(2025, 6, 10, 10),
        resolved_at=vn(2025, 6, 11, 10) if resolved else None,
    )
    db.session.add(anomaly)
    db.session.commit()
    return anomaly


def test_anomalies_route_is_not_taken_for_a_dossier_code(app, client, clerk, catalogue):
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/api/v1/dossiers/anomalies")[0] == "sweeps.list_anomalies"
    assert adapter.match("/api/v1/dossiers/anomalias")[0] == "dossiers.DossierItem"
    response = client.get("/api/v1/dossiers/anomalies", headers=clerk.headers)
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


def test_anomalies_scope_filters_and_pages(client, make_staff, catalogue, make_dossier):
    here = make_dossier(received_at=JUNE_2)
    there = make_dossier(received_at=JUNE_2, office_code="811000", procedure_code="1.009876")
    move(here, "forwarded", vn(2025, 6, 3, 9))
    old = add_anomaly(here, "result_not_collected", resolved=True)
    add_anomaly(here, "delivery_without_result")
    add_anomaly(there, "postal_event_rejected")
    clerk_here = make_staff("clerk")
    clerk_there = make_staff("clerk", office=catalogue.other_office)
    officer = make_staff("agency", agency=catalogue.other_agency)
    manager = make_staff("manager")

    def listed(staff, query: str = "") -> list[tuple[str, str]]:
        response = client.get(f"/api/v1/dossiers/anomalies?{query}", headers=staff.headers)
        assert response.status_code == 200, response.get_json()
        return [(i["dossier_code"], i["kind"]["code"]) for i in response.get_json()["items"]]

    assert listed(clerk_here) == [(here.code, "delivery_without_result")]
    assert listed(clerk_there) == [(there.code, "postal_event_rejected")]
    # Naming another office changes nothing: the scope still applies.
    assert listed(clerk_there, "office=810000") == []
    assert listed(officer) == [(there.code, "postal_event_rejected")]
    assert listed(manager) == [
        (there.code, "postal_event_rejected"),
        (here.code, "delivery_without_result"),
    ]
    assert listed(manager, "office=810000") == [(here.code, "delivery_without_result")]
    assert listed(manager, "kind=postal_event_rejected") == [(there.code, "postal_event_rejected")]
    assert listed(manager, "open=false") == [(here.code, "result_not_collected")]

    item = client.get("/api/v1/dossiers/anomalies?open=false", headers=manager.headers).get_json()[
        "items"
    ][0]
    assert item == {
        "dossier_code": here.code,
        "office": "810000",
        "status": item["status"] | {"code": "forwarded"},
        "kind": {
            "code": "result_not_collected",
            "label_vi": "Có kết quả đã lâu nhưng bưu điện chưa nhận",
            "label_en": "Result ready long ago, not collected by the post",
        },
        "detail": "Chi tiết",
        "data": {},
        "found_at": old.found_at.isoformat(),
        "resolved_at": old.resolved_at.isoformat(),
    }

    page = client.get("/api/v1/dossiers/anomalies?limit=1", headers=manager.headers).get_json()
    assert [i["dossier_code"] for i in page["items"]] == [there.code]
    rest = client.get(
        f"/api/v1/dossiers/anomalies?limit=1&cursor={page['next_cursor']}",
        headers=manager.headers,
    ).get_json()
    assert [i["dossier_code"] for i in rest["items"]] == [here.code]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("kind=late", ["kind"]),
        ("open=maybe", ["open"]),
        ("office=NOPE", ["office"]),
        ("limit=0", ["limit"]),
        ("cursor=@@", ["cursor"]),
        ("colour=blue", ["colour"]),
    ],
)
def test_anomalies_bad_filters_name_the_field(client, clerk, catalogue, query, fields):
    response = client.get(f"/api/v1/dossiers/anomalies?{query}", headers=clerk.headers)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == fields


def test_anomalies_need_a_staff_token(client, catalogue):
    assert client.get("/api/v1/dossiers/anomalies").status_code == 401


# Tasks: leases and a real worker -------------------------------------------------------------


def test_a_run_that_finds_the_lease_held_is_skipped(app, make_dossier):
    from workers.sweeps import mark_overdue_and_stuck

    dossier = make_dossier(received_at=JUNE_2)
    move(dossier, "forwarded", vn(2025, 6, 3, 9))
    lease = "sweeps.mark_overdue_and_stuck"
    assert outbox.acquire_lease(lease, timedelta(minutes=5), holder="other-host:1")

    assert mark_overdue_and_stuck() is None  # through TrackerTask.__call__, as a worker runs it
    assert marks(dossier) == [(None, None)]

    outbox.release_lease(lease, holder="other-host:1")
    assert mark_overdue_and_stuck()["overdue_marked"] == 1
    assert marks(dossier)[0][0] is not None
    # Released after the run, for the next one.
    assert outbox.lease_expires_at(lease) is None


def wait_for(condition, worker, timeout: float = 30.0) -> None:
    worker.wait_for(condition, timeout, before_each=fresh_session)


def test_worker_process_runs_the_sweeps(app, make_dossier, start_worker):
    dossier = make_dossier(received_at=JUNE_2)
    move(dossier, "forwarded", vn(2025, 6, 3, 9))
    move(dossier, "processing", vn(2025, 6, 4, 9))
    move(dossier, "result_ready", vn(2025, 6, 5, 9))
    celery = app.extensions["celery"]
    worker = start_worker()

    # Another worker holds the lease: this run is skipped, and says so.
    lease = "sweeps.mark_overdue_and_stuck"
    assert outbox.acquire_lease(lease, timedelta(minutes=5), holder="other-host:1")
    celery.send_task(lease)
    wait_for(lambda: b"skipped" in worker.log_path.read_bytes(), worker)
    assert marks(dossier) == [(None, None)]
    outbox.release_lease(lease, holder="other-host:1")

    celery.send_task(lease)
    wait_for(lambda: db.session.get(Dossier, dossier.id).stuck_since is not None, worker)
    celery.send_task("sweeps.reconcile")
    wait_for(
        lambda: db.session.scalar(select(func.count()).select_from(Anomaly)) == 1,
        worker,
    )
    assert db.session.scalar(select(Anomaly.kind)) == "result_not_collected"
