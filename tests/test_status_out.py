"""Status out, pushed: subscriptions (admin API), the payload and its national fields, deliveries
written with the status change, signed POSTs to a real receiver on loopback (verified with the
`standardwebhooks` library), retries, 410, replays; and through real Celery workers: a receiver
down for a while, a worker killed mid-delivery, another agency's receiver hanging."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import dossier_payload, fresh_session
from tests.receiver import Receiver
from tests.test_imports import csv_bytes, result_row, run_job, upload
from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.outbox.models import OutboxMessage
from tracker.status_out import delivery
from tracker.status_out.models import StatusDelivery, StatusSubscription
from tracker.status_out.payload import NATIONAL_CODES, national_code
from tracker.unit_of_work import unit_of_work

FLOW = ["forwarded", "processing", "result_ready", "result_collected", "out_for_delivery"]


@pytest.fixture
def admin(make_staff):
    return make_staff("admin")


@pytest.fixture
def subscribe(client, admin):
    """POST a subscription as the admin; returns the answer's JSON (with its secret)."""

    def make(url: str, agency_code: str = "000.00.01.H19", **extra) -> dict:
        answer = client.post(
            "/api/v1/subscriptions",
            json={"agency_code": agency_code, "url": url, **extra},
            headers=admin.headers,
        )
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()

    return make


@pytest.fixture
def receiver():
    """A receiver on loopback, its secret set when a subscription is made."""
    made: list[Receiver] = []

    def make(secret: str, **kwargs) -> Receiver:
        made.append(Receiver(secret, **kwargs).start())
        return made[-1]

    yield make
    for item in made:
        item.stop()


def _dossier(client, clerk, **overrides) -> str:
    answer = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(postal_item_number=None, **overrides),
        headers=clerk.headers,
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["code"]


def _event(client, clerk, code: str, status: str, **extra) -> None:
    answer = client.post(
        f"/api/v1/dossiers/{code}/events", json={"status": status, **extra}, headers=clerk.headers
    )
    assert answer.status_code == 201, answer.get_json()


def _deliveries(**where) -> list[StatusDelivery]:
    fresh_session()
    query = select(StatusDelivery).filter_by(**where).order_by(StatusDelivery.id)
    rows = list(db.session.scalars(query))
    db.session.commit()
    return rows


# The mapping ---------------------------------------------------------------------------------


def test_the_national_codes_follow_the_documented_table():
    assert national_code("received", None, None) == 1
    assert national_code("rejected", "forwarded", 2) == 3  # not accepted at intake
    assert national_code("rejected", "processing", 4) == 9  # a finished dossier, refused
    assert national_code("rejected", "supplement_required", 5) == 9
    assert national_code("out_for_delivery", "result_collected", 9) == 9  # carried
    assert national_code("registered", None, None) is None
    assert national_code("result_collected", None, None) == 9  # an imported result
    assert national_code("delivered", "out_for_delivery", 9) == 10
    assert NATIONAL_CODES == {
        "received": 1, "forwarded": 2, "processing": 4, "supplement_required": 5,
        "rejected": 3, "result_ready": 9, "delivered": 10, "collected_in_person": 10,
        "withdrawn": 7,
    }  # fmt: skip


def test_each_applied_event_writes_one_delivery_with_the_national_fields(
    client, clerk, subscribe, catalogue
):
    subscribe("http://127.0.0.1:9/hooks")
    subscribe("http://127.0.0.1:9/other", statuses=["delivered"])
    subscribe("http://127.0.0.1:9/theirs", agency_code=catalogue.other_agency.code)
    code = _dossier(client, clerk, agency_reference="HS-2026-000001")
    for status in FLOW:
        _event(client, clerk, code, status)
    _event(
        client,
        clerk,
        code,
        "delivered",
        receiver={"name": "Trần Thị Bình", "relation": "family"},
    )

    rows = _deliveries()
    statuses = [row.payload["data"]["status"] for row in rows]
    # The first subscription wants everything; the second only `delivered`; the third is
    # another agency's.
    assert statuses == ["received", *FLOW, "delivered", "delivered"]
    codes = [row.payload["data"]["TrangThaiHoSo"] for row in rows[:-1]]
    assert codes == [1, 2, 4, 9, 9, 9, 10]
    last = rows[-2].payload["data"]
    assert last["MaHoSo"] == "HS-2026-000001"
    assert last["KenhThucHien"] == 3
    assert last["receiver_relation"] == "family"
    assert last["NgayTra"] and last["NgayTra"].endswith("+07:00")
    assert rows[0].payload["data"]["NgayTra"] is None
    assert "Trần Thị Bình" not in str([row.payload for row in rows])
    assert len({row.message_id for row in rows}) == len(rows)
    assert all(row.message_id.startswith("msg_") and row.state == "pending" for row in rows)


