"""Collection orders from agencies' systems: a batch of up to 1,000 results ready at the agency's
desk, each a one-way dossier awaiting collection (or the agency's registration moved to
result_ready), refused one by one, idempotent on the agency's own code, texted with the lookup
link, picked up by the clerks' collection run and counted only then."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests import test_feeds
from tests.pages import sign_in
from tests.test_registrations import collection_run, results_at_agency, taken_by_day
from tests.test_registrations import payload as registration_payload
from tracker.accounts.operations import create_user, issue_token
from tracker.audit.models import AuditEntry
from tracker.calendar import local_date, utcnow
from tracker.catalogue.models import Procedure
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.notifications.messages import SECRET_PLACEHOLDER
from tracker.notifications.models import Notification
from tracker.reports import recompute
from tracker.unit_of_work import unit_of_work

URL = "/api/v1/orders"
make_integration = test_feeds.make_integration
# When the orders' results were ready, unless a test says otherwise: the same in every call.
READY_AT = (utcnow() - timedelta(hours=2)).replace(microsecond=0).isoformat()


@pytest.fixture
def agency_system(make_integration, catalogue):
    """The integration account of the catalogue's agency (Sở Tư pháp), allowed to order."""
    return make_integration("orders:agency", agency=catalogue.agency)


def order(reference: str = "HS-2025-000123", **overrides) -> dict:
    data = {
        "agency_reference": reference,
        "procedure_code": "1.004567",  # return by post only, of the catalogue's agency
        "office_code": "810000",
        "recipient": {"name": "Lê Thị Cúc", "phone": "0912345678"},
        "delivery_address": "7 Hà Huy Giáp, Biên Hòa, Đồng Nai",
        "fee_vnd": 30000,
        "ready_at": READY_AT,
    }
    data.update(overrides)
    return data


def post(client, staff, orders) -> tuple[int, dict]:
    response = client.post(URL, json={"orders": orders}, headers=staff.headers)
    return response.status_code, response.get_json()


def count_dossiers() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Dossier.id)))


def dossier_of(code: str) -> Dossier:
    db.session.expire_all()
    return db.session.scalar(select(Dossier).where(Dossier.code == code))


def sms_of(dossier: Dossier) -> list[Notification]:
    db.session.expire_all()
    query = select(Notification).where(
        Notification.dossier_id == dossier.id, Notification.channel == "sms"
    )
    return list(db.session.scalars(query.order_by(Notification.id)))


# ---- a batch of 1,000 -------------------------------------------------------------------------

# index -> (what is wrong with the order, the field named)
BAD = {
    3: ({"recipient": {"name": "Lê Thị Cúc", "phone": "0251 3822 123"}}, "recipient.phone"),
    17: ({"fee_vnd": -1}, "fee_vnd"),
    42: ({"procedure_code": "1.009876"}, "procedure_code"),  # another agency's procedure
    99: ({"ready_at": (utcnow() + timedelta(days=1)).isoformat()}, "ready_at"),
    250: ({"office_code": "999999"}, "office_code"),
    512: ({"delivery_address": "x" * 100_000}, "delivery_address"),
    640: ({"fee_vnd": "30000"}, "fee_vnd"),  # a string for an integer
    777: ({"recipient": None}, "recipient"),
    901: ({"surprise": 1}, "surprise"),
}


def big_batch() -> list:
    orders = [order(f"HS-{i:05d}") for i in range(1000)]
    for index, (change, _field) in BAD.items():
        orders[index].update(change)
    orders[500] = "not an order"
    del orders[600]["agency_reference"]
    # The same reference twice in the batch: one dossier, the second answered as existing.
    orders[999] = order("HS-00000")
    return orders


