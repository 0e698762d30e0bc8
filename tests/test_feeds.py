"""Feeds: scoped tokens, signed batches, item-level validation, and what applying does (run here,
in the test's process; tests/test_feeds_worker.py runs the same through real workers)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update

from tests.conftest import PASSWORD, Staff
from tracker import webhooks
from tracker.accounts.operations import create_user, issue_token
from tracker.audit.models import AuditEntry
from tracker.calendar import utcnow
from tracker.dossiers import s10
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.feeds.models import FeedBatch, FeedEvent
from tracker.outbox.models import OutboxMessage
from workers.feeds import apply_batch, apply_unmatched, retry_unmatched

POSTAL = "/api/v1/feeds/postal"
AGENCY = "/api/v1/feeds/agency"


def item(serial: int) -> str:
    """A valid S10 item number."""
    digits = f"{serial:08d}"
    return f"EE{digits}{s10.check_digit(digits)}VN"


def at(minutes: float, base: datetime | None = None) -> str:
    """A moment `minutes` after six hours ago, as a feed writes it."""
    return ((base or START) + timedelta(minutes=minutes)).isoformat()


START = utcnow().replace(microsecond=0) - timedelta(hours=6)


def postal(event_id: str, item_number: str, code: str, minutes: float, **extra) -> dict:
    return {
        "event_id": event_id,
        "item_number": item_number,
        "code": code,
        "occurred_at": at(minutes),
        **extra,
    }


def post_batch(client, path: str, events: list, staff: Staff, secret: str | None = None):
    """POST a batch; with `secret`, signed as a new Standard Webhooks message."""
    body = json.dumps({"events": events}).encode()
    headers = {**staff.headers, "Content-Type": "application/json"}
    if secret:
        headers.update(webhooks.sign(secret, f"msg_{uuid.uuid4().hex}", body))
    return client.post(path, data=body, headers=headers)


def states(batch_id: int) -> dict[str, int]:
    db.session.expire_all()
    rows = db.session.execute(
        select(FeedEvent.state, func.count())
        .where(FeedEvent.batch_id == batch_id)
        .group_by(FeedEvent.state)
    )
    return dict(rows.all())


def dossier_of(code: str) -> Dossier:
    db.session.expire_all()
    return db.session.scalar(select(Dossier).where(Dossier.code == code))


def run_batch(batch_id: int) -> dict[str, int]:
    """The worker's task body, run here."""
    result = apply_batch.run(batch_id)
    db.session.commit()
    return result


@pytest.fixture
def make_integration(app, catalogue) -> Callable[..., Staff]:
    counter = iter(range(1, 1000))

    def make(*scopes: str, agency=None) -> Staff:
        user = create_user(
            f"feed{next(counter)}",
            "integration",
            PASSWORD,
            agency_code=agency.code if agency else None,
        )
        token = issue_token(user, name="feed", scopes=scopes)
        db.session.commit()
        return Staff(user, token)

    return make


@pytest.fixture
def post_office(make_integration) -> Staff:
    return make_integration("feed:postal")


@pytest.fixture
def one_way(create_dossier) -> Callable[[int], dict]:
    """A one-way dossier (starts at result_collected) carrying item(serial), received at START."""

    def make(serial: int) -> dict:
        return create_dossier(
            service_form="return_only",
            procedure_code="1.004567",
            postal_item_number=item(serial),
            received_at=START.isoformat(),
        )

    return make


# ---- tokens and scopes ---------------------------------------------------------------------


def test_scopes_are_checked_when_a_token_is_issued(app, make_staff, make_integration):
    staff = make_staff("manager")
    with pytest.raises(ValidationFailed, match="only integration"):
        issue_token(staff.user, scopes=["feed:postal"])
    feed = make_integration()
    with pytest.raises(ValidationFailed, match="unknown scope feed:everything"):
        issue_token(feed.user, scopes=["feed:everything"])


