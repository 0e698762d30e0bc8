"""Pickup requests (hotline 1022): a call recorded and routed to the office that serves the
commune, its SMS queued and delivered, scope by office, every bad input refused naming the field
with nothing written, rescheduling, re-routing and cancelling; the roles hotline and postman."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tracker.accounts.operations import create_user
from tracker.audit.models import AuditEntry
from tracker.calendar import VN_TZ, add_working_days, is_working_day
from tracker.catalogue.models import Commune, Office, ServiceArea
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.notifications.messages import sms_size
from tracker.notifications.models import Notification
from tracker.outbox.models import OutboxMessage
from tracker.pickups.models import Pickup

REFERENCE = re.compile(r"TG-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
CALLER = "Nguyễn Văn An"
STREET = "12 Đường 30/4, khu phố 3"
# An address in the commune the other office (811000) serves.
ELSEWHERE = {"street": "1 Hùng Vương", "commune_code": "26046"}


@dataclass
class Areas:
    served: Commune  # by the catalogue's office (810000)
    other: Commune  # by the other office (811000)
    unserved: Commune
    moving: Commune  # 810000 until `switch`, 811000 from the next day
    switch: date


@pytest.fixture
def areas(app, catalogue, today) -> Areas:
    switch = add_working_days(today, 3)
    served = Commune(code="26041", name="Phường Trấn Biên", province="Đồng Nai")
    other = Commune(code="26046", name="Phường Long Khánh", province="Đồng Nai")
    unserved = Commune(code="26099", name="Xã Định Quán", province="Đồng Nai")
    moving = Commune(code="26045", name="Phường Hố Nai", province="Đồng Nai")
    db.session.add_all(
        [
            ServiceArea(commune=served, office=catalogue.office),
            ServiceArea(commune=other, office=catalogue.other_office),
            ServiceArea(commune=moving, office=catalogue.office, active_to=switch),
            ServiceArea(
                commune=moving,
                office=catalogue.other_office,
                active_from=switch + timedelta(days=1),
            ),
        ]
    )
    db.session.add(unserved)
    db.session.commit()
    return Areas(served, other, unserved, moving, switch)


@pytest.fixture
def hotline(make_staff):
    return make_staff("hotline")


@pytest.fixture
def day(today) -> date:
    """A working day after today: both of its slots are ahead whatever the time now."""
    return add_working_days(today, 1)


def payload(when: date, **overrides) -> dict:
    data = {
        "caller_name": CALLER,
        "phone": "0912 345 678",
        "address": {"street": STREET, "commune_code": "26041"},
        "service_form": "two_way",
        "procedure_code": "1.001234",
        "day": when.isoformat(),
        "slot": "morning",
        "note": "Gọi trước 15 phút",
    }
    data.update(overrides)
    return data


def request_pickup(client, staff, when: date, **overrides) -> dict:
    response = client.post(
        "/api/v1/pickups", json=payload(when, **overrides), headers=staff.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def audited(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(db.session.scalars(query))


def notices() -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def deliveries_enqueued() -> int:
    query = select(func.count()).where(OutboxMessage.task == "notifications.deliver")
    return db.session.scalar(query.select_from(OutboxMessage))


# Recording a call -------------------------------------------------------------------------------


def test_a_call_is_routed_to_the_communes_office_and_the_slot_confirmed_by_sms(
    client, hotline, areas, day
):
    response = client.post("/api/v1/pickups", json=payload(day), headers=hotline.headers)

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert REFERENCE.fullmatch(body["reference"])
    assert body["office"] == {"code": "810000", "name": "Bưu cục Biên Hòa"}
    assert body["state"]["code"] == "requested"
    assert body["phone"] == "0912345678"  # normalised as the dossier applicant's
    assert body["address"] == {
        "street": STREET,
        "commune": {"code": "26041", "name": "Phường Trấn Biên"},
    }
    assert (body["day"], body["slot"]["code"]) == (day.isoformat(), "morning")
    assert body["procedure"]["code"] == "1.001234"
    assert body["service_form"]["code"] == "two_way"
    assert body["allowed_next"] == ["assigned", "cancelled"]
    assert body["version"] == 1

    [sms] = notices()
    pickup = db.session.scalar(select(Pickup))
    assert (sms.pickup_id, sms.dossier_id, sms.event_id) == (pickup.id, None, None)
    assert (sms.channel, sms.recipient, sms.kind, sms.state) == (
        "sms",
        "0912345678",
        "pickup_requested",
        "queued",
    )
    assert sms.body == (
        f"Bưu điện đã nhận yêu cầu thu gom hồ sơ {body['reference']}: bưu tá đến buổi sáng "
        f"(8h-12h) ngày {day:%d/%m/%Y}. Cần đổi lịch, gọi 1022."
    )
    assert CALLER not in sms.body and STREET not in sms.body
    assert deliveries_enqueued() == 1
    [entry] = audited("pickup.create")
    assert entry.actor_id == hotline.user.id and entry.entity_key == body["reference"]
    assert entry.after["office"] == "810000" and entry.after["commune"] == "26041"


def test_an_admin_records_calls_too_and_the_procedure_is_optional(client, make_staff, areas, day):
    admin = make_staff("admin")
    body = request_pickup(
        client, admin, day, procedure_code=None, service_form="send_only", note=None
    )
    assert body["procedure"] is None and body["note"] is None
    assert body["service_form"]["code"] == "send_only"
    assert body["office"]["code"] == "810000"


def test_the_sms_is_delivered_by_the_notifications_task(
    app, client, hotline, areas, day, tmp_path, monkeypatch
):
    from workers.notifications import deliver

    log_path = tmp_path / "messages.log"
    monkeypatch.setitem(app.config, "NOTIFICATION_LOG", str(log_path))
    reference = request_pickup(client, hotline, day)["reference"]
    db.session.commit()

    assert deliver.run() == 1
    assert deliver.run() == 0  # sent once
    [sms] = notices()
    assert (sms.state, sms.attempts, sms.gateway_reference) == ("sent", 1, f"log-{sms.id}")
    [line] = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert (line["recipient"], line["kind"]) == ("091*****78", "pickup_requested")
    assert reference in line["body"]


def test_every_pickup_sms_fits_two_ucs2_segments_or_one_gsm_segment(
    app, client, hotline, areas, day, monkeypatch
):
    for unaccented in (False, True):
        monkeypatch.setitem(app.config, "NOTIFICATION_SMS_UNACCENTED", unaccented)
        for slot in ("morning", "afternoon"):
            created = request_pickup(client, hotline, day, slot=slot)
            later = add_working_days(day, 1).isoformat()
            moved = client.patch(
                f"/api/v1/pickups/{created['reference']}",
                json={"version": 1, "day": later},
                headers=hotline.headers,
            )
            assert moved.status_code == 200, moved.get_json()
    texts = [n.body for n in notices()]
    assert len(texts) == 8
    for text in texts:
        size = sms_size(text)
        assert size.segments <= (1 if size.encoding == "gsm7" else 2), text
    assert {sms_size(text).encoding for text in texts} == {"ucs2", "gsm7"}
    assert any(text.startswith("Buu dien da doi lich thu gom") for text in texts)


# References ---------------------------------------------------------------------------------


def test_references_are_random_and_typed_forgivingly(client, hotline, areas, day):
    first = request_pickup(client, hotline, day)["reference"]
    second = request_pickup(client, hotline, day)["reference"]
    assert first != second
    symbols = first.replace("-", "")[2:]
    typed = "tg " + symbols.lower().replace("0", "o").replace("1", "l")
    response = client.get(f"/api/v1/pickups/{typed}", headers=hotline.headers)
    assert response.status_code == 200
    assert response.get_json()["reference"] == first
    for nonsense in ("TG-0000-0000", "TG-7K3M", "EE123456785VN", "TG-7K3M-Q9XD-7K3M", "x" * 500):
        missing = client.get(f"/api/v1/pickups/{nonsense}", headers=hotline.headers)
        assert missing.status_code == 404, nonsense
        assert missing.get_json()["error"]["code"] == "not_found"


# Scope ----------------------------------------------------------------------------------------


def test_each_office_sees_its_own_and_another_offices_answers_404_as_a_missing_one(
    client, make_staff, hotline, catalogue, areas, day
):
    ours = request_pickup(client, hotline, day)["reference"]
    theirs = request_pickup(client, hotline, day, address=ELSEWHERE)["reference"]
    clerk = make_staff("clerk")
    postman = make_staff("postman", office=catalogue.office)
    other_clerk = make_staff("clerk", office=catalogue.other_office)
    manager = make_staff("manager")

    def listed(staff) -> set[str]:
        response = client.get("/api/v1/pickups", headers=staff.headers)
        assert response.status_code == 200, response.get_json()
        return {item["reference"] for item in response.get_json()["items"]}

    assert listed(hotline) == listed(manager) == {ours, theirs}
    assert listed(clerk) == listed(postman) == {ours}
    assert listed(other_clerk) == {theirs}

    for staff in (clerk, postman):
        assert client.get(f"/api/v1/pickups/{ours}", headers=staff.headers).status_code == 200
        hidden = client.get(f"/api/v1/pickups/{theirs}", headers=staff.headers)
        missing = client.get("/api/v1/pickups/TG-0000-0000", headers=staff.headers)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.get_json()["error"]["fields"] == missing.get_json()["error"]["fields"]
    hidden = client.patch(
        f"/api/v1/pickups/{theirs}", json={"version": 1, "note": "x"}, headers=clerk.headers
    )
    assert hidden.status_code == 404
    assert db.session.scalar(select(Pickup.note).where(Pickup.reference == theirs)) != "x"


@pytest.mark.parametrize(
    ("role", "method", "status"),
    [
        ("clerk", "post", 403),
        ("postman", "post", 403),
        ("manager", "post", 403),
        ("agency", "post", 403),
        ("agency", "get", 403),
        ("postman", "patch", 403),
        ("manager", "patch", 403),
        (None, "get", 401),
        (None, "post", 401),
    ],
)
def test_who_may_do_what(client, make_staff, hotline, catalogue, areas, day, role, method, status):
    reference = request_pickup(client, hotline, day)["reference"]
    staff = make_staff(role, office=catalogue.office) if role else None
    headers = staff.headers if staff else None
    url, body = {
        "get": (f"/api/v1/pickups/{reference}", None),
        "post": ("/api/v1/pickups", payload(day)),
        "patch": (f"/api/v1/pickups/{reference}", {"version": 1, "note": "x"}),
    }[method]
    response = getattr(client, method)(url, json=body, headers=headers)
    assert response.status_code == status
    assert count(Pickup) == 1 and len(notices()) == 1


def test_a_clerk_of_the_office_may_correct_its_requests(client, clerk, hotline, areas, day):
    reference = request_pickup(client, hotline, day)["reference"]
    response = client.patch(
        f"/api/v1/pickups/{reference}",
        json={"version": 1, "note": "Nhà số 12A", "caller_name": "Nguyễn Thị Bình"},
        headers=clerk.headers,
    )
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["note"], response.get_json()["version"]) == ("Nhà số 12A", 2)
    [entry] = audited("pickup.update")
    assert entry.actor_id == clerk.user.id
    assert (entry.before["caller_name"], entry.after["caller_name"]) == (CALLER, "Nguyễn Thị Bình")
    assert len(notices()) == 1  # the slot did not move: no SMS

    # A corrected phone: the right number learns of the request.
    corrected = patch(client, clerk, reference, version=2, phone="0987 654 321")
    assert corrected.status_code == 200, corrected.get_json()
    first, second = notices()
    assert (second.recipient, second.kind) == ("0987654321", "pickup_requested")
    assert second.body == first.body


# Lists ----------------------------------------------------------------------------------------


def test_list_filters_by_office_day_and_state_and_pages_by_keyset(client, hotline, areas, day):
    later = add_working_days(day, 1)
    refs = [
        request_pickup(client, hotline, day)["reference"],
        request_pickup(client, hotline, later)["reference"],
        request_pickup(client, hotline, day, address=ELSEWHERE)["reference"],
    ]
    client.patch(
        f"/api/v1/pickups/{refs[1]}",
        json={"version": 1, "state": "cancelled"},
        headers=hotline.headers,
    )

    def listed(query: str) -> list[str]:
        response = client.get(f"/api/v1/pickups?{query}", headers=hotline.headers)
        assert response.status_code == 200, response.get_json()
        return [item["reference"] for item in response.get_json()["items"]]

    assert listed("") == refs[::-1]  # newest first
    assert listed("office=810000") == [refs[1], refs[0]]
    assert listed(f"day={day.isoformat()}") == [refs[2], refs[0]]
    assert listed("state=cancelled") == [refs[1]]
    assert listed(f"office=810000&day={day.isoformat()}&state=requested") == [refs[0]]

    seen, cursor = [], None
    while True:
        query = "limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/pickups?{query}", headers=hotline.headers).get_json()
        seen += [item["reference"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == refs[::-1]

    for query, field in (
        ("office=999999", "office"),
        ("state=lost", "state"),
        ("day=2026-02-30", "day"),
        ("cursor=bm90LWEtbnVtYmVy", "cursor"),
        ("colour=blue", "colour"),
    ):
        response = client.get(f"/api/v1/pickups?{query}", headers=hotline.headers)
        assert response.status_code == 422, query
        assert field in response.get_json()["error"]["fields"], query
    [listing] = audited("pickup.list")[:1]
    assert listing.after == {"references": refs[::-1]}


def test_a_staff_view_of_a_request_is_audited(client, hotline, make_staff, areas, day):
    reference = request_pickup(client, hotline, day)["reference"]
    manager = make_staff("manager")
    assert client.get(f"/api/v1/pickups/{reference}", headers=manager.headers).status_code == 200
    [entry] = audited("pickup.view")
    assert (entry.actor_id, entry.entity_key) == (manager.user.id, reference)


# Bad input ------------------------------------------------------------------------------------


def _day_off(after: date) -> date:
    day = after + timedelta(days=1)
    while is_working_day(day):
        day += timedelta(days=1)
    return day


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"address": {"street": STREET, "commune_code": "99999"}}, "address.commune_code"),
        ({"address": {"street": STREET, "commune_code": "26099"}}, "address.commune_code"),
        ({"address": {"street": STREET}}, "address.commune_code"),
        ({"address": {"street": "", "commune_code": "26041"}}, "address.street"),
        ({"phone": "0251 3822 123"}, "phone"),  # a landline: no SMS reaches it
        ({"phone": "0212345678"}, "phone"),
        ({"phone": "+1 212 555 0100"}, "phone"),
        ({"phone": 912345678}, "phone"),
        ({"service_form": "return_only"}, "service_form"),  # nothing to collect
        ({"procedure_code": "9.999999"}, "procedure_code"),
        ({"procedure_code": "1.004567"}, "service_form"),  # return-only procedure
        ({"slot": "evening"}, "slot"),
        ({"day": "yesterday"}, "day"),
        ({"caller_name": ""}, "caller_name"),
        ({"note": "\x00"}, "note"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    client, hotline, areas, day, change, field
):
    response = client.post("/api/v1/pickups", json=payload(day, **change), headers=hotline.headers)

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert count(Pickup) == len(notices()) == deliveries_enqueued() == 0
    assert audited("pickup.create") == []


def test_a_past_day_or_a_day_off_is_refused(client, hotline, areas, today):
    for when, field in (
        (today - timedelta(days=1), "day"),
        (_day_off(today), "day"),
    ):
        response = client.post("/api/v1/pickups", json=payload(when), headers=hotline.headers)
        assert response.status_code == 422, when
        assert list(response.get_json()["error"]["fields"]) == [field]
    assert count(Pickup) == len(notices()) == 0


def test_a_commune_ended_or_not_yet_served_on_the_day_is_refused(
    client, hotline, areas, catalogue, day
):
    areas.served.active_to = day - timedelta(days=1)
    office = db.session.get(Office, catalogue.office.id)
    office.active_to = day - timedelta(days=1)  # the other commune's office closes
    db.session.commit()
    for commune in ("26041", "26045"):
        address = {"street": STREET, "commune_code": commune}
        response = client.post(
            "/api/v1/pickups", json=payload(day, address=address), headers=hotline.headers
        )
        assert response.status_code == 422, commune
        assert list(response.get_json()["error"]["fields"]) == ["address.commune_code"]


@pytest.mark.parametrize(
    ("clock", "slot", "status"),
    [
        (time(11, 59), "morning", 201),
        (time(12, 0), "morning", 422),  # today's morning after noon counts as past
        (time(12, 0), "afternoon", 201),
        (time(17, 0), "afternoon", 422),
    ],
)
def test_todays_slot_is_past_once_it_has_ended_vietnam_time(
    client, hotline, areas, day, monkeypatch, clock, slot, status
):
    now = datetime.combine(day, clock, tzinfo=VN_TZ)
    monkeypatch.setattr("tracker.pickups.operations.utcnow", lambda: now)
    response = client.post("/api/v1/pickups", json=payload(day, slot=slot), headers=hotline.headers)
    assert response.status_code == status, response.get_json()
    if status == 422:
        assert list(response.get_json()["error"]["fields"]) == ["slot"]
        assert count(Pickup) == 0


# Changes --------------------------------------------------------------------------------------


def patch(client, staff, reference: str, **changes):
    return client.patch(f"/api/v1/pickups/{reference}", json=changes, headers=staff.headers)


def test_rescheduling_sends_the_sms_again(client, hotline, areas, day):
    reference = request_pickup(client, hotline, day)["reference"]
    later = add_working_days(day, 1)

    response = patch(client, hotline, reference, version=1, day=later.isoformat(), slot="afternoon")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["day"], body["slot"]["code"], body["version"]) == (
        later.isoformat(),
        "afternoon",
        2,
    )
    first, second = notices()
    assert second.kind == "pickup_rescheduled" and second.pickup_id == first.pickup_id
    assert second.body == (
        f"Bưu điện đã đổi lịch thu gom hồ sơ {reference}: bưu tá đến buổi chiều (13h30-17h) "
        f"ngày {later:%d/%m/%Y}. Cần đổi lịch, gọi 1022."
    )
    assert deliveries_enqueued() == 2
    [entry] = audited("pickup.update")
    assert (entry.before["day"], entry.after["day"]) == (day.isoformat(), later.isoformat())


def test_a_new_address_is_routed_to_the_office_that_serves_it(client, hotline, clerk, areas, day):
    reference = request_pickup(client, hotline, day)["reference"]
    response = patch(client, hotline, reference, version=1, address=ELSEWHERE)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["office"]["code"] == "811000"
    assert response.get_json()["address"]["street"] == "1 Hùng Vương"
    assert len(notices()) == 1  # same slot: no SMS
    assert client.get(f"/api/v1/pickups/{reference}", headers=clerk.headers).status_code == 404
    [entry] = audited("pickup.update")
    assert (entry.before["office"], entry.after["office"]) == ("810000", "811000")


def test_the_office_is_the_one_that_serves_the_commune_on_the_day(client, hotline, areas):
    address = {"street": STREET, "commune_code": areas.moving.code}
    created = request_pickup(client, hotline, areas.switch, address=address)
    assert created["office"]["code"] == "810000"  # its last day with the first office
    after = add_working_days(areas.switch, 1)
    response = patch(client, hotline, created["reference"], version=1, day=after.isoformat())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["office"]["code"] == "811000"
    assert request_pickup(client, hotline, after, address=address)["office"]["code"] == "811000"


def test_cancel_closes_the_request(client, hotline, areas, day):
    reference = request_pickup(client, hotline, day)["reference"]

    mixed = patch(client, hotline, reference, version=1, state="cancelled", slot="afternoon")
    assert mixed.status_code == 422 and list(mixed.get_json()["error"]["fields"]) == ["state"]
    response = patch(client, hotline, reference, version=1, state="cancelled", note="Đã tự nộp")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["state"]["code"], body["note"], body["allowed_next"]) == (
        "cancelled",
        "Đã tự nộp",
        [],
    )
    assert body["version"] == 2
    [entry] = audited("pickup.state")
    assert (entry.before["state"], entry.after["state"]) == ("requested", "cancelled")
    again = patch(client, hotline, reference, version=2, state="cancelled")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "transition_not_allowed"
    late = patch(client, hotline, reference, version=2, day=add_working_days(day, 1).isoformat())
    assert late.status_code == 409 and late.get_json()["error"]["allowed"] == []
    assert len(notices()) == 1


def test_a_stale_version_is_refused(client, hotline, areas, day):
    reference = request_pickup(client, hotline, day)["reference"]
    assert patch(client, hotline, reference, version=1, note="a").status_code == 200
    stale = patch(client, hotline, reference, version=1, note="b")
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"
    assert stale.get_json()["error"]["current_version"] == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"day": "2020-01-06"}, "day"),
        ({"address": {"street": STREET, "commune_code": "26099"}}, "address.commune_code"),
        ({"phone": "0251 3822 123"}, "phone"),
        ({"procedure_code": "1.004567"}, "service_form"),
        ({"service_form": "return_only"}, "service_form"),
        ({"state": "collected"}, "state"),
        ({"version": "1"}, "version"),
    ],
)
def test_a_refused_change_changes_nothing(client, hotline, areas, day, change, field):
    reference = request_pickup(client, hotline, day)["reference"]
    response = patch(client, hotline, reference, **{"version": 1, **change})
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    db.session.expire_all()
    pickup = db.session.scalar(select(Pickup))
    assert (pickup.version, pickup.day, pickup.office.code) == (1, day, "810000")
    assert len(notices()) == 1 and audited("pickup.update") == []


# Roles ----------------------------------------------------------------------------------------


def test_a_postman_works_at_an_office_and_a_hotline_operator_for_the_province(app, catalogue):
    postman = create_user("buuta1", "postman", PASSWORD, office_code="810000")
    hotline = create_user("tongdai1", "hotline", PASSWORD)
    assert (postman.office.code, hotline.office) == ("810000", None)
    with pytest.raises(ValidationFailed) as refused:
        create_user("buuta2", "postman", PASSWORD)
    assert refused.value.fields == {"office": ["a postman needs an existing office code"]}


def test_the_cli_creates_postmen_and_hotline_operators(app, catalogue):
    runner = app.test_cli_runner()
    args = ["user", "create", "buuta1", "--role", "postman", "--office", "810000"]
    made = runner.invoke(args=args, input=PASSWORD + "\n")
    assert (made.exit_code, made.output) == (0, "created postman buuta1\n")
    refused = runner.invoke(args=["user", "create", "buuta2", "--role", "postman"])
    assert refused.exit_code == 1 and "office" in refused.output
    hotline = runner.invoke(args=["user", "create", "tongdai1", "--role", "hotline"])
    assert hotline.exit_code == 0 and hotline.output.startswith("created hotline tongdai1\n")


def test_postmen_and_hotline_operators_have_no_dossier_api_yet(client, make_staff, catalogue):
    for staff in (make_staff("postman", office=catalogue.office), make_staff("hotline")):
        assert client.get("/api/v1/dossiers", headers=staff.headers).status_code == 403


def test_the_admin_chooses_the_new_roles_by_their_vietnamese_names(client, make_staff):
    from tests.pages import sign_in

    admin = make_staff("admin")
    assert sign_in(client, admin.user.username).status_code == 302
    page = client.get("/admin/users/new").get_data(as_text=True)
    assert '<option value="postman">Bưu tá</option>' in page
    assert '<option value="hotline">Điện thoại viên Tổng đài 1022</option>' in page