def test_a_batch_of_1000_keeps_the_good_orders_and_refuses_the_bad_by_index_and_field(
    app, client, agency_system, monkeypatch
):
    orders = big_batch()
    status, body = post(client, agency_system, orders)
    assert status == 207, body
    refused = {(error["index"], error["field"]) for error in body["refused"]}
    expected = {(index, field) for index, (_change, field) in BAD.items()}
    expected |= {(500, "order"), (600, "agency_reference")}
    assert refused == expected
    assert {e["index"]: e["agency_reference"] for e in body["refused"]}[42] == "HS-00042"
    bad = {index for index, _ in expected}
    assert body["counts"] == {"created": 1000 - len(bad) - 1, "moved": 0, "existing": 1,
                              "refused": len(bad)}  # fmt: skip
    accepted = {item["index"]: item for item in body["accepted"]}
    assert set(accepted) == set(range(1000)) - bad
    assert accepted[999]["outcome"] == "existing"
    assert accepted[999]["code"] == accepted[0]["code"]
    assert all(item["status"] == "result_ready" for item in accepted.values())
    assert count_dossiers() == 1000 - len(bad) - 1
    audit = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "orders.receive").order_by(AuditEntry.id)
    )
    assert (audit.entity_key, audit.after) == ("000.00.01.H19", body["counts"])
    first = dossier_of(accepted[1]["code"])
    assert (first.service_form, first.status, first.agency_reference) == (
        "return_only",
        "result_ready",
        "HS-00001",
    )
    assert (first.office.code, first.channel.code, first.fee_vnd) == ("810000", "post_l1", 30000)

    # The same batch again: the same codes, nothing new.
    status, again = post(client, agency_system, orders)
    assert status == 207
    assert {(e["index"], e["field"]) for e in again["refused"]} == expected
    assert again["counts"] == {"created": 0, "moved": 0, "existing": 1000 - len(bad),
                               "refused": len(bad)}  # fmt: skip
    assert {i["index"]: i["code"] for i in again["accepted"]} == {
        i: item["code"] for i, item in accepted.items()
    }
    assert {i["outcome"] for i in again["accepted"]} == {"existing"}
    assert {tuple(i["changed"]) for i in again["accepted"]} == {()}
    assert count_dossiers() == 1000 - len(bad) - 1


def test_a_dossier_made_by_an_order_is_registered_and_ready_with_its_history(
    client, agency_system, clerk
):
    ready_at = utcnow() - timedelta(hours=3)
    status, body = post(client, agency_system, [order(ready_at=ready_at.isoformat())])
    assert status == 200, body
    [item] = body["accepted"]
    assert (item["index"], item["agency_reference"], item["outcome"]) == (
        0,
        "HS-2025-000123",
        "created",
    )
    assert body["refused"] == [] and "lookup_secret" not in item  # the citizen gets it, by SMS
    dossier = dossier_of(item["code"])
    assert item["code"].startswith("000.00.01.H19-")
    assert dossier.received_at == ready_at and dossier.result_at == ready_at
    events = client.get(f"/api/v1/dossiers/{item['code']}/events", headers=clerk.headers)
    assert [(e["to_status"]["code"], e["source"]) for e in events.get_json()] == [
        ("registered", "agency_order"),
        ("result_ready", "agency_order"),
    ]


def test_a_repeat_that_says_something_else_names_what_differs_and_changes_nothing(
    client, agency_system
):
    _, first = post(client, agency_system, [order()])
    code = first["accepted"][0]["code"]
    other = order(recipient={"name": "Lê Thị Cúc", "phone": "0987654321"}, fee_vnd=0)
    status, again = post(client, agency_system, [other])
    assert status == 200
    [item] = again["accepted"]
    assert (item["code"], item["outcome"]) == (code, "existing")
    assert item["changed"] == ["recipient.phone", "fee_vnd"]
    dossier = dossier_of(code)
    assert (dossier.applicant_phone, dossier.fee_vnd) == ("0912345678", 30000)


# ---- an order for a registration --------------------------------------------------------------


def test_an_order_moves_the_agencys_registration_without_a_second_dossier(
    client, clerk, agency_system
):
    registered = client.post(
        "/api/v1/registrations", json=registration_payload(), headers=clerk.headers
    )
    assert registered.status_code == 201
    code = registered.get_json()["code"]
    before = count_dossiers()
    ready = order(ready_at=utcnow().isoformat())  # after the registration
    status, body = post(client, agency_system, [ready])
    assert status == 200, body
    [item] = body["accepted"]
    assert (item["code"], item["outcome"], item["status"]) == (code, "moved", "result_ready")
    assert item["changed"] == []
    assert count_dossiers() == before
    dossier = dossier_of(code)
    assert dossier.status == "result_ready"
    last = db.session.scalar(
        select(StatusEvent)
        .where(StatusEvent.dossier_id == dossier.id)
        .order_by(StatusEvent.id.desc())
    )
    assert (last.from_status, last.to_status, last.source) == (
        "registered",
        "result_ready",
        "agency_order",
    )
    # Its citizen has the receipt: the usual result-ready SMS, no secret.
    assert [(s.kind, s.lookup_secret) for s in sms_of(dossier)] == [
        ("registered", None),
        ("result_ready", None),
    ]
    # Again: answered, not moved twice.
    status, again = post(client, agency_system, [ready])
    assert (again["accepted"][0]["code"], again["accepted"][0]["outcome"]) == (code, "existing")