def test_no_token_is_401_and_a_token_without_the_scope_is_403(
    client, clerk, catalogue, make_integration
):
    events = [postal("e1", item(1), "EDG", 1)]
    assert client.post(POSTAL, json={"events": events}).status_code == 401
    assert post_batch(client, POSTAL, events, clerk).status_code == 403
    agency_feed = make_integration("feed:agency", agency=catalogue.agency)
    refused = post_batch(client, POSTAL, events, agency_feed)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["required_scopes"] == ["feed:postal"]
    assert post_batch(client, AGENCY, [], agency_feed).status_code == 422
    # A feed account is no staff member.
    assert client.get("/api/v1/dossiers", headers=agency_feed.headers).status_code == 403


def test_cli_issues_a_scoped_token(app, make_integration, make_staff):
    feed = make_integration()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "token", feed.user.username, "--scope", "feed:postal"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    client = app.test_client()
    response = post_batch(
        client, POSTAL, [postal("e1", item(1), "EDG", 1)], Staff(feed.user, token)
    )
    assert response.status_code == 202
    clerk = make_staff("clerk")
    refused = runner.invoke(args=["user", "token", clerk.user.username, "--scope", "feed:postal"])
    assert refused.exit_code != 0 and "only integration" in refused.output


# ---- the door: size, envelope, items (signatures: tests/test_feed_signatures.py) ---------


def test_body_and_event_limits(client, app, post_office, monkeypatch):
    monkeypatch.setitem(app.config, "FEED_MAX_EVENTS", 3)
    events = [postal(f"e{n}", item(n), "EDG", n) for n in range(4)]
    too_many = post_batch(client, POSTAL, events, post_office)
    assert too_many.status_code == 422
    assert "at most 3 events" in too_many.get_json()["error"]["fields"]["events"][0]
    monkeypatch.setitem(app.config, "FEED_MAX_BYTES", 200)
    too_big = post_batch(client, POSTAL, events[:3], post_office)
    assert too_big.status_code == 413
    assert too_big.get_json()["error"]["code"] == "payload_too_large"