def test_an_imported_result_is_pushed_with_its_first_status(
    client, make_staff, catalogue, subscribe
):
    subscribe("http://127.0.0.1:9/hooks")
    subscribe("http://127.0.0.1:9/delivered-only", statuses=["delivered"])
    officer = make_staff("agency", agency=catalogue.agency)
    answer = upload(client, officer, csv_bytes([result_row(n) for n in range(1, 4)]))
    assert answer.status_code == 202, answer.get_json()
    job = run_job(answer.get_json()["id"])
    assert job.created_count == 3

    rows = _deliveries()
    # Only the subscription that wants `result_collected`, once per imported dossier.
    assert len(rows) == 3
    assert len({row.subscription_id for row in rows}) == 1
    data = [row.payload["data"] for row in rows]
    assert sorted(d["MaHoSo"] for d in data) == ["HS-000001", "HS-000002", "HS-000003"]
    assert {d["status"] for d in data} == {"result_collected"}
    assert {d["TrangThaiHoSo"] for d in data} == {9}  # a result the post collected
    assert all(d["previous_status"] is None for d in data)


def test_subscriptions_api_is_admin_only_and_shows_the_secret_once(
    client, admin, clerk, subscribe, app, monkeypatch
):
    made = subscribe("http://127.0.0.1:9/hooks", statuses=["delivered", "received"])
    assert made["secret"].startswith("whsec_")
    assert made["statuses"] == ["received", "delivered"]
    listed = client.get("/api/v1/subscriptions", headers=admin.headers).get_json()
    assert [item["id"] for item in listed] == [made["id"]]
    assert "secret" not in listed[0]
    assert client.get("/api/v1/subscriptions", headers=clerk.headers).status_code == 403
    assert client.get("/api/v1/subscriptions").status_code == 401

    rotated = client.post(f"/api/v1/subscriptions/{made['id']}/secret", headers=admin.headers)
    assert rotated.headers["Cache-Control"] == "no-store"  # the secret is in it
    assert rotated.status_code == 200
    assert rotated.get_json()["secret"] not in (made["secret"], None)

    for url in ("ftp://example.org/x", "http://[::1/x", "https://h:port/x", "https://a b/x"):
        bad = client.post(
            "/api/v1/subscriptions",
            json={"agency_code": "000.00.01.H19", "url": url},
            headers=admin.headers,
        )
        assert bad.status_code == 422 and "url" in bad.get_json()["error"]["fields"], url
    monkeypatch.setitem(app.config, "STATUS_OUT_ALLOW_HTTP", False)
    plain = client.patch(
        f"/api/v1/subscriptions/{made['id']}",
        json={"url": "http://motcua.example.org/hooks"},
        headers=admin.headers,
    )
    assert plain.status_code == 422 and plain.get_json()["error"]["fields"]["url"]
    unknown = client.post(
        "/api/v1/subscriptions",
        json={"agency_code": "NOPE", "url": "https://example.org/x"},
        headers=admin.headers,
    )
    assert unknown.status_code == 422 and "agency_code" in unknown.get_json()["error"]["fields"]
    off = client.patch(
        f"/api/v1/subscriptions/{made['id']}", json={"active": False}, headers=admin.headers
    )
    assert off.get_json()["active"] is False
    assert off.get_json()["disabled_reason"]
    assert client.get("/api/v1/subscriptions/999999", headers=admin.headers).status_code == 404
    gone = client.delete(f"/api/v1/subscriptions/{made['id']}", headers=admin.headers)
    assert gone.status_code == 204


# Sending, in process -------------------------------------------------------------------------