def test_an_order_dated_before_its_registration_or_for_a_withdrawn_one_is_refused(
    client, clerk, agency_system
):
    registered = client.post(
        "/api/v1/registrations", json=registration_payload(), headers=clerk.headers
    ).get_json()
    early = (utcnow() - timedelta(days=2)).isoformat()
    status, body = post(client, agency_system, [order(ready_at=early)])
    assert status == 207
    assert [(e["index"], e["field"]) for e in body["refused"]] == [(0, "ready_at")]
    tomorrow = (utcnow() + timedelta(days=1)).isoformat()
    status, body = post(client, agency_system, [order(ready_at=tomorrow)])
    assert [(e["index"], e["field"]) for e in body["refused"]] == [(0, "ready_at")]
    assert dossier_of(registered["code"]).status == "registered"
    withdrawn = client.post(
        f"/api/v1/dossiers/{registered['code']}/events",
        json={"status": "withdrawn"},
        headers=clerk.headers,
    )
    assert withdrawn.status_code == 201
    status, body = post(client, agency_system, [order(ready_at=utcnow().isoformat())])
    assert [(e["index"], e["field"]) for e in body["refused"]] == [(0, "agency_reference")]
    assert body["accepted"] == []


# ---- who may order ----------------------------------------------------------------------------


def test_orders_need_the_scope_of_an_account_tied_to_an_agency(
    app, client, catalogue, clerk, make_integration
):
    assert client.post(URL, json={"orders": [order()]}).status_code == 401
    for staff in (clerk, make_integration("feed:agency", agency=catalogue.agency)):
        answer = client.post(URL, json={"orders": [order()]}, headers=staff.headers)
        assert answer.status_code == 403
        assert answer.get_json()["error"]["required_scopes"] == ["orders:agency"]
    post_system = create_user("postsystem", "integration", None)
    with pytest.raises(ValidationFailed) as refused:
        issue_token(post_system, scopes=["orders:agency"])
    assert "scopes" in refused.value.fields
    assert count_dossiers() == 0


def test_an_agency_orders_only_its_own_procedures_and_moves_only_its_own_registrations(
    client, catalogue, clerk, make_integration
):
    registered = client.post(
        "/api/v1/registrations", json=registration_payload(), headers=clerk.headers
    ).get_json()
    other_system = make_integration("orders:agency", agency=catalogue.other_agency)
    # Another agency's procedure: refused.
    status, body = post(client, other_system, [order()])
    assert status == 207
    assert [(e["index"], e["field"]) for e in body["refused"]] == [(0, "procedure_code")]
    # Its own procedure with the first agency's reference: its own new dossier; the first
    # agency's registration is untouched.
    status, body = post(client, other_system, [order(procedure_code="1.009876")])
    assert status == 200, body
    [item] = body["accepted"]
    assert item["outcome"] == "created" and item["code"] != registered["code"]
    assert item["code"].startswith("000.00.02.H19-")
    assert dossier_of(registered["code"]).status == "registered"


def test_a_procedure_without_return_by_post_is_refused(client, catalogue, agency_system):
    db.session.add(
        Procedure(
            code="1.000111",
            name="Thủ tục chỉ gửi hồ sơ",
            search_name="thu tuc chi gui ho so",
            sector=catalogue.sector,
            agency=catalogue.agency,
            working_days=5,
            allows_return_only=False,
        )
    )
    db.session.commit()
    status, body = post(client, agency_system, [order(procedure_code="1.000111"), order("HS-2")])
    assert status == 207
    assert [(e["index"], e["field"]) for e in body["refused"]] == [(0, "procedure_code")]
    assert [item["index"] for item in body["accepted"]] == [1]


