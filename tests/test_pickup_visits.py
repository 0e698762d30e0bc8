"""Pickups at the door: the office assigns a request to its postman, the postman records the
visit. Collected: a dossier made by the counter's intake through channel hotline 1022, its code,
secret and link sent by SMS (the secret kept apart and cleared once sent), once however often
the visit is recorded. Not collected: a new slot (SMS again) or the request closed. Scope by
office; every bad input refused naming the field with nothing written."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests import test_pickups
from tests.test_pickups import ELSEWHERE, audited, notices, request_pickup
from tracker.calendar import add_working_days, is_working_day, local_date, utcnow
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.notifications.messages import SECRET_PLACEHOLDER
from tracker.pickups.models import Pickup, PickupVisit
from tracker.reports.growth import ReportFilters, build_report

# The pickup tests' fixtures: the service areas, the hotline operator, a working day ahead.
areas = test_pickups.areas
hotline = test_pickups.hotline
day = test_pickups.day

CHECKLIST = [
    {"name": "Tờ khai yêu cầu cấp phiếu lý lịch tư pháp", "kind": "original", "count": 1},
    {"name": "Bản sao Căn cước", "kind": "certified_copy", "count": 1},
]


@pytest.fixture
def postman(make_staff):
    return make_staff("postman")


@pytest.fixture
def office_clerk(make_staff):
    return make_staff("clerk")


@pytest.fixture
def checklist(catalogue):
    catalogue.procedure.documents = CHECKLIST
    db.session.commit()


@pytest.fixture
def pickup(client, hotline, areas, day, checklist) -> dict:
    """A two-way request of procedure 1.001234 in commune 26041 (office 810000)."""
    return request_pickup(client, hotline, day)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def assign(client, staff, ref: str, postman: str | None, version: int):
    return client.put(
        f"/api/v1/pickups/{ref}/postman",
        json={"postman": postman, "version": version},
        headers=staff.headers,
    )


def visit(client, staff, ref: str, **data):
    return client.post(f"/api/v1/pickups/{ref}/visits", json=data, headers=staff.headers)


def stored(ref: str) -> Pickup:
    db.session.expire_all()
    return db.session.scalar(select(Pickup).where(Pickup.reference == ref))


# Assignment ------------------------------------------------------------------------------------


def test_the_clerk_assigns_reassigns_and_unassigns_a_request(
    client, office_clerk, postman, make_staff, pickup
):
    ref = pickup["reference"]
    colleague = make_staff("postman")

    assigned = assign(client, office_clerk, ref, postman.user.username, pickup["version"])
    assert assigned.status_code == 200, assigned.get_json()
    body = assigned.get_json()
    assert body["state"]["code"] == "assigned"
    assert body["postman"]["username"] == postman.user.username
    stale = assign(client, office_clerk, ref, colleague.user.username, pickup["version"])
    assert stale.status_code == 409
    assert list(stale.get_json()["error"]["fields"]) == ["version"]

    moved = assign(client, office_clerk, ref, colleague.user.username, body["version"])
    assert moved.status_code == 200
    assert (moved.get_json()["state"]["code"], moved.get_json()["postman"]["username"]) == (
        "assigned",
        colleague.user.username,
    )
    mine = client.get("/api/v1/pickups?postman=me", headers=colleague.headers).get_json()
    assert [item["reference"] for item in mine["items"]] == [ref]
    theirs = client.get("/api/v1/pickups?postman=me", headers=postman.headers).get_json()
    assert theirs["items"] == []

    back = assign(client, office_clerk, ref, None, moved.get_json()["version"])
    assert back.status_code == 200
    assert (back.get_json()["state"]["code"], back.get_json()["postman"]) == ("requested", None)
    unassigned = client.get("/api/v1/pickups?postman=none", headers=office_clerk.headers)
    assert [item["reference"] for item in unassigned.get_json()["items"]] == [ref]
    changes = [(e.before["postman"], e.after["postman"]) for e in audited("pickup.assign")]
    assert changes == [
        (None, postman.user.username),
        (postman.user.username, colleague.user.username),
        (colleague.user.username, None),
    ]


def test_only_an_active_postman_of_the_office_may_be_assigned(
    client, office_clerk, make_staff, catalogue, pickup
):
    ref = pickup["reference"]
    elsewhere = make_staff("postman", office=catalogue.other_office)
    retired = make_staff("postman")
    retired.user.active = False
    db.session.commit()

    for name in (elsewhere.user.username, office_clerk.user.username, retired.user.username, "x"):
        response = assign(client, office_clerk, ref, name, pickup["version"])
        assert response.status_code == 422, name
        assert list(response.get_json()["error"]["fields"]) == ["postman"]
    assert (stored(ref).state, stored(ref).postman_id, stored(ref).version) == (
        "requested",
        None,
        pickup["version"],
    )


def test_routing_to_another_office_drops_the_postman(
    client, office_clerk, postman, hotline, pickup
):
    ref = pickup["reference"]
    version = assign(client, office_clerk, ref, postman.user.username, 1).get_json()["version"]

    response = client.patch(
        f"/api/v1/pickups/{ref}",
        json={"version": version, "address": ELSEWHERE},
        headers=hotline.headers,
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["office"]["code"], body["state"]["code"], body["postman"]) == (
        "811000",
        "requested",
        None,
    )


# Collected -------------------------------------------------------------------------------------


def test_collected_makes_a_hotline_dossier_and_texts_its_code_secret_and_link(
    app, client, postman, pickup, tmp_path, monkeypatch
):
    from workers.notifications import deliver

    ref = pickup["reference"]
    visited_at = datetime.fromisoformat(pickup["created_at"]) + timedelta(seconds=1)
    response = visit(
        client,
        postman,
        ref,
        outcome="collected",
        visit_key="k-1",
        visited_at=visited_at.isoformat(),
        intake={"postal_item_number": "EE123456785VN", "fee_vnd": 200000},
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    secret = body["lookup_secret"]
    assert body["created"] is True and secret
    assert body["visit"]["outcome"] == "collected"
    assert body["visit"]["recorded_by"]["username"] == postman.user.username
    assert body["pickup"]["state"]["code"] == "collected"
    # An unassigned request is taken by the postman who went.
    assert body["pickup"]["postman"]["username"] == postman.user.username
    assert body["pickup"]["dossier"] == {"code": body["dossier_code"]}
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == body["dossier_code"]))
    assert dossier.channel.code == "hotline_1022"
    assert dossier.office.code == "810000"
    assert dossier.received_at == visited_at
    assert dossier.created_by_id == postman.user.id
    assert (dossier.applicant_name, dossier.applicant_phone) == (
        pickup["caller_name"],
        pickup["phone"],
    )
    assert dossier.delivery_address == "12 Đường 30/4, khu phố 3, Phường Trấn Biên"
    assert [(d.name, d.kind) for d in dossier.documents] == [
        (d["name"], d["kind"]) for d in CHECKLIST
    ]
    assert (dossier.postal_item_number, dossier.fee_vnd) == ("EE123456785VN", 200000)
    assert stored(ref).collected_at == visited_at
    states = [(e.before["state"], e.after["state"]) for e in audited("pickup.state")]
    assert states == [("requested", "assigned"), ("assigned", "collected")]

    # One SMS for the dossier (in place of the usual "received" one), the secret kept apart.
    db.session.commit()
    [_, sms] = notices()  # the request's own SMS, then the dossier's
    assert (sms.dossier_id, sms.kind, sms.recipient) == (dossier.id, "received", "0912345678")
    assert dossier.code in sms.body and SECRET_PLACEHOLDER in sms.body
    assert secret not in sms.body and sms.lookup_secret == secret
    staff_view = client.get(
        f"/api/v1/dossiers/{dossier.code}/notifications",
        headers=postman.headers,  # postmen have no dossier endpoint
    )
    assert staff_view.status_code == 403

    log_path = tmp_path / "messages.log"
    monkeypatch.setitem(app.config, "NOTIFICATION_LOG", str(log_path))
    assert deliver.run() == 2
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    sent = next(line["body"] for line in lines if line["kind"] == "received")
    link = f"{app.config['PUBLIC_BASE_URL']}/track?code={dossier.code}&secret={secret}"
    assert f"Mã tra cứu: {secret}" in sent and link in sent
    [_, sms] = notices()
    assert (sms.state, sms.lookup_secret) == ("sent", None)  # cleared once sent
    assert secret not in sms.body

    lookup = client.get(f"/api/v1/track?code={dossier.code}&secret={secret}")
    assert lookup.status_code == 200
    assert lookup.get_json()["status"]["code"] == "received"
    page = client.get(link.removeprefix(app.config["PUBLIC_BASE_URL"]))
    assert page.status_code == 200 and dossier.code in page.get_data(as_text=True)


def test_recording_the_same_visit_again_answers_the_first(client, postman, office_clerk, pickup):
    ref = pickup["reference"]
    first = visit(client, postman, ref, outcome="collected", visit_key="tap-1")
    assert first.status_code == 201

    again = visit(client, postman, ref, outcome="collected", visit_key="tap-1")
    other_key = visit(client, office_clerk, ref, outcome="collected", visit_key="tap-2")
    no_key = visit(client, postman, ref, outcome="collected")

    for repeat in (again, other_key, no_key):
        assert repeat.status_code == 200, repeat.get_json()
        body = repeat.get_json()
        assert body["created"] is False and body["lookup_secret"] is None
        assert body["visit"] == first.get_json()["visit"]
        assert body["dossier_code"] == first.get_json()["dossier_code"]
    # The same key answers the first visit whatever it says now.
    changed = visit(client, postman, ref, outcome="not_collected", visit_key="tap-1")
    assert changed.status_code == 200 and changed.get_json()["visit"]["outcome"] == "collected"
    assert (count(Dossier), count(PickupVisit)) == (1, 1)
    listed = client.get(f"/api/v1/pickups/{ref}/visits", headers=office_clerk.headers)
    assert [v["id"] for v in listed.get_json()] == [first.get_json()["visit"]["id"]]


@pytest.mark.postgres_only
def test_two_visits_recorded_at_once_make_one_dossier(app, postman, office_clerk, pickup):
    ref = pickup["reference"]
    start = threading.Barrier(4)

    def post(index: int):
        staff = (postman, office_clerk)[index % 2]
        with app.app_context():
            start.wait()
            return app.test_client().post(
                f"/api/v1/pickups/{ref}/visits",
                json={"outcome": "collected", "visit_key": f"phone-{index}"},
                headers=staff.headers,
            )

    db.session.commit()
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(post, range(4)))

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.get_json()["dossier_code"] for r in responses}) == 1
    assert [bool(r.get_json()["lookup_secret"]) for r in responses].count(True) == 1
    assert (count(Dossier), count(PickupVisit)) == (1, 1)


def test_intake_errors_name_the_field_and_write_nothing(
    client,
    postman,
    office_clerk,
    hotline,
    pickup,
    day,
):
    ref = pickup["reference"]
    before = (count(Dossier), count(PickupVisit), len(notices()))

    bad_item = visit(
        client, postman, ref, outcome="collected", intake={"postal_item_number": "EE123456789VN"}
    )
    assert bad_item.status_code == 422
    assert list(bad_item.get_json()["error"]["fields"]) == ["intake.postal_item_number"]
    unknown = visit(client, postman, ref, outcome="collected", intake={"procedure_code": "9.9"})
    assert unknown.status_code == 422
    assert list(unknown.get_json()["error"]["fields"]) == ["intake.procedure_code"]
    later = (utcnow() + timedelta(hours=2)).isoformat()
    future = visit(client, postman, ref, outcome="collected", visited_at=later)
    assert list(future.get_json()["error"]["fields"]) == ["visited_at"]
    misplaced = visit(client, postman, ref, outcome="collected", reason="absent")
    assert list(misplaced.get_json()["error"]["fields"]) == ["reason"]
    no_procedure = request_pickup(client, hotline, day, procedure_code=None)["reference"]
    unnamed = visit(client, postman, no_procedure, outcome="collected")
    assert list(unnamed.get_json()["error"]["fields"]) == ["intake.procedure_code"]

    assert (count(Dossier), count(PickupVisit)) == before[:2]
    assert len(notices()) == before[2] + 1  # the second request's own SMS only
    assert (stored(ref).state, stored(ref).version, stored(ref).postman_id) == (
        "requested",
        pickup["version"],
        None,
    )
    # A clerk's request with another office's code is the intake's own rule; a collected visit
    # is always at the request's office.
    ok = visit(client, office_clerk, ref, outcome="collected")
    assert ok.status_code == 201
    assert ok.get_json()["pickup"]["postman"] is None  # a clerk takes no postman's place


# Not collected ---------------------------------------------------------------------------------


def test_not_collected_with_a_new_slot_goes_back_to_the_list_and_texts_again(
    client,
    office_clerk,
    postman,
    pickup,
    day,
):
    ref = pickup["reference"]
    assign(client, office_clerk, ref, postman.user.username, 1)
    new_day = add_working_days(day, 1)

    response = visit(
        client,
        postman,
        ref,
        outcome="not_collected",
        reason="absent",
        day=new_day.isoformat(),
        slot="afternoon",
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["dossier_code"] is None and body["lookup_secret"] is None
    assert body["visit"]["reason"]["code"] == "absent"
    assert (body["visit"]["new_day"], body["visit"]["new_slot"]["code"]) == (
        new_day.isoformat(),
        "afternoon",
    )
    assert body["pickup"]["reference"] == ref
    assert (body["pickup"]["state"]["code"], body["pickup"]["postman"]) == ("requested", None)
    assert (body["pickup"]["day"], body["pickup"]["slot"]["code"]) == (
        new_day.isoformat(),
        "afternoon",
    )
    db.session.commit()
    assert [n.kind for n in notices()] == ["pickup_requested", "pickup_rescheduled"]
    assert f"{new_day:%d/%m/%Y}" in notices()[-1].body


def test_not_collected_without_a_slot_closes_the_request(client, postman, pickup):
    ref = pickup["reference"]
    unexplained = visit(client, postman, ref, outcome="not_collected", reason="other")
    assert unexplained.status_code == 422
    assert list(unexplained.get_json()["error"]["fields"]) == ["note"]
    no_reason = visit(client, postman, ref, outcome="not_collected")
    assert list(no_reason.get_json()["error"]["fields"]) == ["reason"]
    assert count(PickupVisit) == 0

    closed = visit(client, postman, ref, outcome="not_collected", reason="other", note="Nhà đã bán")

    assert closed.status_code == 201
    assert closed.get_json()["pickup"]["state"]["code"] == "failed"
    assert closed.get_json()["visit"]["note"] == "Nhà đã bán"
    after = visit(client, postman, ref, outcome="collected")
    assert after.status_code == 409
    assert after.get_json()["error"]["fields"] == {"state": ["allowed after failed: none"]}
    assert count(Dossier) == 0


def test_a_new_slot_in_the_past_or_on_a_day_off_is_refused(client, postman, pickup, today):
    ref = pickup["reference"]
    day_off = today + timedelta(days=1)
    while is_working_day(day_off):
        day_off += timedelta(days=1)
    cases = [
        ({"day": (today - timedelta(days=1)).isoformat(), "slot": "morning"}, "day"),
        ({"day": day_off.isoformat(), "slot": "morning"}, "day"),
        ({"day": today.isoformat()}, "slot"),
    ]
    for schedule, field in cases:
        response = visit(client, postman, ref, outcome="not_collected", reason="absent", **schedule)
        assert response.status_code == 422, schedule
        assert list(response.get_json()["error"]["fields"]) == [field]
    assert count(PickupVisit) == 0
    assert (stored(ref).state, stored(ref).version) == ("requested", pickup["version"])


# Scope -----------------------------------------------------------------------------------------


def test_another_offices_staff_find_no_such_request(
    client,
    make_staff,
    catalogue,
    hotline,
    pickup,
):
    ref = pickup["reference"]
    for role in ("postman", "clerk"):
        outsider = make_staff(role, office=catalogue.other_office)
        responses = [
            visit(client, outsider, ref, outcome="collected"),
            client.get(f"/api/v1/pickups/{ref}/visits", headers=outsider.headers),
            client.get(f"/api/v1/pickups/{ref}", headers=outsider.headers),
        ]
        if role == "clerk":
            responses.append(assign(client, outsider, ref, None, 1))
        for response in responses:
            assert response.status_code == 404, (role, response.request.path)
            assert response.get_json()["error"]["code"] == "not_found"
    assert visit(client, hotline, ref, outcome="collected").status_code == 403
    postman = make_staff("postman")
    assert assign(client, postman, ref, postman.user.username, 1).status_code == 403
    assert client.get("/api/v1/dossiers", headers=postman.headers).status_code == 403
    assert (count(Dossier), count(PickupVisit), stored(ref).state) == (0, 0, "requested")


def test_a_dossier_collected_at_the_door_counts_in_the_hotline_channel_on_its_day(
    app, client, postman, pickup
):
    visited_at = datetime.fromisoformat(pickup["created_at"]) + timedelta(seconds=1)
    response = visit(
        client,
        postman,
        pickup["reference"],
        outcome="collected",
        visited_at=visited_at.isoformat(),
    )
    assert response.status_code == 201, response.get_json()

    day = local_date(visited_at)
    report = build_report(day.year, day, ReportFilters())
    channels = {row["code"]: row["metrics"] for row in report["breakdowns"]["channel"]}
    assert channels["hotline_1022"]["two_way"]["actual"] == 1
    office = {row["code"]: row["metrics"] for row in report["breakdowns"]["office"]}
    assert office["810000"]["two_way"]["actual"] == 1
    assert report["metrics"]["two_way"]["actual"] == 1