def test_deliveries_arrive_signed_in_order_with_latency(client, clerk, subscribe, receiver):
    made = subscribe("http://127.0.0.1:1/placeholder")
    target = receiver(made["secret"])
    _set_url(made["id"], target.url)
    codes = [_dossier(client, clerk) for _ in range(2)]
    for status in FLOW[:3]:
        for code in codes:
            _event(client, clerk, code, status)

    assert delivery.deliver_subscription(made["id"]) == 8
    assert target.refused == []
    assert target.codes_by_dossier() == {code: ["received", *FLOW[:3]] for code in codes}
    rows = _deliveries()
    assert {row.state for row in rows} == {"delivered"}
    assert all(row.latency_ms is not None and row.attempts == 1 for row in rows)
    # Each once; the two dossiers' POSTs are in flight together, so only each dossier's own
    # order is kept (above).
    arrived = [item.message_id for item in target.accepted]
    assert sorted(arrived) == sorted(row.message_id for row in rows)
    # Nothing due: a second run sends nothing again.
    assert delivery.deliver_subscription(made["id"]) == 0


def _set_url(subscription_id: int, url: str) -> None:
    db.session.execute(
        StatusSubscription.__table__.update()
        .where(StatusSubscription.id == subscription_id)
        .values(url=url)
    )
    db.session.commit()