def test_feed_body_may_exceed_the_global_limit(client, app, post_office, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    events = [postal(f"e{n}", item(n), "EMC", n) for n in range(20)]
    assert post_batch(client, POSTAL, events, post_office).status_code == 202


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, "body"),
        (b"[1, 2]", 422, "body"),
        (b'{"items": []}', 422, "items"),
        (b'{"events": {}}', 422, "events"),
        (b'{"events": []}', 422, "events"),
    ],
)
def test_malformed_envelope(client, post_office, body, status, field):
    headers = {**post_office.headers, "Content-Type": "application/json"}
    response = client.post(POSTAL, data=body, headers=headers)
    assert response.status_code == status
    assert field in response.get_json()["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(FeedBatch)) == 0


def test_malformed_events_are_refused_one_by_one_and_the_rest_applied(client, post_office, one_way):
    dossier = one_way(1)
    events = [
        postal("good-1", item(1), "EDG", 10),
        postal("bad-item", "EE123456784VN", "EDG", 11),
        "not an event",
        {**postal("bad-time", item(1), "EMI", 12), "occurred_at": "yesterday"},
        {**postal("extra", item(1), "EMI", 13), "colour": "blue"},
        postal("future", item(1), "EMI", 60 * 24 * 3),
        {"item_number": item(1), "code": "EMI", "occurred_at": at(14)},
        postal("good-2", item(1), "EMI", 20),
    ]
    response = post_batch(client, POSTAL, events, post_office)

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["accepted"] == 2 and body["refused"] == 6
    refused = {(e["index"], e["field"]) for e in body["errors"]}
    assert refused == {
        (1, "item_number"),
        (2, "event"),
        (3, "occurred_at"),
        (4, "colour"),
        (5, "occurred_at"),
        (6, "event_id"),
    }
    assert "check digit" in next(e["message"] for e in body["errors"] if e["index"] == 1)
    assert run_batch(body["batch_id"]) == {"applied": 2}
    assert dossier_of(dossier["code"]).status == "delivered"


def test_a_batch_with_no_valid_event_stores_nothing(client, post_office):
    response = post_batch(client, POSTAL, [{"event_id": "x"}], post_office)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert {"events.0.item_number", "events.0.code", "events.0.occurred_at"} <= set(error["fields"])
    assert error["errors"][0]["index"] == 0
    assert db.session.scalar(select(func.count()).select_from(FeedEvent)) == 0


def test_payload_is_kept_verbatim_and_the_task_is_in_the_outbox(client, post_office):
    event = postal(
        "e1", " ee 00000001 3 vn ".replace("3", str(s10.check_digit("00000001"))), "edg", 1
    )
    event["note"] = "  giao buổi sáng  "
    response = post_batch(client, POSTAL, [event], post_office)
    assert response.status_code == 202
    stored = db.session.scalar(select(FeedEvent))
    assert stored.payload == event
    assert stored.item_number == item(1) and stored.raw_code == "EDG"
    assert stored.note == "giao buổi sáng"
    message = db.session.scalar(select(OutboxMessage))
    assert (message.task, message.kwargs) == ("feeds.apply_batch", {"batch_id": stored.batch_id})


# ---- applying ----------------------------------------------------------------------------------


def test_outcomes_of_postal_events(client, post_office, one_way):
    first, second = one_way(1), one_way(2)
    events = [
        postal("scan", item(1), "EMC", 5),  # informational
        postal("accepted", item(1), "EMA", 6),  # one-way dossiers start at result_collected
        postal("out", item(1), "EDG", 10),
        postal("failed-no-reason", item(1), "EMH", 20),
        postal("failed", item(1), "EMH", 21, note="Không có người nhận"),
        postal("odd", item(2), "XYZ", 5),
        postal("jump", item(2), "RTS", 6, note="Sai địa chỉ"),
        postal("nobody", item(3), "EDG", 5),
    ]
    body = post_batch(client, POSTAL, events, post_office).get_json()

    run_batch(body["batch_id"])

    outcomes = {
        e.event_id: (e.state, e.error)
        for e in db.session.scalars(select(FeedEvent).where(FeedEvent.batch_id == body["batch_id"]))
    }
    assert outcomes["scan"][0] == "noted"
    assert outcomes["accepted"] == ("noted", "confirms the current status result_collected")
    assert outcomes["out"] == ("applied", None)
    assert outcomes["failed-no-reason"][0] == "rejected"
    assert "EMH" in outcomes["failed-no-reason"][1] and "reason" in outcomes["failed-no-reason"][1]
    assert outcomes["failed"] == ("applied", None)
    assert (
        outcomes["odd"][0] == "rejected" and "unknown postal event code XYZ" in outcomes["odd"][1]
    )
    assert outcomes["jump"] == (
        "rejected",
        "result_collected cannot be followed by returned_to_agency "
        "(status: allowed after result_collected: out_for_delivery, delivered)",
    )
    assert outcomes["nobody"] == ("unmatched", None)
    assert dossier_of(first["code"]).status == "delivery_failed"
    assert dossier_of(second["code"]).status == "result_collected"
    feed_events = db.session.scalars(
        select(StatusEvent).where(StatusEvent.source == "postal_feed").order_by(StatusEvent.id)
    ).all()
    assert [(e.source_event_id, e.raw_code, e.note) for e in feed_events] == [
        ("out", "EDG", None),
        ("failed", "EMH", "Không có người nhận"),
    ]
    assert all(e.actor_id == post_office.user.id for e in feed_events)


def test_a_chunk_writes_its_dossiers_in_one_statement(app, client, post_office, one_way):
    dossiers = [one_way(n) for n in (1, 2, 3)]
    events = [postal(f"o{n}", item(n), "EDG", 10 + n) for n in (1, 2, 3)]
    events.append(postal("d1", item(1), "EMI", 20))
    batch_id = post_batch(client, POSTAL, events, post_office).get_json()["batch_id"]
    updates = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE DOSSIERS"):
            updates.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        run_batch(batch_id)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)

    assert len(updates) == 1, updates
    first = dossier_of(dossiers[0]["code"])
    # One bump per transaction, as the ORM's own flush would have done.
    assert (first.status, first.version) == ("delivered", dossiers[0]["version"] + 1)
    assert first.closed_at == START + timedelta(minutes=20)
    assert dossier_of(dossiers[2]["code"]).status == "out_for_delivery"