# ---- the envelope -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, field",
    [
        (b"{not json", 400, "body"),
        (b"\xff\xfe", 400, "body"),
        (b"[]", 422, "body"),
        (b"{}", 422, "orders"),
        (b'{"orders": "many"}', 422, "orders"),
        (b'{"orders": {}}', 422, "orders"),
        (b'{"orders": []}', 422, "orders"),
        (b'{"orders": [], "extra": 1}', 422, "extra"),
        (json.dumps({"orders": [{}] * 1001}).encode(), 422, "orders"),
        (b"[" * 100_000, 400, "body"),
    ],
)
def test_a_bad_envelope_is_refused_whole(client, agency_system, body, status, field):
    answer = client.post(
        URL, data=body, headers={**agency_system.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == status, answer.get_json()
    assert field in answer.get_json()["error"]["fields"]
    assert count_dossiers() == 0


# ---- the citizen's SMS ------------------------------------------------------------------------


def test_the_citizen_gets_one_sms_with_the_code_secret_and_lookup_link(
    app, client, agency_system, monkeypatch, tmp_path
):
    from workers.notifications import deliver

    # Ready long ago: status notices would not be sent any more, the code and link still are.
    ready_at = (utcnow() - timedelta(days=5)).isoformat()
    _, body = post(client, agency_system, [order(ready_at=ready_at)])
    dossier = dossier_of(body["accepted"][0]["code"])
    [sms] = sms_of(dossier)
    assert (sms.kind, sms.recipient, sms.state) == ("result_ready", "0912345678", "queued")
    assert dossier.code in sms.body and SECRET_PLACEHOLDER in sms.body
    secret = sms.lookup_secret
    assert secret and secret not in sms.body

    log_path = tmp_path / "messages.log"
    monkeypatch.setitem(app.config, "NOTIFICATION_LOG", str(log_path))
    assert deliver.run() == 1
    [line] = [json.loads(text) for text in log_path.read_text().splitlines()]
    link = f"{app.config['PUBLIC_BASE_URL']}/track?code={dossier.code}&secret={secret}"
    assert f"Mã tra cứu: {secret}" in line["body"] and link in line["body"]
    [sms] = sms_of(dossier)
    assert (sms.state, sms.lookup_secret) == ("sent", None)  # the secret lives until sent

    lookup = client.get(f"/api/v1/track?code={dossier.code}&secret={secret}")
    assert lookup.status_code == 200
    assert lookup.get_json()["status"]["code"] == "result_ready"


# ---- collection and counting ------------------------------------------------------------------


def test_the_collection_run_picks_ordered_results_up_and_only_then_they_count(
    app, client, clerk, agency_system
):
    ready_at = utcnow() - timedelta(days=1)
    _, body = post(
        client, agency_system, [order("HS-1", ready_at=ready_at.isoformat()), order("HS-2")]
    )
    first, second = (item["code"] for item in body["accepted"])
    assert taken_by_day() == {}  # never at order time
    pages = app.test_client()
    sign_in(pages, clerk.user.username)
    section = results_at_agency(pages)
    assert first in section and second in section
    _answer, rows = collection_run(pages, [first, second])
    assert rows == ["recorded", "recorded"]
    assert [dossier_of(code).status for code in (first, second)] == ["result_collected"] * 2
    assert taken_by_day() == {local_date(utcnow()): 2}
    # The recompute counts them by the same rule: nothing to fix.
    for year in {local_date(ready_at).year, local_date(utcnow()).year}:
        with unit_of_work():
            assert recompute.recompute_year(year).fixed == 0


# ---- at once ----------------------------------------------------------------------------------


def test_the_same_batch_posted_at_once_makes_one_dossier_per_reference(app, agency_system):
    orders = [order(f"HS-{i}") for i in range(20)]
    start = threading.Barrier(3)

    def send(_index: int):
        with app.app_context():
            start.wait()
            return app.test_client().post(
                URL, json={"orders": orders}, headers=agency_system.headers
            )

    db.session.commit()
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(send, range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200], [r.get_json() for r in responses]
    answers = [r.get_json() for r in responses]
    assert sum(a["counts"]["created"] for a in answers) == 20
    assert sum(a["counts"]["existing"] for a in answers) == 40
    codes = [[item["code"] for item in a["accepted"]] for a in answers]
    assert codes[0] == codes[1] == codes[2]
    assert count_dossiers() == 20