def test_a_failure_is_retried_later_and_a_later_status_waits(client, clerk, subscribe, receiver):
    made = subscribe("http://127.0.0.1:1/placeholder")
    target = receiver(made["secret"], answer=500)
    _set_url(made["id"], target.url)
    code = _dossier(client, clerk)
    _event(client, clerk, code, "forwarded")

    assert delivery.deliver_subscription(made["id"]) == 0
    first, second = _deliveries()
    assert (first.state, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.next_attempt_at > utcnow()
    assert "HTTP 500" in first.last_error
    assert second.attempts == 0  # waits behind the first: the same dossier
    assert delivery.due_ids(made["id"], 10, now=utcnow() + timedelta(hours=2)) == [first.id]

    target.answer = 200
    # Due again (as beat finds it later): both go, in order.
    db.session.execute(
        StatusDelivery.__table__.update().values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert delivery.deliver_subscription(made["id"]) == 2
    assert target.codes_by_dossier() == {code: ["received", "forwarded"]}


def test_retries_end_in_failed_after_the_window(
    client, clerk, subscribe, receiver, app, monkeypatch
):
    monkeypatch.setitem(app.config, "STATUS_OUT_RETRY_SECONDS", 0)
    made = subscribe("http://127.0.0.1:1/placeholder")
    target = receiver(made["secret"], answer=503)
    _set_url(made["id"], target.url)
    code = _dossier(client, clerk)
    _event(client, clerk, code, "forwarded")

    delivery.deliver_subscription(made["id"])
    _make_due()  # the receiver is still down when the next one is due
    delivery.deliver_subscription(made["id"])
    rows = _deliveries()
    assert [row.state for row in rows] == ["failed", "failed"]
    listed = client.get("/api/v1/deliveries?state=failed", headers=_admin(client)).get_json()[
        "items"
    ]
    assert {item["id"] for item in listed} == {row.id for row in rows}


def _make_due() -> None:
    db.session.execute(
        StatusDelivery.__table__.update()
        .where(StatusDelivery.state == "pending")
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def test_a_dead_receiver_costs_one_wave_of_posts_then_everything_waits(
    client, clerk, subscribe, receiver, app
):
    made = subscribe("http://127.0.0.1:1/placeholder")
    target = receiver(made["secret"], answer=503)
    _set_url(made["id"], target.url)
    for _ in range(6):
        _dossier(client, clerk)

    assert delivery.deliver_subscription(made["id"]) == 0
    # One wave (at most the concurrency cap) found the receiver down; the run stopped and the
    # other dossiers' deliveries wait for the failed one's next attempt.
    assert 1 <= target.seen <= app.config["STATUS_OUT_CONCURRENCY"] < 6
    rows = _deliveries()
    assert {row.state for row in rows} == {"pending"}
    assert all(row.next_attempt_at > utcnow() for row in rows)
    assert delivery.due_ids(made["id"], 10) == []
    assert delivery.deliver_subscription(made["id"]) == 0
    assert target.seen <= app.config["STATUS_OUT_CONCURRENCY"]

    target.answer = 200
    _make_due()
    assert delivery.deliver_subscription(made["id"]) == 6
    assert {row.state for row in _deliveries()} == {"delivered"}


def _runs_queued() -> int:
    fresh_session()
    query = select(func.count()).where(OutboxMessage.task == "status_out.deliver")
    count = db.session.scalar(query)
    db.session.commit()
    return count


def test_a_run_whose_time_is_up_lets_the_worker_go_and_beat_asks_for_the_next(
    client, clerk, subscribe, receiver, monkeypatch
):
    made = subscribe("http://127.0.0.1:1/placeholder")
    target = receiver(made["secret"])
    _set_url(made["id"], target.url)
    _dossier(client, clerk)
    before = _runs_queued()
    monkeypatch.setattr(delivery, "RUN_SECONDS", 0)

    assert delivery.deliver_subscription(made["id"]) == 0

    # Nothing sent in this run, which let the worker go; beat asks for the next run.
    assert target.seen == 0
    with unit_of_work():
        assert delivery.dispatch_due() == 1
    assert _runs_queued() == before + 1
    monkeypatch.setattr(delivery, "RUN_SECONDS", 60)
    assert delivery.deliver_subscription(made["id"]) == 1


def _admin(client) -> dict[str, str]:
    from tracker.accounts.models import User
    from tracker.accounts.operations import issue_token

    user = db.session.scalar(select(User).where(User.role == "admin"))
    token = issue_token(user, name="again")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_410_disables_the_subscription_and_cancels_what_waits(client, clerk, subscribe, receiver):
    made = subscribe("http://127.0.0.1:1/placeholder")
    target = receiver(made["secret"], answer=410)
    _set_url(made["id"], target.url)
    code = _dossier(client, clerk)
    _event(client, clerk, code, "forwarded")

    delivery.deliver_subscription(made["id"])
    fresh_session()
    subscription = db.session.get(StatusSubscription, made["id"])
    assert subscription.active is False and "410" in subscription.disabled_reason
    assert [row.state for row in _deliveries()] == ["cancelled", "cancelled"]
    # Switched off: the next status change writes nothing for it.
    _event(client, clerk, code, "processing")
    assert len(_deliveries()) == 2


def test_a_replay_sends_the_same_webhook_id_again(client, clerk, subscribe, receiver, admin):
    made = subscribe("http://127.0.0.1:1/placeholder")
    target = receiver(made["secret"])
    _set_url(made["id"], target.url)
    code = _dossier(client, clerk)
    delivery.deliver_subscription(made["id"])
    (row,) = _deliveries()

    pending = client.post(f"/api/v1/deliveries/{row.id}/replay", headers=admin.headers)
    assert pending.status_code == 200 and pending.get_json()["state"] == "pending"
    again = client.post(f"/api/v1/deliveries/{row.id}/replay", headers=admin.headers)
    assert again.status_code == 409
    delivery.deliver_subscription(made["id"])
    assert target.ids() == [row.message_id, row.message_id]

    ranged = client.post(
        "/api/v1/deliveries/replay",
        json={
            "since": (utcnow() - timedelta(hours=1)).isoformat(),
            "until": (utcnow() + timedelta(hours=1)).isoformat(),
        },
        headers=admin.headers,
    )
    assert ranged.get_json() == {"queued": 1}
    delivery.deliver_subscription(made["id"])
    assert target.ids() == [row.message_id] * 3
    assert target.codes_by_dossier() == {code: ["received"]}
    moment = utcnow().isoformat()
    bad = client.post(
        "/api/v1/deliveries/replay",
        json={"since": moment, "until": moment},
        headers=admin.headers,
    )
    assert bad.status_code == 422 and "until" in bad.get_json()["error"]["fields"]


# Through real workers ------------------------------------------------------------------------

WORKER_ENV = {
    "STATUS_OUT_TIMEOUT_SECONDS": "2",
    "STATUS_OUT_CONNECT_TIMEOUT_SECONDS": "1",
    "STATUS_OUT_RETRY_BASE_SECONDS": "1",
    "STATUS_OUT_DISPATCH_SECONDS": "1",
    "OUTBOX_RELAY_SECONDS": "1",
}


def _delivered_count() -> int:
    fresh_session()
    value = db.session.scalar(
        select(func.count()).select_from(StatusDelivery).where(StatusDelivery.state == "delivered")
    )
    db.session.commit()
    return value


def test_a_receiver_down_for_a_while_gets_everything_in_order_once_back(
    client, clerk, subscribe, receiver, start_worker
):
    made = subscribe("http://127.0.0.1:1/placeholder")
    target = receiver(made["secret"])
    _set_url(made["id"], target.url)
    target.stop()  # down
    worker = start_worker(beat=True, **WORKER_ENV)
    codes = [_dossier(client, clerk) for _ in range(3)]
    for status in FLOW:
        for code in codes:
            _event(client, clerk, code, status)
    total = len(codes) * (1 + len(FLOW))
    worker.wait_for(
        lambda: any(row.attempts >= 2 for row in _deliveries()),
        30,
        describe=lambda: "no retry while the receiver is down",
    )
    target.start()  # back, on the same port
    worker.wait_for(
        lambda: _delivered_count() == total,
        90,
        describe=lambda: f"{_delivered_count()} of {total} delivered",
    )
    assert target.refused == []
    assert target.codes_by_dossier() == {code: ["received", *FLOW] for code in codes}


def test_a_worker_killed_mid_delivery_loses_nothing_and_repeats_the_same_id(
    client, clerk, subscribe, receiver, start_worker
):
    made = subscribe("http://127.0.0.1:1/placeholder")
    # The first message hangs longer than the worker lives; the ones after answer at once.
    target = receiver(made["secret"], hang=4, hang_count=1)
    _set_url(made["id"], target.url)
    # The lease the killed run held expires 3 x 5 + 1 + 5 s after it was taken.
    env = {**WORKER_ENV, "STATUS_OUT_TIMEOUT_SECONDS": "5"}
    worker = start_worker(**env)
    code = _dossier(client, clerk)
    worker.wait_for(lambda: target.seen >= 1, 20, describe=lambda: "nothing sent")
    worker.kill()  # mid-delivery: the receiver still holds the POST
    for status in FLOW[:2]:
        _event(client, clerk, code, status)

    second = start_worker(beat=True, **env)
    second.wait_for(
        lambda: _delivered_count() == 3,
        60,
        describe=lambda: f"{_delivered_count()} of 3 delivered; seen {target.seen}",
    )
    first = _deliveries()[0]
    assert first.attempts >= 2
    # The killed attempt reached the receiver, and so did the repeat: one webhook-id for both.
    assert target.ids().count(first.message_id) >= 2
    # Every attempt of the first message carried its one webhook-id.
    assert target.seen >= 4 and target.codes_by_dossier() == {code: ["received", *FLOW[:2]]}


def test_a_hanging_receiver_of_another_agency_does_not_delay_the_first(
    client, clerk, make_staff, subscribe, receiver, start_worker, catalogue
):
    slow_made = subscribe("http://127.0.0.1:1/placeholder", agency_code=catalogue.other_agency.code)
    fast_made = subscribe("http://127.0.0.1:1/placeholder")
    slow = receiver(slow_made["secret"], hang=15)
    fast = receiver(fast_made["secret"])
    _set_url(slow_made["id"], slow.url)
    _set_url(fast_made["id"], fast.url)
    env = {**WORKER_ENV, "STATUS_OUT_TIMEOUT_SECONDS": "20"}
    workers = [start_worker(beat=True, **env), start_worker(**env)]

    # The other agency's dossiers first: their receiver hangs on the first POST.
    for _ in range(3):
        _dossier(client, clerk, procedure_code="1.009876")
    workers[0].wait_for(lambda: slow.seen >= 1, 20, describe=lambda: "the slow one got nothing")
    codes = []
    for _ in range(3):
        started = time.monotonic()
        codes.append(_dossier(client, clerk))
        # A request only writes rows: the hanging receiver costs it nothing.
        assert time.monotonic() - started < 2
    workers[0].wait_for(
        lambda: len(fast.codes_by_dossier()) == 3,
        10,
        describe=lambda: f"fast receiver got {fast.codes_by_dossier()}",
    )
    assert set(fast.codes_by_dossier()) == set(codes)
    assert slow.accepted == []  # still hanging on its first message


def test_beat_asks_for_a_run_where_something_is_due_and_no_run_holds_the_lease(
    client, clerk, subscribe, app
):
    from tracker.outbox.models import OutboxMessage
    from tracker.outbox.operations import acquire_lease, release_lease

    made = subscribe("http://127.0.0.1:9/hooks")
    _dossier(client, clerk)
    fresh_session()
    before = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    assert delivery.dispatch_due() == 1
    db.session.commit()
    assert acquire_lease(delivery.lease_name(made["id"]), timedelta(seconds=60), "elsewhere")
    assert delivery.dispatch_due() == 0  # a run is at it
    db.session.commit()
    release_lease(delivery.lease_name(made["id"]), "elsewhere")
    db.session.commit()
    after = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    assert after == before + 1