def test_a_chunk_is_audited_once_with_every_event_it_recorded(client, post_office, one_way):
    first, second = one_way(1), one_way(2)
    events = [
        postal("o1", item(1), "EDG", 10),
        postal("d1", item(1), "EMI", 20, receiver_name="Trần Văn B", receiver_relation="family"),
        postal("o2", item(2), "EDG", 12),
        postal("f2", item(2), "EMH", 15, failure_reason="absent"),
        postal("scan2", item(2), "EMC", 13),  # noted: recorded nothing, not in the audit
    ]
    batch_id = post_batch(client, POSTAL, events, post_office).get_json()["batch_id"]

    run_batch(batch_id)

    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "dossier.event_batch")
    ).all()
    assert len(entries) == 1
    [entry] = entries
    assert (entry.actor_id, entry.entity) == (post_office.user.id, "status_events")
    assert entry.entity_key == f"postal feed, batch {batch_id}"
    recorded = entry.after["events"]
    assert entry.after["count"] == len(recorded) == 4
    # In the order recorded: a batch is applied oldest first.
    assert [(e["code"], e["source_event_id"], e["from"], e["status"], e["applied"]) for e in
            recorded] == [
        (first["code"], "o1", "result_collected", "out_for_delivery", True),
        (second["code"], "o2", "result_collected", "out_for_delivery", True),
        (second["code"], "f2", "out_for_delivery", "delivery_failed", True),
        (first["code"], "d1", "out_for_delivery", "delivered", True),
    ]  # fmt: skip
    delivered = recorded[3]
    assert delivered["receiver"] == {"name": "Trần Văn B", "relation": "family"}
    assert delivered["occurred_at"] == (START + timedelta(minutes=20)).isoformat()
    # The clock columns the event changed, before and after: a delivery closes the dossier.
    assert delivered["clock"]["closed_at"] == [None, (START + timedelta(minutes=20)).isoformat()]
    assert recorded[2]["failure_reason"] == "absent"
    assert "receiver" not in recorded[0] and "clock" not in recorded[0]
    # No entry per event any more.
    assert not db.session.scalars(
        select(AuditEntry).where(AuditEntry.action.in_(["dossier.event", "dossier.late_event"]))
    ).all()


def test_events_in_reverse_order_within_a_batch_are_sorted(client, post_office, one_way):
    dossier = one_way(1)
    events = [postal("3", item(1), "EMI", 30), postal("2", item(1), "EDG", 20)]
    body = post_batch(client, POSTAL, events, post_office).get_json()
    assert run_batch(body["batch_id"]) == {"applied": 2}
    assert dossier_of(dossier["code"]).status == "delivered"


def test_older_events_arriving_later_are_kept_without_moving_the_status(
    client, post_office, one_way
):
    dossier = one_way(1)
    newer = post_batch(client, POSTAL, [postal("out-2", item(1), "EDG", 40)], post_office)
    run_batch(newer.get_json()["batch_id"])
    older = [
        postal("out-1", item(1), "EDG", 10),
        postal("failed-1", item(1), "EMH", 20, note="Vắng nhà"),
    ]
    body = post_batch(client, POSTAL, older, post_office).get_json()

    assert run_batch(body["batch_id"]) == {"late": 2}
    current = dossier_of(dossier["code"])
    assert current.status == "out_for_delivery"
    assert current.status_changed_at == START + timedelta(minutes=40)
    kept = db.session.scalars(
        select(StatusEvent.applied).where(StatusEvent.source == "postal_feed")
    ).all()
    assert sorted(kept) == [False, False, True]


