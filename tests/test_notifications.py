"""Notifications: what a citizen is told and when, one delivery task per transaction, delivery
by a real worker through the configured gateway, retries with backoff, failures that never
reach a request."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from tests.conftest import fresh_session
from tests.gateways import SLOW_SECONDS, AlwaysFailing, Refusing
from tracker.audit.models import AuditEntry
from tracker.calendar import utcnow
from tracker.catalogue.models import Agency, Office, Procedure
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.dossiers.operations import EventBatch, record_event
from tracker.dossiers.queries import get_dossier
from tracker.extensions import db
from tracker.notifications import operations
from tracker.notifications.gateways import RecordingGateway, mask_recipient
from tracker.notifications.messages import (
    GSM_BASIC,
    NOTIFY_STATUSES,
    compose,
    sms_size,
    sms_text,
    strip_accents,
)
from tracker.notifications.models import Notification
from tracker.outbox import operations as outbox
from tracker.outbox.models import OutboxMessage

CODE = "000.00.01.H19-261125-0001"
PHONE = "0912345678"
LONG_NOTE = (
    "Người nhận đi vắng, đã gọi điện ba lần không liên lạc được, hàng xóm cho biết "
    "gia đình về quê đến cuối tuần, bưu tá sẽ quay lại vào thứ hai tuần sau " * 3
)


def transient_dossier(service_form: str = "two_way", **overrides) -> Dossier:
    values = {
        "code": CODE,
        "service_form": service_form,
        "applicant_phone": PHONE,
        "applicant_email": None,
        "appointment_date": date(2026, 12, 5),
        "procedure": Procedure(name="Cấp phiếu lý lịch tư pháp"),
        "office": Office(name="Bưu cục Biên Hòa"),
        "agency": Agency(name="Sở Tư pháp tỉnh Đồng Nai"),
    }
    values.update(overrides)
    return Dossier(**values)


def transient_event(
    status: str, note: str | None = None, failure_reason: str | None = None
) -> StatusEvent:
    return StatusEvent(
        to_status=status,
        note=note,
        failure_reason=failure_reason,
        occurred_at=datetime(2026, 11, 25, 3, 4, tzinfo=UTC),
    )


# Texts -------------------------------------------------------------------------------------


def test_texts_name_the_code_the_status_and_what_to_do():
    dossier = transient_dossier()
    assert sms_text(dossier, transient_event("received"), False) == (
        f"Hồ sơ {CODE}: Bưu điện đã tiếp nhận. Hẹn trả kết quả ngày 05/12/2026. "
        "Giữ biên nhận để tra cứu."
    )
    assert sms_text(dossier, transient_event("delivery_failed", "Không có người nhận."), False) == (
        f"Hồ sơ {CODE}: Phát không thành công (Không có người nhận). "
        "Vui lòng liên hệ bưu cục để hẹn phát lại."
    )
    assert sms_text(
        dossier, transient_event("supplement_required", "Thiếu bản sao CCCD"), True
    ) == (
        f"Ho so {CODE}: Yeu cau bo sung (Thieu ban sao CCCD). "
        "Vui long mang giay to bo sung den noi da nop ho so."
    )
    # A send-only result is fetched at the agency; a two-way one comes by post.
    send_only = transient_dossier("send_only")
    assert "cơ quan giải quyết để nhận kết quả" in sms_text(
        send_only, transient_event("result_ready"), False
    )
    assert "Bưu điện sẽ chuyển phát" in sms_text(dossier, transient_event("result_ready"), False)
    # Without an appointment date, no date is made up.
    undated = transient_dossier(appointment_date=None)
    assert sms_text(undated, transient_event("received"), False) == (
        f"Hồ sơ {CODE}: Bưu điện đã tiếp nhận. Giữ biên nhận để tra cứu."
    )


@pytest.mark.parametrize("status", sorted(NOTIFY_STATUSES))
@pytest.mark.parametrize("service_form", ["two_way", "send_only"])
@pytest.mark.parametrize("note", [None, "Thiếu tờ khai", LONG_NOTE])
def test_every_sms_fits_two_ucs2_segments_or_one_gsm_segment(status, service_form, note):
    dossier = transient_dossier(service_form)
    event = transient_event(status, note)
    accented = sms_text(dossier, event, False)
    size = sms_size(accented)
    assert (size.encoding, size.segments) == ("ucs2", 2), accented
    plain = sms_text(dossier, event, True)
    size = sms_size(plain)
    assert (size.encoding, size.segments) == ("gsm7", 1), plain
    assert set(plain) <= GSM_BASIC
    assert CODE in accented and CODE in plain
    if note == "Thiếu tờ khai" and status in ("supplement_required", "delivery_failed"):
        assert "(Thiếu tờ khai)" in accented and "(Thieu to khai)" in plain
    if note == LONG_NOTE and status == "delivery_failed":
        # Shortened at a word, never the code.
        assert "(Người nhận đi vắng, đã gọi" in accented and "…)" in accented


def test_e_mail_keeps_diacritics_and_says_more():
    dossier = transient_dossier(applicant_email="an@example.vn")
    messages = compose(
        dossier,
        transient_event("supplement_required", "Thiếu bản sao CCCD"),
        unaccented_sms=True,
        base_url="https://tracuu.example.vn",
    )
    assert [(m.channel, m.recipient) for m in messages] == [
        ("sms", PHONE),
        ("email", "an@example.vn"),
    ]
    email = messages[1]
    assert email.subject == f"Hồ sơ {CODE}: Yêu cầu bổ sung"
    assert "Nội dung cần bổ sung: Thiếu bản sao CCCD." in email.body
    assert "Vui lòng mang giấy tờ bổ sung đến Bưu cục Biên Hòa" in email.body
    assert "lúc 10:04 ngày 25/11/2026" in email.body  # Vietnam time
    assert "https://tracuu.example.vn" in email.body


def test_sizes_and_folding():
    assert sms_size("a" * 160).segments == 1
    assert sms_size("a" * 161).segments == 2
    assert sms_size("[" * 80).units == 160  # extension characters take two septets
    assert sms_size("ố" * 70).segments == 1
    assert sms_size("ố" * 71).segments == 2
    assert sms_size("ố" * 134).segments == 2
    assert sms_size("ố" * 135).segments == 3
    assert strip_accents("Đã có kết quả, ĐƯỜNG Nguyễn Ái Quốc") == (
        "Da co ket qua, DUONG Nguyen Ai Quoc"
    )
    assert mask_recipient("sms", PHONE) == "091*****78"
    assert mask_recipient("email", "an.nguyen@example.vn") == "a********@example.vn"


def test_a_failed_delivery_says_its_coded_reason_and_the_note_only_for_other():
    dossier = transient_dossier(applicant_email="an@example.vn")
    action = "Vui lòng liên hệ bưu cục để hẹn phát lại."
    # Beside a coded reason the note may name the receiver or a neighbour: never sent.
    absent = transient_event("delivery_failed", "Bà Lan nhà bên nói đi vắng", "absent")
    assert sms_text(dossier, absent, False) == (
        f"Hồ sơ {CODE}: Phát không thành công (Không có người nhận tại địa chỉ). {action}"
    )
    assert sms_text(dossier, absent, True) == (
        f"Ho so {CODE}: Phat khong thanh cong (Khong co nguoi nhan tai dia chi). "
        "Vui long lien he buu cuc de hen phat lai."
    )
    refused = transient_event("delivery_failed", None, "refused")
    assert f"(Người nhận từ chối nhận). {action}" in sms_text(dossier, refused, False)
    # `other` has no words of its own: its note is the reason.
    other = transient_event("delivery_failed", "Cổng khu tập thể khóa", "other")
    assert sms_text(dossier, other, False) == (
        f"Hồ sơ {CODE}: Phát không thành công (Lý do khác: Cổng khu tập thể khóa). {action}"
    )
    assert "(Ly do khac: Cong khu tap the khoa)." in sms_text(dossier, other, True)
    for event in (absent, refused, other):
        for unaccented in (False, True):
            size = sms_size(sms_text(dossier, event, unaccented))
            assert size.segments == (1 if unaccented else 2)
    bodies = [
        compose(dossier, event, unaccented_sms=False, base_url="https://t.example.vn")[1].body
        for event in (absent, other)
    ]
    assert "Lý do: Không có người nhận tại địa chỉ." in bodies[0]
    assert "Bà Lan" not in bodies[0]
    assert "Lý do khác: Cổng khu tập thể khóa." in bodies[1]


def test_notes_are_cleaned_for_sms():
    decomposed = "Kho\u0302ng co\u0301 ngu\u031bo\u031b\u0300i nha\u0323\u0302n"
    dossier = transient_dossier()
    event = transient_event("delivery_failed", f"  {decomposed}\n\x07 “đi vắng” 📦 ")
    assert sms_text(dossier, event, False).startswith(
        f"Hồ sơ {CODE}: Phát không thành công (Không có người nhận “đi vắng”)."
    )
    assert sms_text(dossier, event, True).startswith(
        f'Ho so {CODE}: Phat khong thanh cong (Khong co nguoi nhan "di vang").'
    )


# Queueing ----------------------------------------------------------------------------------


def notices() -> list[Notification]:
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def deliveries_enqueued() -> int:
    return db.session.scalar(
        select(db.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.task == "notifications.deliver")
    )


def post_event(client, staff, code: str, status: str, **fields) -> dict:
    response = client.post(
        f"/api/v1/dossiers/{code}/events", json={"status": status, **fields}, headers=staff.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_creating_a_dossier_queues_the_received_messages_and_one_delivery(
    app, create_dossier, today
):
    appointment = today + timedelta(days=14)
    created = create_dossier(
        applicant={"name": "Nguyễn Văn An", "phone": PHONE, "email": "an@example.vn"},
        appointment_date=appointment.isoformat(),
    )
    code = created["code"]
    rows = notices()
    assert [(n.channel, n.recipient, n.kind, n.state, n.attempts) for n in rows] == [
        ("sms", PHONE, "received", "queued", 0),
        ("email", "an@example.vn", "received", "queued", 0),
    ]
    first_event = db.session.scalar(
        select(StatusEvent).where(StatusEvent.dossier_id == rows[0].dossier_id)
    )
    assert {n.event_id for n in rows} == {first_event.id}
    assert rows[0].body == (
        f"Hồ sơ {code}: Bưu điện đã tiếp nhận. Hẹn trả kết quả ngày "
        f"{appointment:%d/%m/%Y}. Giữ biên nhận để tra cứu."
    )
    assert rows[1].subject == f"Hồ sơ {code}: Bưu điện đã tiếp nhận"
    for row in rows:
        assert created["lookup_secret"] not in row.body
        assert "Nguyễn Văn An" not in row.body
    assert deliveries_enqueued() == 1

    create_dossier(applicant={"name": "Trần Thị Bình", "phone": "0987654321"})
    assert [n.channel for n in notices()] == ["sms", "email", "sms"]
    assert deliveries_enqueued() == 2


def test_only_the_changes_a_citizen_cares_about_are_announced(app, client, clerk, create_dossier):
    code = create_dossier()["code"]
    steps = [
        ("forwarded", {}, 0),
        ("processing", {}, 0),
        ("supplement_required", {"note": "Thiếu bản sao CCCD"}, 1),
        ("processing", {}, 0),
        ("result_ready", {}, 1),
        ("result_collected", {}, 0),
        ("out_for_delivery", {}, 1),
        ("delivery_failed", {"failure_reason": "absent", "note": "Không có người nhận"}, 1),
        ("out_for_delivery", {}, 1),
        ("delivered", {"receiver": {"name": "Trần Thị Bình", "relation": "family"}}, 1),
    ]
    for status, fields, expected in steps:
        before, enqueued = len(notices()), deliveries_enqueued()
        post_event(client, clerk, code, status, **fields)
        assert (len(notices()) - before, deliveries_enqueued() - enqueued) == (
            expected,
            expected,
        ), status
    rows = notices()
    assert [n.kind for n in rows] == [
        "received",
        "supplement_required",
        "result_ready",
        "out_for_delivery",
        "delivery_failed",
        "out_for_delivery",
        "delivered",
    ]
    assert "(Thiếu bản sao CCCD)" in rows[1].body
    # The coded reason in words, not the courier's note.
    assert "(Không có người nhận tại địa chỉ)" in rows[4].body
    assert {n.channel for n in rows} == {"sms"}
    assert len({n.event_id for n in rows}) == len(rows)


def test_late_duplicate_and_stale_events_are_not_announced(app, client, clerk, create_dossier):
    now = utcnow()

    def ago(**delta) -> str:
        return (now - timedelta(**delta)).isoformat()

    # Logged three days late: the "received" message would be news to nobody.
    code = create_dossier(received_at=ago(hours=72))["code"]
    post_event(client, clerk, code, "forwarded", occurred_at=ago(hours=70))
    post_event(client, clerk, code, "processing", occurred_at=ago(hours=69))
    post_event(client, clerk, code, "supplement_required", occurred_at=ago(hours=60), note="x")
    post_event(client, clerk, code, "processing", occurred_at=ago(hours=2))
    assert notices() == []
    post_event(client, clerk, code, "result_ready", occurred_at=ago(hours=1))
    # Late: happened before the current status was reached; kept, not applied, not announced.
    late = post_event(client, clerk, code, "supplement_required", occurred_at=ago(minutes=90))
    assert late["applied"] is False
    post_event(client, clerk, code, "result_collected", occurred_at=ago(minutes=30))
    first = post_event(client, clerk, code, "out_for_delivery", source_event_id="EDG-1")
    again = post_event(client, clerk, code, "out_for_delivery", source_event_id="EDG-1")
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert [n.kind for n in notices()] == ["result_ready", "out_for_delivery"]


def test_one_delivery_task_per_transaction_however_many_notices(app, client, clerk, create_dossier):
    codes = [create_dossier()["code"] for _ in range(3)]
    for code in codes:
        for status in ("forwarded", "processing"):
            post_event(client, clerk, code, status)
    assert deliveries_enqueued() == 3
    dossiers = [get_dossier(code, clerk.user, for_update=True) for code in codes]
    batch = EventBatch()
    for dossier in dossiers:
        record_event(dossier, "result_ready", source="agency", batch=batch)
    batch.finish()
    db.session.commit()
    assert deliveries_enqueued() == 4
    assert len([n for n in notices() if n.kind == "result_ready"]) == 3

    # Notices in a savepoint rolled back and in two kept: still one delivery task.
    first, second = (get_dossier(code, clerk.user, for_update=True) for code in codes[:2])
    savepoint = db.session.begin_nested()
    record_event(first, "result_collected", source="counter")
    record_event(first, "out_for_delivery", source="counter")
    savepoint.rollback()
    with db.session.begin_nested():
        record_event(second, "result_collected", source="counter")
        record_event(second, "out_for_delivery", source="counter")
    with db.session.begin_nested():
        record_event(
            second, "delivery_failed", source="counter", failure_reason="absent", note="Vắng nhà"
        )
    db.session.commit()
    assert deliveries_enqueued() == 5
    assert [n.kind for n in notices()][-2:] == ["out_for_delivery", "delivery_failed"]

    # Rolled back: neither the notice nor the delivery task stays, nor does the flag.
    third = get_dossier(codes[2], clerk.user, for_update=True)
    record_event(third, "result_collected", source="counter")
    record_event(third, "out_for_delivery", source="counter")
    db.session.rollback()
    outbox.enqueue("outbox.relay")
    db.session.commit()
    assert deliveries_enqueued() == 5
    assert [n.kind for n in notices()].count("out_for_delivery") == 1


# Delivery (in this process) -----------------------------------------------------------------


def test_deliver_sends_each_message_once_and_records_it(app, create_dossier, tmp_path, monkeypatch):
    from workers.notifications import deliver

    deliver = deliver.run  # the task's body, in this app context
    log_path = tmp_path / "messages.log"
    monkeypatch.setitem(app.config, "NOTIFICATION_LOG", str(log_path))
    create_dossier(applicant={"name": "An", "phone": PHONE, "email": "an.nguyen@example.vn"})
    db.session.commit()
    assert deliver() == 2
    assert deliver() == 0
    db.session.expire_all()
    rows = notices()
    assert [(n.state, n.attempts, n.gateway_reference) for n in rows] == [
        ("sent", 1, f"log-{rows[0].id}"),
        ("sent", 1, f"log-{rows[1].id}"),
    ]
    assert all(n.sent_at is not None and n.last_error is None for n in rows)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(line["id"], line["channel"], line["recipient"]) for line in lines] == [
        (rows[0].id, "sms", "091*****78"),
        (rows[1].id, "email", "a********@example.vn"),
    ]
    assert [line["body"] for line in lines] == [n.body for n in rows]
    assert (lines[0]["encoding"], lines[0]["segments"]) == ("ucs2", 2)


def test_failures_back_off_growing_then_end_failed(app, create_dossier, monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFICATION_MAX_ATTEMPTS", 4)
    monkeypatch.setitem(app.config, "NOTIFICATION_RETRY_BASE_SECONDS", 60)
    create_dossier()
    db.session.commit()
    (notice,) = notices()
    gateway = AlwaysFailing(app.config)
    moment = utcnow() + timedelta(seconds=1)
    delays = []
    for attempt in range(1, 5):
        claimed = operations.claim_due(10, now=moment)
        assert [(m.id, m.attempt) for m in claimed] == [(notice.id, attempt)]
        assert operations.record_outcomes(operations.send_all(gateway, claimed), now=moment) == 0
        db.session.commit()
        db.session.refresh(notice)
        assert notice.last_error == f"GatewayError: gateway unreachable (message {notice.id})"
        if attempt == 4:
            break
        assert notice.state == "queued"
        delay = (notice.next_attempt_at - moment).total_seconds()
        ceiling = 60 * 2 ** (attempt - 1)
        assert ceiling / 2 <= delay <= ceiling
        delays.append(delay)
        # Not offered again before it is due.
        assert operations.claim_due(10, now=notice.next_attempt_at - timedelta(seconds=1)) == []
        moment = notice.next_attempt_at
    assert delays == sorted(delays) and len(set(delays)) == 3
    assert (notice.state, notice.attempts, notice.sent_at) == ("failed", 4, None)
    assert operations.claim_due(10, now=moment + timedelta(days=1)) == []


def test_a_refused_message_fails_at_once(app, create_dossier):
    create_dossier()
    db.session.commit()
    claimed = operations.claim_due(10)
    operations.record_outcomes(operations.send_all(Refusing(app.config), claimed))
    db.session.commit()
    (notice,) = notices()
    assert (notice.state, notice.attempts) == ("failed", 1)
    assert notice.last_error == f"PermanentGatewayError: invalid recipient {PHONE}"


def test_a_claimed_message_waits_for_its_claim_to_run_out(app, create_dossier, tmp_path):
    create_dossier()
    db.session.commit()
    (claimed,) = operations.claim_due(10)
    db.session.commit()
    assert operations.claim_due(10) == []
    # The run that claimed it died: once the claim runs out it is offered again, attempt counted.
    later = utcnow() + timedelta(seconds=operations.CLAIM_SECONDS + 1)
    (again,) = operations.claim_due(10, now=later)
    assert (again.id, again.attempt) == (claimed.id, 2)
    gateway = RecordingGateway({"NOTIFICATION_LOG": str(tmp_path / "log")})
    assert operations.record_outcomes(operations.send_all(gateway, [again])) == 1
    # The first run's late answer changes nothing.
    assert operations.record_outcomes(operations.send_all(AlwaysFailing({}), [claimed])) == 0
    db.session.commit()
    (notice,) = notices()
    assert (notice.state, notice.attempts, notice.last_error) == ("sent", 2, None)


@pytest.mark.postgres_only  # SKIP LOCKED is PostgreSQL's; SQLite runs one writer at a time
def test_concurrent_runs_skip_each_others_rows(app, create_dossier, database_url):
    for _ in range(2):
        create_dossier()
    db.session.commit()
    engine = create_engine(database_url)
    try:
        with Session(engine) as other:
            # Another run holds a row lock on the oldest due message and has not committed yet.
            other.execute(
                text("SELECT id FROM notifications ORDER BY id LIMIT 1 FOR UPDATE")
            ).scalar_one()
            started = time.monotonic()
            claimed = operations.claim_due(10)
            assert time.monotonic() - started < 2
            assert [m.id for m in claimed] == [notices()[1].id]
            db.session.commit()
            other.rollback()
    finally:
        engine.dispose()


# Staff view ---------------------------------------------------------------------------------


def test_staff_see_a_dossiers_messages_unmasked_and_the_view_is_audited(
    app, client, clerk, make_staff, create_dossier, catalogue
):
    code = create_dossier(applicant={"name": "An", "phone": PHONE, "email": "an@example.vn"})[
        "code"
    ]
    response = client.get(f"/api/v1/dossiers/{code}/notifications", headers=clerk.headers)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    sms, email = response.get_json()
    assert (sms["channel"], sms["recipient"], sms["state"], sms["attempts"]) == (
        "sms",
        PHONE,
        "queued",
        0,
    )
    assert sms["kind"]["code"] == "received"
    assert sms["kind"]["label_vi"] == "Bưu điện đã tiếp nhận"
    assert sms["next_attempt_at"] is not None and sms["sent_at"] is None
    assert (email["recipient"], email["subject"]) == (
        "an@example.vn",
        f"Hồ sơ {code}: Bưu điện đã tiếp nhận",
    )
    audit = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "dossier.view_notifications")
    ).all()
    assert [(a.actor_id, a.entity_key) for a in audit] == [(clerk.user.id, code)]

    other_clerk = make_staff("clerk", office=catalogue.other_office)
    path = f"/api/v1/dossiers/{code}/notifications"
    assert client.get(path, headers=other_clerk.headers).status_code == 404
    assert client.get(path).status_code == 401
    assert client.get(path, headers=make_staff("manager").headers).status_code == 200


# A real worker -------------------------------------------------------------------------------


def wait_for(condition, timeout: float = 30.0, *, worker, every: float = 0.2):
    return worker.wait_for(condition, timeout, every=every, before_each=fresh_session)


def test_a_worker_delivers_what_requests_queued_once(
    app, client, clerk, create_dossier, start_worker, worker_env
):
    worker = start_worker()
    created = create_dossier(applicant={"name": "An", "phone": PHONE, "email": "an@example.vn"})
    post_event(client, clerk, created["code"], "forwarded")  # nothing to say
    rows = wait_for(
        lambda: (r := notices()) and all(n.state == "sent" for n in r) and r, worker=worker
    )
    assert [(n.channel, n.attempts) for n in rows] == [("sms", 1), ("email", 1)]
    log_path = Path(worker_env["NOTIFICATION_LOG"])
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(line["id"], line["recipient"], line["reference"]) for line in lines] == [
        (rows[0].id, "091*****78", rows[0].gateway_reference),
        (rows[1].id, "a*@example.vn", rows[1].gateway_reference),
    ]
    # Delivery asked twice more: nothing is sent again.
    db.session.commit()  # the reads above end before the writes below (SQLite)
    extra = [outbox.enqueue("notifications.deliver").id for _ in range(2)]
    db.session.commit()
    wait_for(lambda: all(db.session.get(OutboxMessage, i).done_at for i in extra), worker=worker)
    assert len(log_path.read_text().splitlines()) == 2


def test_a_failing_gateway_never_reaches_requests_and_messages_end_failed(
    app, client, clerk, create_dossier, start_worker, worker_env, monkeypatch
):
    # Requests only queue: a gateway that cannot even be built changes nothing for them.
    monkeypatch.setitem(app.config, "NOTIFICATION_GATEWAY", "tests.gateways:Exploding")
    worker = start_worker(
        NOTIFICATION_GATEWAY="tests.gateways:AlwaysFailing",
        NOTIFICATION_MAX_ATTEMPTS="3",
        NOTIFICATION_RETRY_BASE_SECONDS="1",
    )
    code = create_dossier()["code"]
    post_event(client, clerk, code, "forwarded")

    def finished():
        (notice,) = notices()
        if notice.state == "failed":
            return notice
        # Beat would ask every 30 s; ask more often for the test. A transaction of its own:
        # SQLite refuses to turn this read into a write while the worker writes.
        db.session.commit()
        outbox.enqueue("notifications.deliver")
        return None

    notice = wait_for(finished, timeout=60, worker=worker, every=0.5)
    assert (notice.attempts, notice.sent_at) == (3, None)
    assert notice.last_error == f"GatewayError: gateway unreachable (message {notice.id})"
    assert not Path(worker_env["NOTIFICATION_LOG"]).exists()
    post_event(client, clerk, code, "processing")


def test_a_slow_gateway_never_holds_up_a_request(
    app, client, clerk, create_dossier, start_worker, worker_env
):
    worker = start_worker(NOTIFICATION_GATEWAY="tests.gateways:Slow")
    code = create_dossier()["code"]
    marker = Path(worker_env["NOTIFICATION_LOG"] + ".sending")
    wait_for(marker.exists, worker=worker)
    started = time.monotonic()
    post_event(client, clerk, code, "forwarded")
    assert time.monotonic() - started < SLOW_SECONDS / 2
    (notice,) = wait_for(
        lambda: (r := notices()) and r[0].state == "sent" and r,
        timeout=SLOW_SECONDS + 20,
        worker=worker,
    )
    assert notice.attempts == 1
