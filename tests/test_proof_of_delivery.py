"""Proof of delivery: who received a delivered result and why a delivery failed, through the
API, the pages and the postal feed; the staff see it, the citizen's lookup says it in words
without the receiver's name or the note; the audit keeps the name; bad input is a 422 that
names the field and writes nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.conftest import PASSWORD, Staff, make_app
from tests.pages import csrf_of, post_form, sign_in, text_of
from tests.test_procedure_documents import _insert_a_dossier
from tests.test_procedure_documents import empty_database_url as _empty_database_url
from tracker.accounts.operations import create_user, issue_token
from tracker.audit.models import AuditEntry
from tracker.calendar import utcnow
from tracker.demo import demo_receiver
from tracker.dossiers import s10
from tracker.dossiers.delivery import DELIVERED_TO, FAILURE_REASONS, RECEIVER_RELATIONS
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.feeds.models import FeedEvent
from workers.feeds import apply_batch

RECEIVER = {"name": "Lê Văn Cường", "relation": "authorised"}
NOTE = "Gọi ba lần không nghe máy"


def item(serial: int) -> str:
    digits = f"{serial:08d}"
    return f"RA{digits}{s10.check_digit(digits)}VN"


def events_url(code: str) -> str:
    return f"/api/v1/dossiers/{code}/events"


@pytest.fixture
def out_for_delivery(client, clerk, create_dossier) -> Callable[..., dict]:
    """A one-way dossier (it starts at result_collected) taken out for delivery."""

    def make(**overrides) -> dict:
        created = create_dossier(service_form="return_only", procedure_code="1.004567", **overrides)
        answer = client.post(
            events_url(created["code"]), json={"status": "out_for_delivery"}, headers=clerk.headers
        )
        assert answer.status_code == 201, answer.get_json()
        return created

    return make


def history(code: str) -> list[StatusEvent]:
    db.session.expire_all()
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    query = select(StatusEvent).where(StatusEvent.dossier_id == dossier.id)
    return list(db.session.scalars(query.order_by(StatusEvent.id)))


def track(client, created: dict):
    query = {"code": created["code"], "secret": created["lookup_secret"]}
    return client.get("/api/v1/track", query_string=query)


# ---- the API -------------------------------------------------------------------------------


def test_a_delivery_records_its_receiver_and_the_history_shows_it(client, clerk, out_for_delivery):
    code = out_for_delivery()["code"]

    answer = client.post(
        events_url(code), json={"status": "delivered", "receiver": RECEIVER}, headers=clerk.headers
    )

    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["receiver"] == RECEIVER and body["failure_reason"] is None
    assert body["dossier"]["status"]["code"] == "delivered"
    last = history(code)[-1]
    assert (last.receiver_name, last.receiver_relation) == ("Lê Văn Cường", "authorised")
    staff = client.get(events_url(code), headers=clerk.headers).get_json()
    assert [(e["to_status"]["code"], e["receiver"]) for e in staff] == [
        ("result_collected", None),
        ("out_for_delivery", None),
        ("delivered", RECEIVER),
    ]


def test_a_failed_delivery_takes_a_coded_reason_and_a_note_only_for_other(
    client, clerk, out_for_delivery
):
    code = out_for_delivery()["code"]
    url = events_url(code)

    absent = client.post(
        url, json={"status": "delivery_failed", "failure_reason": "absent"}, headers=clerk.headers
    )
    assert absent.status_code == 201, absent.get_json()
    assert (absent.get_json()["failure_reason"], absent.get_json()["note"]) == ("absent", None)
    again = client.post(url, json={"status": "out_for_delivery"}, headers=clerk.headers)
    assert again.status_code == 201
    other = {"status": "delivery_failed", "failure_reason": "other"}
    refused = client.post(url, json=other, headers=clerk.headers)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {
        "note": ["required when the reason is other: say why"]
    }
    given = client.post(url, json={**other, "note": NOTE}, headers=clerk.headers)
    assert given.status_code == 201, given.get_json()

    staff = client.get(url, headers=clerk.headers).get_json()
    failed = [e for e in staff if e["to_status"]["code"] == "delivery_failed"]
    assert [(e["failure_reason"], e["note"]) for e in failed] == [("absent", None), ("other", NOTE)]


BAD_EVENTS = [
    # (what is sent, the field named)
    ({"status": "delivered"}, {"receiver.name", "receiver.relation"}),
    ({"status": "delivered", "receiver": {"name": "Lê Văn Cường"}}, {"receiver.relation"}),
    ({"status": "delivered", "receiver": {"relation": "family"}}, {"receiver.name"}),
    ({"status": "delivered", "receiver": {"name": "  ", "relation": "family"}}, {"receiver.name"}),
    (
        {"status": "delivered", "receiver": {**RECEIVER, "relation": "neighbour"}},
        {"receiver.relation"},
    ),
    ({"status": "delivered", "receiver": {**RECEIVER, "age": 40}}, {"receiver.age"}),
    ({"status": "delivered", "receiver": "Lê Văn Cường"}, {"receiver._schema"}),
    ({"status": "delivered", "receiver": {**RECEIVER, "name": "x" * 201}}, {"receiver.name"}),
    ({"status": "delivered", "receiver": RECEIVER, "failure_reason": "absent"}, {"failure_reason"}),
    ({"status": "delivery_failed"}, {"failure_reason"}),
    ({"status": "delivery_failed", "failure_reason": "lost"}, {"failure_reason"}),
    ({"status": "delivery_failed", "failure_reason": None}, {"failure_reason"}),
    ({"status": "delivery_failed", "failure_reason": "absent", "receiver": RECEIVER}, {"receiver"}),
]


@pytest.mark.parametrize(("body", "fields"), BAD_EVENTS)
def test_bad_proof_is_a_422_naming_the_field_and_writes_nothing(
    client, clerk, out_for_delivery, body, fields
):
    created = out_for_delivery()
    code = created["code"]
    before = client.get(f"/api/v1/dossiers/{code}", headers=clerk.headers).get_json()
    entries = db.session.scalar(select(func.count()).select_from(AuditEntry))

    answer = client.post(events_url(code), json=body, headers=clerk.headers)

    assert answer.status_code == 422, answer.get_json()
    assert set(answer.get_json()["error"]["fields"]) == fields
    after = client.get(f"/api/v1/dossiers/{code}", headers=clerk.headers).get_json()
    assert (after["status"], after["version"]) == (before["status"], before["version"])
    assert [e.to_status for e in history(code)] == ["result_collected", "out_for_delivery"]
    # Nothing but the two views of the dossier above was audited.
    audited = db.session.scalar(select(func.count()).select_from(AuditEntry))
    assert audited == entries + 1


@pytest.mark.parametrize(
    ("proof", "field"),
    [({"receiver": RECEIVER}, "receiver"), ({"failure_reason": "refused"}, "failure_reason")],
)
def test_proof_on_another_event_is_refused(client, clerk, create_dossier, proof, field):
    code = create_dossier(service_form="return_only", procedure_code="1.004567")["code"]
    body = {"status": "out_for_delivery", **proof}

    answer = client.post(events_url(code), json=body, headers=clerk.headers)

    assert answer.status_code == 422
    assert list(answer.get_json()["error"]["fields"]) == [field]
    assert [e.to_status for e in history(code)] == ["result_collected"]


def test_a_refused_transition_is_still_a_409_before_any_proof_is_asked(
    client, clerk, create_dossier
):
    code = create_dossier()["code"]
    answer = client.post(events_url(code), json={"status": "delivered"}, headers=clerk.headers)
    assert answer.status_code == 409
    assert answer.get_json()["error"]["allowed"] == ["forwarded", "withdrawn"]


def test_the_audit_keeps_the_receivers_name(client, clerk, out_for_delivery):
    code = out_for_delivery()["code"]
    client.post(
        events_url(code), json={"status": "delivered", "receiver": RECEIVER}, headers=clerk.headers
    )
    entries = AuditEntry.query.filter_by(entity_key=code, action="dossier.event").all()
    delivered = [e for e in entries if e.after["event"]["status"] == "delivered"]
    assert len(delivered) == 1
    assert delivered[0].actor_id == clerk.user.id
    assert delivered[0].after["event"]["receiver"] == RECEIVER
    # The events before it carried no proof, and their entries say none.
    assert all("receiver" not in e.after["event"] for e in entries if e is not delivered[0])


def test_the_database_holds_the_coded_lists_and_keeps_proof_on_its_own_status(app, make_dossier):
    dossier = make_dossier("return_only", procedure_code="1.004567")
    now = utcnow()

    def insert(**columns) -> None:
        row = {
            "dossier_id": dossier.id,
            "to_status": "delivered",
            "occurred_at": now,
            "recorded_at": now,
            "source": "counter",
            "applied": False,
            **columns,
        }
        with db.session.begin_nested():
            db.session.execute(sa.insert(StatusEvent.__table__).values(**row))

    insert(receiver_relation="family", receiver_name="Lê Thị Dung")
    for columns in (
        {"receiver_relation": "neighbour"},
        {"receiver_relation": "family", "to_status": "out_for_delivery"},
        {"receiver_name": "Lê Thị Dung"},  # a name without a relation
        {"failure_reason": "absent"},  # on a delivery
        {"failure_reason": "lost", "to_status": "delivery_failed"},
    ):
        with pytest.raises(IntegrityError):
            insert(**columns)
    insert(failure_reason="refused", to_status="delivery_failed")
    db.session.commit()


# ---- the citizen's lookup ------------------------------------------------------------------


def test_the_lookup_says_to_whom_in_words_never_the_name_nor_the_note(
    client, clerk, out_for_delivery
):
    created = out_for_delivery()
    url = events_url(created["code"])
    for body in (
        {"status": "delivery_failed", "failure_reason": "other", "note": NOTE},
        {"status": "out_for_delivery"},
        {"status": "delivered", "receiver": RECEIVER},
    ):
        assert client.post(url, json=body, headers=clerk.headers).status_code == 201

    answer = track(client, created)

    assert answer.status_code == 200
    timeline = answer.get_json()["timeline"]
    assert [(e["status"]["code"], e["delivered_to"], e["failure_reason"]) for e in timeline] == [
        ("result_collected", None, None),
        ("out_for_delivery", None, None),
        (
            "delivery_failed",
            None,
            {"code": "other", "label_vi": "Lý do khác", "label_en": "Another reason"},
        ),
        ("out_for_delivery", None, None),
        (
            "delivered",
            {
                "code": "authorised",
                "label_vi": "Đã trả cho người được ủy quyền",
                "label_en": "Delivered to an authorised person",
            },
            None,
        ),
    ]
    text = answer.get_data(as_text=True)
    for private in ("Lê Văn Cường", "Cường", NOTE):
        assert private not in text


@pytest.mark.parametrize(
    ("language", "delivered", "reason"),
    [
        ("vi", "Đã trả cho người nộp hồ sơ", "Người nhận từ chối nhận"),
        ("en", "Delivered to the applicant", "Refused by the receiver"),
    ],
)
def test_the_lookup_page_says_it_in_the_readers_language(
    client, clerk, out_for_delivery, language, delivered, reason
):
    created = out_for_delivery()
    url = events_url(created["code"])
    failed = {"status": "delivery_failed", "failure_reason": "refused", "note": NOTE}
    assert client.post(url, json=failed, headers=clerk.headers).status_code == 201
    again = client.post(url, json={"status": "out_for_delivery"}, headers=clerk.headers)
    assert again.status_code == 201
    receiver = {"name": "Nguyễn Thị Hoa", "relation": "applicant"}
    body = {"status": "delivered", "receiver": receiver}
    assert client.post(url, json=body, headers=clerk.headers).status_code == 201
    client.set_cookie("lang", language)

    page = client.get(
        "/track", query_string={"code": created["code"], "secret": created["lookup_secret"]}
    )

    assert page.status_code == 200
    text = text_of(page)
    # Under the status, and in the history beside the step.
    assert text.count(delivered) == 2
    assert text.count(reason) == 1
    for private in ("Nguyễn Thị Hoa", NOTE):
        assert private not in page.get_data(as_text=True)


def test_the_lookup_of_a_failed_delivery_gives_its_reason_under_the_status(
    client, clerk, out_for_delivery
):
    created = out_for_delivery()
    body = {"status": "delivery_failed", "failure_reason": "wrong_address"}
    answer = client.post(events_url(created["code"]), json=body, headers=clerk.headers)
    assert answer.status_code == 201

    page = client.get(
        "/track", query_string={"code": created["code"], "secret": created["lookup_secret"]}
    )

    assert re.search(r'class="lookup-detail">Sai hoặc thiếu địa chỉ<', page.get_data(as_text=True))


# ---- the pages -----------------------------------------------------------------------------


def test_the_dossier_page_records_a_delivery_with_its_receiver(
    app, client, clerk, out_for_delivery
):
    code = out_for_delivery()["code"]
    sign_in(client, clerk.user.username)
    page = client.get(f"/dossiers/{code}")
    html = page.get_data(as_text=True)
    assert '<input id="receiver-name" name="receiver.name"' in html
    relations = re.findall(r'<select id="receiver-relation".*?</select>', html, re.S)[0]
    assert re.findall(r'<option value="([a-z]+)"', relations) == list(RECEIVER_RELATIONS)
    reasons = re.findall(r'<select id="failure_reason".*?</select>', html, re.S)[0]
    assert re.findall(r'<option value="([a-z_]+)"', reasons) == list(FAILURE_REASONS)

    data = {"status": "delivered", "receiver.name": "Phạm Thu Trang", "receiver.relation": "family"}
    answer = post_form(client, f"/dossiers/{code}/events", data, page=f"/dossiers/{code}")

    assert answer.status_code == 302
    last = history(code)[-1]
    assert (last.to_status, last.receiver_name, last.receiver_relation) == (
        "delivered",
        "Phạm Thu Trang",
        "family",
    )
    timeline = text_of(client.get(f"/dossiers/{code}"))
    assert "Người nhận: Phạm Thu Trang · Người thân trong gia đình" in timeline


def test_the_dossier_page_refuses_a_delivery_without_its_receiver(
    app, client, clerk, out_for_delivery
):
    code = out_for_delivery()["code"]
    sign_in(client, clerk.user.username)
    data = {"status": "delivered", "receiver.name": "Phạm Thu Trang"}

    answer = post_form(client, f"/dossiers/{code}/events", data, page=f"/dossiers/{code}")

    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert re.search(r'<select id="receiver-relation"[^>]*aria-invalid="true"', html)
    assert 'id="receiver-relation-error"' in html and "bắt buộc khi đã trả kết quả" in html
    assert 'value="Phạm Thu Trang"' in html  # what was typed comes back
    assert [e.to_status for e in history(code)] == ["result_collected", "out_for_delivery"]


def test_the_dossier_page_shows_a_failures_reason_in_english(app, client, clerk, out_for_delivery):
    code = out_for_delivery()["code"]
    body = {"status": "delivery_failed", "failure_reason": "absent"}
    assert client.post(events_url(code), json=body, headers=clerk.headers).status_code == 201
    sign_in(client, clerk.user.username)
    client.set_cookie("lang", "en")

    text = text_of(client.get(f"/dossiers/{code}"))

    assert "Reason: Nobody at the address" in text


def scan(client, status: str, codes: list[str], **fields: str):
    page = client.get("/dossiers/scan")
    batch = re.search(r'name="batch" value="([0-9a-f]+)"', page.get_data(as_text=True)).group(1)
    data = {"status": status, "codes": "\n".join(codes), "batch": batch, **fields}
    return client.post("/dossiers/scan", data={**data, "csrf_token": csrf_of(page)})


def test_the_batch_scan_records_one_receiver_for_the_whole_batch(
    app, client, clerk, out_for_delivery
):
    codes = [out_for_delivery()["code"] for _ in range(2)]
    sign_in(client, clerk.user.username)

    refused = scan(client, "delivered", codes, **{"receiver.name": "Công ty TNHH Minh Phát"})
    assert refused.status_code == 422
    assert 'id="receiver-relation-error"' in refused.get_data(as_text=True)
    assert all(history(code)[-1].to_status == "out_for_delivery" for code in codes)

    fields = {"receiver.name": "Công ty TNHH Minh Phát", "receiver.relation": "organisation"}
    answer = scan(client, "delivered", codes, **fields)

    assert answer.status_code == 200
    assert text_of(answer).count("Đã ghi nhận") >= 2
    for code in codes:
        last = history(code)[-1]
        assert (last.to_status, last.receiver_name, last.receiver_relation) == (
            "delivered",
            "Công ty TNHH Minh Phát",
            "organisation",
        )
    # The next batch starts without the receiver.
    assert 'value="Công ty TNHH Minh Phát"' not in answer.get_data(as_text=True)


def test_the_batch_scan_records_failures_with_their_reason(app, client, clerk, out_for_delivery):
    code = out_for_delivery()["code"]
    sign_in(client, clerk.user.username)
    refused = scan(client, "delivery_failed", [code], failure_reason="other")
    assert refused.status_code == 422 and 'id="note-error"' in refused.get_data(as_text=True)

    answer = scan(client, "delivery_failed", [code], failure_reason="refused")

    assert answer.status_code == 200
    last = history(code)[-1]
    assert (last.to_status, last.failure_reason, last.note) == ("delivery_failed", "refused", None)


# ---- the postal feed -----------------------------------------------------------------------


@pytest.fixture
def post_office(app, catalogue) -> Staff:
    user = create_user(f"post{uuid.uuid4().hex[:6]}", "integration", PASSWORD)
    token = issue_token(user, name="feed", scopes=["feed:postal"])
    db.session.commit()
    return Staff(user, token)


def send(client, post_office: Staff, events: list[dict]) -> dict:
    answer = client.post(
        "/api/v1/feeds/postal", json={"events": events}, headers=post_office.headers
    )
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    if body["accepted"]:
        apply_batch.run(body["batch_id"])
        db.session.commit()
    return body


def postal(event_id: str, number: str, code: str, **extra) -> dict:
    return {"event_id": event_id, "item_number": number, "code": code, **extra} | {
        "occurred_at": utcnow().isoformat()
    }


def outcome(event_id: str) -> tuple[str, str | None]:
    db.session.expire_all()
    row = db.session.scalar(select(FeedEvent).where(FeedEvent.event_id == event_id))
    return row.state, row.error


def test_the_posts_delivery_without_a_receiver_is_to_the_applicant_unnamed(
    client, post_office, out_for_delivery
):
    created = out_for_delivery(postal_item_number=item(1))

    send(client, post_office, [postal("d-1", item(1), "EMI")])

    assert outcome("d-1") == ("applied", None)
    last = history(created["code"])[-1]
    assert (last.to_status, last.receiver_relation, last.receiver_name) == (
        "delivered",
        "applicant",
        None,
    )
    assert track(client, created).get_json()["timeline"][-1]["delivered_to"]["code"] == "applicant"


def test_the_posts_receiver_and_reason_are_kept_when_it_gives_them(
    client, post_office, out_for_delivery
):
    failed = out_for_delivery(postal_item_number=item(2))
    delivered = out_for_delivery(postal_item_number=item(3))
    worded = out_for_delivery(postal_item_number=item(4))

    send(
        client,
        post_office,
        [
            postal("f-1", item(2), "EMH", failure_reason="absent"),
            postal("d-2", item(3), "EMI", receiver_name="Đỗ Minh Khoa", receiver_relation="family"),
            postal("f-2", item(4), "EMH", note="Khách hẹn phát lại chiều mai"),
        ],
    )

    assert [outcome(e)[0] for e in ("f-1", "d-2", "f-2")] == ["applied"] * 3
    last = history(failed["code"])[-1]
    assert (last.to_status, last.failure_reason, last.note) == ("delivery_failed", "absent", None)
    last = history(delivered["code"])[-1]
    assert (last.receiver_name, last.receiver_relation) == ("Đỗ Minh Khoa", "family")
    # The post's failure in words only: another reason, whose words are the note.
    last = history(worded["code"])[-1]
    assert (last.failure_reason, last.note) == ("other", "Khách hẹn phát lại chiều mai")


def test_the_post_cannot_give_proof_out_of_place_or_off_the_lists(
    client, post_office, out_for_delivery
):
    created = out_for_delivery(postal_item_number=item(5))
    body = send(
        client,
        post_office,
        [
            postal("x-1", item(5), "EMI", receiver_relation="neighbour"),
            postal("x-2", item(5), "EMH", failure_reason="lost", note="?"),
            postal("x-3", item(5), "EMH"),  # neither a coded reason nor words
            postal("x-4", item(5), "EDG", receiver_relation="family"),
        ],
    )

    assert {(e["index"], e["field"]) for e in body["errors"]} == {
        (0, "receiver_relation"),
        (1, "failure_reason"),
    }
    state, error = outcome("x-3")
    assert state == "rejected" and "EMH" in error and "failure_reason or note" in error
    # EDG is out for delivery, which the dossier already is: the post confirms it, noted.
    state, _error = outcome("x-4")
    assert state == "noted"
    assert [e.to_status for e in history(created["code"])] == [
        "result_collected",
        "out_for_delivery",
    ]


def test_a_receiver_on_another_postal_event_is_rejected(client, post_office, create_dossier):
    created = create_dossier(
        service_form="return_only", procedure_code="1.004567", postal_item_number=item(6)
    )
    send(client, post_office, [postal("y-1", item(6), "EDG", receiver_relation="family")])

    state, error = outcome("y-1")
    assert state == "rejected" and "receiver" in error
    assert [e.to_status for e in history(created["code"])] == ["result_collected"]


# ---- the demo --------------------------------------------------------------------------------


def test_the_demo_names_a_receiver_from_the_dossier_alone(app, make_dossier):
    dossier = make_dossier("return_only", procedure_code="1.004567")
    receiver = demo_receiver(dossier)
    assert receiver == demo_receiver(dossier)
    assert receiver["relation"] in RECEIVER_RELATIONS and receiver["name"]
    assert set(DELIVERED_TO) == set(RECEIVER_RELATIONS)


# ---- the migration ---------------------------------------------------------------------------


# A database of its own, empty (the migration test of the documents checklist makes it).
empty_database_url = _empty_database_url


def test_the_migration_adds_the_columns_empty_and_goes_back(empty_database_url):
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(revision="0007")
        with db.engine.begin() as connection:
            _insert_a_delivered_event(connection)
        upgrade(revision="0008")
        with db.engine.connect() as connection:
            row = connection.execute(
                sa.text(
                    "SELECT receiver_name, receiver_relation, failure_reason FROM status_events"
                )
            ).one()
            assert tuple(row) == (None, None, None)
            feed = {c["name"] for c in sa.inspect(connection).get_columns("feed_events")}
            assert {"receiver_name", "receiver_relation", "failure_reason"} <= feed
        downgrade(revision="0007")
        with db.engine.connect() as connection:
            for table in ("status_events", "feed_events"):
                columns = {c["name"] for c in sa.inspect(connection).get_columns(table)}
                assert not columns & {"receiver_name", "receiver_relation", "failure_reason"}
            assert connection.scalar(sa.text("SELECT count(*) FROM status_events")) == 1
        upgrade(revision="0008")
        db.session.remove()
        db.engine.dispose()


def _insert_a_delivered_event(connection) -> None:
    """A dossier delivered before 0008 (its event says nothing of the receiver)."""
    _insert_a_dossier(connection)
    events = sa.Table("status_events", sa.MetaData(), autoload_with=connection)
    now = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    dossier_id = connection.scalar(sa.text("SELECT id FROM dossiers"))
    row = {"dossier_id": dossier_id, "from_status": "out_for_delivery", "to_status": "delivered"}
    row |= {"applied": True, "occurred_at": now, "recorded_at": now, "source": "postal_feed"}
    connection.execute(sa.insert(events).values(**row))