def test_the_same_batch_twice_applies_once(client, post_office, one_way):
    dossier = one_way(1)
    events = [
        postal("a", item(1), "EMC", 1),
        postal("b", item(1), "EDG", 2),
        postal("c", item(1), "EMI", 3),
        postal("d", item(9), "EDG", 3),
    ]
    first = post_batch(client, POSTAL, events, post_office).get_json()["batch_id"]
    second = post_batch(client, POSTAL, events, post_office).get_json()["batch_id"]

    run_batch(first)
    run_batch(second)

    assert states(first) == {"noted": 1, "applied": 2, "unmatched": 1}
    assert states(second) == {"duplicate": 3, "unmatched": 1}
    assert db.session.scalar(select(func.count()).select_from(StatusEvent)) == 3
    assert dossier_of(dossier["code"]).status == "delivered"


def test_unmatched_events_apply_when_the_dossier_appears(client, post_office, one_way):
    events = [postal("x1", item(7), "EDG", 10), postal("x2", item(7), "EMI", 20)]
    batch_id = post_batch(client, POSTAL, events, post_office).get_json()["batch_id"]
    run_batch(batch_id)
    assert states(batch_id) == {"unmatched": 2}
    # A dossier without that item does not wake them.
    one_way(8)
    assert not _outbox("feeds.apply_unmatched")

    dossier = one_way(7)

    assert _outbox("feeds.apply_unmatched") == [{"item_number": item(7)}]
    assert apply_unmatched.run(item(7)) == {"applied": 2}
    db.session.commit()
    assert states(batch_id) == {"applied": 2}
    assert dossier_of(dossier["code"]).status == "delivered"


def test_waiting_events_without_a_dossier_keep_waiting(client, post_office):
    batch_id = post_batch(
        client, POSTAL, [postal("w1", item(4), "EDG", 10)], post_office
    ).get_json()["batch_id"]
    run_batch(batch_id)
    assert apply_unmatched.run(item(4)) == {"unmatched": 1}
    db.session.commit()
    assert states(batch_id) == {"unmatched": 1}


def test_the_safety_net_applies_events_a_dossier_missed(client, post_office, one_way, app):
    dossier = one_way(6)
    batch_id = post_batch(
        client, POSTAL, [postal("s1", item(3), "EDG", 10)], post_office
    ).get_json()["batch_id"]
    run_batch(batch_id)
    # As if the dossier had taken the item while the batch was being applied (the race the
    # advisory locks close on PostgreSQL): no task was asked for.
    db.session.execute(
        update(Dossier).where(Dossier.code == dossier["code"]).values(postal_item_number=item(3))
    )
    db.session.commit()

    assert retry_unmatched.run() == 1
    db.session.commit()
    assert states(batch_id) == {"applied": 1}
    assert dossier_of(dossier["code"]).status == "out_for_delivery"


def test_correcting_the_item_number_wakes_waiting_events(client, clerk, post_office, one_way):
    dossier = one_way(1)
    batch_id = post_batch(
        client, POSTAL, [postal("x1", item(5), "EDG", 10)], post_office
    ).get_json()["batch_id"]
    run_batch(batch_id)
    patched = client.patch(
        f"/api/v1/dossiers/{dossier['code']}",
        json={"version": dossier["version"], "postal_item_number": item(5)},
        headers=clerk.headers,
    )
    assert patched.status_code == 200, patched.get_json()
    assert _outbox("feeds.apply_unmatched") == [{"item_number": item(5)}]
    apply_unmatched.run(item(5))
    db.session.commit()
    assert dossier_of(dossier["code"]).status == "out_for_delivery"


def test_agency_feed(client, clerk, create_dossier, make_integration, catalogue):
    own = create_dossier(received_at=START.isoformat())
    other = create_dossier(procedure_code="1.009876", received_at=START.isoformat())
    for code in (own["code"], other["code"]):
        forwarded = client.post(
            f"/api/v1/dossiers/{code}/events",
            json={"status": "forwarded", "occurred_at": at(5)},
            headers=clerk.headers,
        )
        assert forwarded.status_code == 201, forwarded.get_json()
    feed = make_integration("feed:agency", agency=catalogue.agency)
    appointment = (START + timedelta(days=20)).date().isoformat()
    events = [
        {
            "event_id": "A-1",
            "dossier_code": own["code"],
            "status": "processing",
            "appointment_date": appointment,
            "occurred_at": at(10),
        },
        {
            "event_id": "A-2",
            "dossier_code": other["code"],
            "status": "processing",
            "occurred_at": at(10),
        },
        {
            "event_id": "A-3",
            "dossier_code": "000.00.01.H19-000101-9999",
            "status": "rejected",
            "occurred_at": at(10),
        },
        {
            "event_id": "A-4",
            "dossier_code": own["code"],
            "status": "delivered",
            "occurred_at": at(10),
        },
    ]
    body = post_batch(client, AGENCY, events, feed).get_json()
    assert body["accepted"] == 3
    assert body["errors"][0]["index"] == 3 and body["errors"][0]["field"] == "status"

    run_batch(body["batch_id"])

    outcomes = {e.event_id: (e.state, e.error) for e in db.session.scalars(select(FeedEvent))}
    assert outcomes["A-1"] == ("applied", None)
    # Another agency's dossier answers as an unknown one.
    assert outcomes["A-2"] == ("rejected", f"no dossier with code {other['code']}")
    assert outcomes["A-3"] == ("rejected", "no dossier with code 000.00.01.H19-000101-9999")
    current = dossier_of(own["code"])
    assert current.status == "processing"
    assert current.appointment_date.isoformat() == appointment
    event = db.session.scalar(select(StatusEvent).where(StatusEvent.source == "agency_feed"))
    assert event.source_event_id == "A-1"


# ---- reading --------------------------------------------------------------------------------


def test_batch_status_for_managers_and_its_sender_only(
    client, post_office, make_integration, make_staff, clerk
):
    events = [postal("n1", item(1), "EDG", 1), postal("n2", item(2), "EDG", 2)]
    body = post_batch(client, POSTAL, events, post_office).get_json()
    url = body["status_url"]
    pending = client.get(url, headers=post_office.headers).get_json()
    assert pending["done"] is False and pending["counts"]["pending"] == 2
    run_batch(body["batch_id"])

    seen = client.get(url, headers=make_staff("manager").headers).get_json()
    assert seen["done"] is True and seen["counts"]["unmatched"] == 2
    assert seen["processed_at"] is not None
    stranger = make_integration("feed:postal")
    assert client.get(url, headers=stranger.headers).status_code == 404
    # A batch spans offices and agencies: those scoped to one read none of it.
    assert client.get(url, headers=clerk.headers).status_code == 404
    assert client.get(f"{url}/events", headers=make_staff("agency").headers).status_code == 404
    huge = client.get("/api/v1/feeds/batches/99999999999999999999", headers=post_office.headers)
    assert huge.status_code == 404
    assert client.get(url).status_code == 401
    listed = client.get(f"{url}/events?state=unmatched&limit=1", headers=post_office.headers)
    page = listed.get_json()
    assert [e["event_id"] for e in page["items"]] == ["n2"] and page["next_cursor"]


def test_unmatched_list(client, post_office, make_staff, clerk):
    events = [postal(f"u{n}", item(n % 3), "EDG", n, office_code="810000") for n in range(6)]
    run_batch(post_batch(client, POSTAL, events, post_office).get_json()["batch_id"])

    seen, cursor = [], None
    while True:
        query = "?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/feeds/unmatched{query}", headers=clerk.headers).get_json()
        seen += [e["event_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["u5", "u4", "u3", "u2", "u1", "u0"]
    manager = make_staff("manager")
    by_item = client.get(f"/api/v1/feeds/unmatched?item={item(1)}", headers=manager.headers)
    assert [e["event_id"] for e in by_item.get_json()["items"]] == ["u4", "u1"]
    bad = client.get("/api/v1/feeds/unmatched?item=EE1", headers=manager.headers)
    assert bad.status_code == 422 and "item" in bad.get_json()["error"]["fields"]
    officer = make_staff("agency")
    assert client.get("/api/v1/feeds/unmatched", headers=officer.headers).status_code == 403
    assert client.get("/api/v1/feeds/unmatched", headers=post_office.headers).status_code == 403


# ---- the command line ----------------------------------------------------------------------


def test_feed_load_csv_prints_bad_lines_and_applies_the_rest(app, one_way, tmp_path):
    dossier = one_way(1)
    path = tmp_path / "postal.csv"
    path.write_text(
        "event_id,item_number,code,occurred_at,office_code,note\n"
        f"c1,{item(1)},EDG,{at(10)},810000,\n"
        f"c2,EE1,EDG,{at(11)},,\n"
        "\n"
        f'c3,{item(1)},EMI,{at(20)},810000,"Đã phát, ký nhận"\n',
        encoding="utf-8",
    )
    result = app.test_cli_runner().invoke(args=["feed", "load", str(path)])

    assert result.exit_code == 1, result.output
    assert "line 3: item_number:" in result.output
    assert "2 postal events stored, 1 refused" in result.output
    assert "applied 2" in result.output
    current = dossier_of(dossier["code"])
    assert current.status == "delivered"
    office_ids = db.session.scalars(
        select(StatusEvent.office_id).where(StatusEvent.source == "postal_feed")
    )
    assert set(office_ids) == {current.office_id}


def test_feed_load_json_lines_agency_enqueued(app, create_dossier, clerk, client, tmp_path):
    dossier = create_dossier(received_at=START.isoformat())
    client.post(
        f"/api/v1/dossiers/{dossier['code']}/events",
        json={"status": "forwarded", "occurred_at": at(5)},
        headers=clerk.headers,
    )
    path = tmp_path / "agency.jsonl"
    lines = [
        json.dumps(
            {
                "event_id": "j1",
                "dossier_code": dossier["code"],
                "status": "processing",
                "occurred_at": at(10),
            }
        ),
        "{broken",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["feed", "load", str(path), "--enqueue"])

    assert result.exit_code == 1, result.output
    assert "line 2: line: not a JSON object" in result.output
    assert "queued for a worker" in result.output
    batch_id = db.session.scalar(select(FeedBatch.id))
    assert _outbox("feeds.apply_batch") == [{"batch_id": batch_id}]
    assert states(batch_id) == {"pending": 1}


def _outbox(task: str) -> list[dict]:
    db.session.expire_all()
    return [
        m.kwargs
        for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.task == task).order_by(OutboxMessage.id)
        )
    ]


def test_migrations_seed_the_documented_postal_codes(app):
    from tracker.feeds.codes import DEFAULT_POSTAL_CODES
    from tracker.feeds.models import PostalEventCode

    rows = db.session.scalars(select(PostalEventCode).order_by(PostalEventCode.code))
    seeded = {
        (r.code, r.status, r.description_vi, r.description_en, r.requires_reason) for r in rows
    }
    assert seeded == set(DEFAULT_POSTAL_CODES)
