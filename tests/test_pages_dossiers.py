"""The clerk's and agency officer's pages: work queue, dossier page with its event form, batch
scan. Dossiers are made and moved through the API (the same operations the pages call)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.pages import csrf_of, post_form, sign_in, text_of
from tracker.audit.models import AuditEntry
from tracker.calendar import VN_TZ, utcnow
from tracker.dossiers import s10
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.sweeps.operations import mark_overdue_and_stuck


def item_number(serial: int) -> str:
    digits = f"{serial:08d}"
    return f"EE{digits}{s10.check_digit(digits)}VN"


@pytest.fixture
def move(client, clerk):
    """Record statuses one after the other through the API, as the clerk (or `staff`)."""

    def record(code: str, *statuses: str, staff=None) -> None:
        for status in statuses:
            body = {"status": status}
            if status == "delivery_failed":
                body.update(failure_reason="absent", note="Không có người nhận")
            if status == "delivered":
                body["receiver"] = {"name": "Trần Thị Bình", "relation": "family"}
            answer = client.post(
                f"/api/v1/dossiers/{code}/events", json=body, headers=(staff or clerk).headers
            )
            assert answer.status_code == 201, answer.get_json()

    return record


def section(response, name: str) -> str:
    """The text of one section of the work queue."""
    html = response.get_data(as_text=True)
    match = re.search(rf'<section class="panel" id="{name}".*?</section>', html, re.S)
    assert match, f"no section {name}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(0)).split())


def status_of(code: str) -> str:
    db.session.expire_all()
    return db.session.scalar(select(Dossier.status).where(Dossier.code == code))


def events_of(code: str) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(StatusEvent.to_status)
            .join(Dossier, StatusEvent.dossier_id == Dossier.id)
            .where(Dossier.code == code)
            .order_by(StatusEvent.id)
        )
    )


def choices_on(response) -> list[str]:
    return re.findall(
        r'type="radio" id="status-[a-z_]+" name="status" value="([a-z_]+)"',
        response.get_data(as_text=True),
    )


# Access ---------------------------------------------------------------------------------------


def test_pages_need_a_signed_in_role_that_works_dossiers(app, client, make_staff, create_dossier):
    code = create_dossier()["code"]
    for url in ("/dossiers", "/dossiers/scan", f"/dossiers/{code}"):
        answer = client.get(url)
        assert answer.status_code == 302 and "/login" in answer.headers["Location"], url
    manager = make_staff("manager")
    sign_in(client, manager.user.username)
    assert client.get("/dossiers").status_code == 403
    assert client.get("/dossiers/scan").status_code == 403
    page = client.get(f"/dossiers/{code}")  # managers read every dossier, change none
    assert page.status_code == 200 and choices_on(page) == []
    assert "Ghi nhận thay đổi trạng thái" not in text_of(page)
    refused = post_form(
        client, f"/dossiers/{code}/events", {"status": "forwarded"}, page=f"/dossiers/{code}"
    )
    assert refused.status_code == 403
    for role in ("clerk", "agency", "admin"):
        client.post("/logout", data={"csrf_token": csrf_of(client.get(f"/dossiers/{code}"))})
        sign_in(client, make_staff(role).user.username)
        assert client.get("/dossiers").status_code == 200, role
        assert client.get("/dossiers/scan").status_code == 200, role
        assert client.get(f"/dossiers/{code}").status_code == 200, role


def test_a_dossier_outside_the_scope_is_not_found(
    app, client, make_staff, catalogue, create_dossier
):
    code = create_dossier()["code"]
    sign_in(client, make_staff("clerk", office=catalogue.other_office).user.username)
    answer = client.get(f"/dossiers/{code}")
    assert answer.status_code == 404
    assert "Không tìm thấy" in text_of(answer)
    assert (
        post_form(
            client, f"/dossiers/{code}/events", {"status": "forwarded"}, page="/dossiers"
        ).status_code
        == 404
    )
    other_agency = make_staff("agency", agency=catalogue.other_agency)
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/dossiers"))})
    sign_in(client, other_agency.user.username)
    assert client.get(f"/dossiers/{code}").status_code == 404


def test_forms_without_a_csrf_token_are_refused(app, client, clerk, create_dossier):
    code = create_dossier()["code"]
    sign_in(client, clerk.user.username)
    answer = client.post(f"/dossiers/{code}/events", data={"status": "forwarded"})
    assert answer.status_code == 400
    scan = client.post("/dossiers/scan", data={"status": "forwarded", "codes": code})
    assert scan.status_code == 400
    assert status_of(code) == "received"


# Work queue -----------------------------------------------------------------------------------


def test_the_queue_sorts_dossiers_into_sections(
    app, client, clerk, make_staff, catalogue, create_dossier, move
):
    waiting = create_dossier()["code"]
    send_only = create_dossier(service_form="send_only", delivery_address=None)["code"]
    handed = create_dossier()["code"]
    move(handed, "forwarded")
    result = create_dossier()["code"]
    move(result, "forwarded", "processing", "result_ready")
    one_way = create_dossier(service_form="return_only", procedure_code="1.004567")["code"]
    failed = create_dossier()["code"]
    move(failed, "forwarded", "processing", "result_ready", "result_collected")
    move(failed, "out_for_delivery", "delivery_failed")
    old = utcnow() - timedelta(days=40)
    late = create_dossier(
        received_at=old.isoformat(), appointment_date=(old + timedelta(days=5)).date().isoformat()
    )["code"]
    elsewhere = create_dossier(staff=make_staff("clerk", office=catalogue.other_office))["code"]
    mark_overdue_and_stuck()
    db.session.commit()

    sign_in(client, clerk.user.username)
    page = client.get("/dossiers")
    assert page.status_code == 200
    today = section(page, "received_today")
    assert all(code in today for code in (waiting, send_only, handed, one_way, failed))
    assert late not in today and elsewhere not in today
    assert "Nguyễn Văn An" in today  # staff see full names
    to_forward = section(page, "to_forward")
    assert waiting in to_forward and send_only in to_forward and late in to_forward
    assert handed not in to_forward and elsewhere not in to_forward
    results = section(page, "results_to_deliver")
    assert result in results and one_way in results
    assert failed not in results and waiting not in results
    assert section(page, "overdue").split()[:3] == ["Quá", "hạn", "1"]
    assert late in section(page, "overdue")
    failures = section(page, "delivery_failed")
    assert failed in failures and result not in failures
    assert "to_accept" not in page.get_data(as_text=True)  # the agency's section
    html = page.get_data(as_text=True)
    assert f'href="/dossiers/{waiting}"' in html
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "dossier.list").order_by(AuditEntry.id.desc())
    ).first()
    assert entry.actor_id == clerk.user.id
    assert waiting in entry.after["codes"] and elsewhere not in entry.after["codes"]


def test_failed_deliveries_say_their_latest_coded_reason_in_words(
    app, client, clerk, create_dossier, move
):
    def fail(code: str, reason: str, note: str | None = None) -> None:
        body = {"status": "delivery_failed", "failure_reason": reason, "note": note}
        answer = client.post(f"/api/v1/dossiers/{code}/events", json=body, headers=clerk.headers)
        assert answer.status_code == 201, answer.get_json()

    twice, other = create_dossier()["code"], create_dossier()["code"]
    for code in (twice, other):
        move(code, "forwarded", "processing", "result_ready", "result_collected")
        move(code, "out_for_delivery")
    fail(twice, "wrong_address")
    move(twice, "out_for_delivery")
    fail(twice, "refused")
    fail(other, "other", "Cổng khu tập thể khóa")
    waiting = create_dossier()["code"]

    sign_in(client, clerk.user.username)
    failures = section(client.get("/dossiers"), "delivery_failed")
    assert "Lý do" in failures
    assert re.search(rf"{re.escape(twice)} .*? Người nhận từ chối nhận", failures)
    assert "Sai hoặc thiếu địa chỉ" not in failures  # the earlier attempt's
    assert re.search(rf"{re.escape(other)} .*? Lý do khác", failures)
    client.set_cookie("lang", "en")
    failures = section(client.get("/dossiers"), "delivery_failed")
    assert "Reason" in failures and "Refused by the receiver" in failures
    assert "Another reason" in failures
    # Only this section has the column.
    to_forward = section(client.get("/dossiers"), "to_forward")
    assert waiting in to_forward and "Reason" not in to_forward


def test_the_agency_queue_shows_what_waits_for_the_agency(
    app, client, make_staff, catalogue, create_dossier, move
):
    handed = create_dossier()["code"]
    move(handed, "forwarded")
    other = create_dossier(procedure_code="1.009876")["code"]
    move(other, "forwarded")
    sign_in(client, make_staff("agency").user.username)
    page = client.get("/dossiers")
    accept = section(page, "to_accept")
    assert handed in accept and other not in accept
    assert "results_to_deliver" not in page.get_data(as_text=True)


def test_a_section_shows_its_first_rows_and_the_total(
    app, client, clerk, create_dossier, monkeypatch
):
    from tracker.dossiers import views

    monkeypatch.setattr(views, "QUEUE_LIMIT", 2)
    codes = [create_dossier()["code"] for _ in range(3)]
    sign_in(client, clerk.user.username)
    waiting = section(client.get("/dossiers"), "to_forward")
    assert "2 trên tổng số 3" in waiting
    # Oldest first: the one waiting longest for the hand-over.
    assert codes[0] in waiting and codes[1] in waiting and codes[2] not in waiting


def test_the_search_box_opens_a_dossier_by_code_or_item_number(
    app, client, clerk, make_staff, catalogue, create_dossier
):
    item = item_number(12345)
    code = create_dossier(postal_item_number=item)["code"]
    elsewhere = create_dossier(staff=make_staff("clerk", office=catalogue.other_office))["code"]
    sign_in(client, clerk.user.username)
    assert client.get(f"/dossiers?q={code}").headers["Location"] == f"/dossiers/{code}"
    spaced = f"{item[:2]} {item[2:6]} {item[6:].lower()}"
    assert client.get("/dossiers", query_string={"q": spaced}).headers["Location"] == (
        f"/dossiers/{code}"
    )
    for unknown in (elsewhere, "000.00.01.H19-000101-9999"):
        answer = client.get("/dossiers", query_string={"q": unknown})
        assert answer.status_code == 200
        assert "Không có hồ sơ nào với mã" in text_of(answer)
        assert 'aria-invalid="true"' in answer.get_data(as_text=True)


# Dossier page ---------------------------------------------------------------------------------


def test_the_dossier_page_shows_details_timeline_and_allowed_transitions(
    app, client, clerk, make_staff, create_dossier, move
):
    code = create_dossier(postal_item_number=item_number(777))["code"]
    sign_in(client, clerk.user.username)
    page = client.get(f"/dossiers/{code}")
    text = text_of(page)
    for shown in (
        code,
        "Nguyễn Văn An",
        "0912345678",
        "1.001234",
        "Bưu cục Biên Hòa",
        "Sở Tư pháp tỉnh Đồng Nai",
        item_number(777),
        "200.000",
        "Tờ khai",
        "Bản sao có chứng thực",
        "Bưu điện đã tiếp nhận",
        "Quầy bưu điện",
    ):
        assert shown in text, shown
    assert choices_on(page) == ["forwarded", "withdrawn"]
    assert 'action="/dossiers/' + code + '/receipt"' in page.get_data(as_text=True)
    assert (
        db.session.scalar(
            select(func.count()).where(
                AuditEntry.action == "dossier.view", AuditEntry.entity_key == code
            )
        )
        == 1
    )
    move(code, "forwarded")
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    sign_in(client, make_staff("agency").user.username)
    agency_page = client.get(f"/dossiers/{code}")
    assert choices_on(agency_page) == ["processing", "supplement_required", "rejected", "withdrawn"]
    assert 'name="appointment_date"' in agency_page.get_data(as_text=True)
    assert "/receipt" not in agency_page.get_data(as_text=True)  # receipts are the post's


def test_an_agency_officer_sees_no_post_transition(app, client, make_staff, create_dossier, move):
    code = create_dossier()["code"]
    move(code, "forwarded", "processing", "result_ready", "result_collected")
    sign_in(client, make_staff("agency").user.username)
    page = client.get(f"/dossiers/{code}")
    assert choices_on(page) == []
    assert "Bạn không thể ghi nhận trạng thái nào ở bước này." in text_of(page)
    refused = post_form(
        client, f"/dossiers/{code}/events", {"status": "out_for_delivery"}, page=f"/dossiers/{code}"
    )
    assert refused.status_code == 403
    assert "Cán bộ cơ quan giải quyết không được ghi nhận trạng thái này." in text_of(refused)
    assert status_of(code) == "result_collected"


def test_a_transition_recorded_with_the_form_joins_the_timeline(app, client, clerk, create_dossier):
    created = create_dossier()
    code = created["code"]
    sign_in(client, clerk.user.username)
    data = {
        "status": "forwarded",
        "note": "Biên bản bàn giao số 12",
        "expected_version": created["version"],
    }
    answer = post_form(client, f"/dossiers/{code}/events", data, page=f"/dossiers/{code}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/dossiers/{code}#timeline"
    page = client.get(answer.headers["Location"])
    text = text_of(page)
    assert "Đã ghi nhận: Đã chuyển cơ quan giải quyết." in text
    timeline = text[text.index("Diễn biến") :]
    assert "Đã chuyển cơ quan giải quyết" in timeline and "Biên bản bàn giao số 12" in timeline
    assert clerk.user.username in timeline
    assert status_of(code) == "forwarded"
    assert choices_on(page) == ["processing", "supplement_required", "rejected", "withdrawn"]


def test_a_processing_event_takes_the_agency_date_and_a_time_in_vietnam(
    app, client, clerk, make_staff, create_dossier, today
):
    now = utcnow()
    code = create_dossier(received_at=(now - timedelta(hours=3)).isoformat())["code"]
    forwarded = {"status": "forwarded", "occurred_at": (now - timedelta(hours=2)).isoformat()}
    client.post(f"/api/v1/dossiers/{code}/events", json=forwarded, headers=clerk.headers)
    sign_in(client, make_staff("agency").user.username)
    day = (today + timedelta(days=20)).isoformat()
    # What a datetime-local control sends: no offset, the clerk's wall clock in Vietnam.
    moment = (now - timedelta(hours=1)).astimezone(VN_TZ).strftime("%Y-%m-%dT%H:%M")
    data = {"status": "processing", "appointment_date": day, "occurred_at": moment}
    answer = post_form(client, f"/dossiers/{code}/events", data, page=f"/dossiers/{code}")
    assert answer.status_code == 302
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    db.session.refresh(dossier)
    assert dossier.status == "processing"
    assert dossier.appointment_date.isoformat() == day
    assert dossier.status_changed_at == datetime.strptime(moment, "%Y-%m-%dT%H:%M").replace(
        tzinfo=VN_TZ
    )


def test_a_refused_transition_is_explained_and_keeps_the_note(app, client, clerk, create_dossier):
    code = create_dossier()["code"]
    sign_in(client, clerk.user.username)
    data = {"status": "delivered", "note": "ghi chú của tôi"}
    answer = post_form(client, f"/dossiers/{code}/events", data, page=f"/dossiers/{code}")
    assert answer.status_code == 409
    text = text_of(answer)
    assert "Chưa được phép thay đổi này: hồ sơ đang ở trạng thái “Bưu điện đã tiếp nhận”" in text
    assert "Đã chuyển cơ quan giải quyết, Công dân rút hồ sơ" in text
    assert "ghi chú của tôi</textarea>" in answer.get_data(as_text=True)
    assert events_of(code) == ["received"]


def test_a_stale_version_is_refused_and_the_page_shows_the_new_state(
    app, client, clerk, create_dossier, move
):
    created = create_dossier()
    code = created["code"]
    sign_in(client, clerk.user.username)
    page = client.get(f"/dossiers/{code}")
    move(code, "forwarded")  # someone else, meanwhile
    data = {
        "status": "withdrawn",
        "note": "khách rút",
        "expected_version": created["version"],
        "csrf_token": csrf_of(page),
    }
    answer = client.post(f"/dossiers/{code}/events", data=data)
    assert answer.status_code == 409
    assert "Người khác đã thay đổi hồ sơ này" in text_of(answer)
    assert "khách rút</textarea>" in answer.get_data(as_text=True)
    assert choices_on(answer) == ["processing", "supplement_required", "rejected", "withdrawn"]
    assert status_of(code) == "forwarded"


def test_form_errors_sit_beside_their_fields(app, client, clerk, create_dossier, move):
    code = create_dossier()["code"]
    move(code, "forwarded", "processing", "result_ready", "result_collected", "out_for_delivery")
    sign_in(client, clerk.user.username)
    url = f"/dossiers/{code}/events"
    answer = post_form(client, url, {"status": "delivery_failed"}, page=f"/dossiers/{code}")
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert re.search(r'<select id="failure_reason" name="failure_reason"[^>]*aria-invalid', html)
    assert "Cần ghi lý do phát không thành công" in text_of(answer)
    for data, field in (
        ({}, "status"),
        ({"status": "delivered", "occurred_at": "hôm qua"}, "occurred_at"),
        ({"status": "delivered", "expected_version": "x"}, "expected_version"),
    ):
        answer = post_form(client, url, data, page=f"/dossiers/{code}")
        assert answer.status_code == 422, data
        assert f'id="{field}-error"' in answer.get_data(as_text=True), data
    assert status_of(code) == "out_for_delivery"


def test_a_version_that_is_no_number_is_a_form_error_not_a_crash(
    app, client, clerk, create_dossier
):
    code = create_dossier()["code"]
    sign_in(client, clerk.user.username)
    # "²" is a digit to str.isdigit() but not to int(); 5,000 digits pass Python's int limit.
    for version in ("²", "9" * 5000):
        answer = post_form(
            client,
            f"/dossiers/{code}/events",
            {"status": "forwarded", "expected_version": version},
            page=f"/dossiers/{code}",
        )
        assert answer.status_code == 422, version[:5]
        assert 'id="expected_version-error"' in answer.get_data(as_text=True)
    assert events_of(code) == ["received"]


def test_the_dossier_page_speaks_english(app, client, clerk, create_dossier):
    code = create_dossier()["code"]
    sign_in(client, clerk.user.username)
    client.set_cookie("lang", "en")
    text = text_of(client.get(f"/dossiers/{code}"))
    assert "Record a status change" in text and "Handed to the agency" in text
    assert "Received by the post" in text and "Timeline" in text
    queue = text_of(client.get("/dossiers"))
    assert "Received today" in queue and "Waiting for hand-over to the agency" in queue
    scan = text_of(client.get("/dossiers/scan"))
    assert "Dossier codes or postal item numbers" in scan


# Batch scan -----------------------------------------------------------------------------------


def scan(
    client, status: str, lines: list[str], note: str = "", batch: str | None = None, **proof: str
):
    """The batch scan's form sent; `proof`: its proof of delivery fields (`failure_reason`,
    `receiver.name` and `receiver.relation` given as `receiver_name`, `receiver_relation`)."""
    page = client.get("/dossiers/scan")
    data = {"status": status, "codes": "\n".join(lines), "note": note, "csrf_token": csrf_of(page)}
    data.update({key.replace("receiver_", "receiver."): value for key, value in proof.items()})
    data["batch"] = batch or re.search(
        r'name="batch" value="([0-9a-f]+)"', page.get_data(as_text=True)
    ).group(1)
    return client.post("/dossiers/scan", data=data)


def outcomes(response) -> list[tuple[str, str]]:
    """(scanned value, outcome) per row of the result table."""
    html = response.get_data(as_text=True)
    body = html[html.index('class="scan-results"') :]
    rows = re.findall(
        r'<tr class="outcome-([a-z_]+)">\s*<td class="num">\d+</td>\s*<td>([^<]*)</td>', body
    )
    return [(value, outcome) for outcome, value in rows]


def test_a_batch_scan_records_the_good_lines_and_says_why_not_the_others(
    app, client, clerk, make_staff, catalogue, create_dossier, move
):
    first = create_dossier()["code"]
    item = item_number(4242)
    second = create_dossier(postal_item_number=item)["code"]
    moved = create_dossier()["code"]
    move(moved, "forwarded")
    elsewhere = create_dossier(staff=make_staff("clerk", office=catalogue.other_office))["code"]
    sign_in(client, clerk.user.username)
    lines = [first, f" {item.lower()} ", "", moved, "KHONG-CO-MA", elsewhere, first]
    answer = scan(client, "forwarded", lines, note="Bàn giao sáng")
    assert answer.status_code == 200
    assert outcomes(answer) == [
        (first, "recorded"),
        (item.lower(), "recorded"),
        (moved, "not_allowed"),
        ("KHONG-CO-MA", "not_found"),
        (elsewhere, "not_found"),
        (first, "duplicate"),
    ]
    text = text_of(answer)
    assert "Hiện tại: Đã chuyển cơ quan giải quyết." in text
    assert events_of(first) == ["received", "forwarded"]
    assert events_of(second) == ["received", "forwarded"]
    assert events_of(moved) == ["received", "forwarded"]
    assert events_of(elsewhere) == ["received"]
    note = db.session.scalar(
        select(StatusEvent.note)
        .join(Dossier, StatusEvent.dossier_id == Dossier.id)
        .where(Dossier.code == first, StatusEvent.to_status == "forwarded")
    )
    assert note == "Bàn giao sáng"


def test_sending_the_same_batch_again_records_nothing_twice(
    app, client, clerk, create_dossier, move
):
    code = create_dossier()["code"]
    sign_in(client, clerk.user.username)
    batch = "ab" * 16
    assert outcomes(scan(client, "forwarded", [code], batch=batch)) == [(code, "recorded")]
    assert outcomes(scan(client, "forwarded", [code], batch=batch)) == [(code, "already")]
    assert events_of(code) == ["received", "forwarded"]


def test_the_same_batch_sent_again_with_another_event_records_that_event(
    app, client, clerk, create_dossier, move
):
    # The browser's back button brings the batch's id back with the form: the clerk picks the
    # next event and sends the same codes again. That is a new event, not the old one again.
    code = create_dossier()["code"]
    move(code, "forwarded", "processing", "result_ready")
    sign_in(client, clerk.user.username)
    batch = "cd" * 16
    assert outcomes(scan(client, "result_collected", [code], batch=batch)) == [(code, "recorded")]
    assert outcomes(scan(client, "out_for_delivery", [code], batch=batch)) == [(code, "recorded")]
    assert status_of(code) == "out_for_delivery"


def test_a_bad_batch_is_refused_whole(app, client, clerk, create_dossier, move):
    code = create_dossier()["code"]
    delivering = create_dossier()["code"]
    move(
        delivering,
        "forwarded",
        "processing",
        "result_ready",
        "result_collected",
        "out_for_delivery",
    )
    sign_in(client, clerk.user.username)
    cases = [
        ("", [code], "status"),
        ("processing", [code], "status"),  # an agency event
        ("forwarded", ["", "  "], "codes"),
        ("forwarded", [code] + [f"X{n}" for n in range(500)], "codes"),
        ("delivery_failed", [delivering], "failure_reason"),
    ]
    for status, lines, field in cases:
        answer = scan(client, status, lines)
        assert answer.status_code == 422, (status, field)
        assert f'id="{field}-error"' in answer.get_data(as_text=True), (status, field)
    assert "Tối đa 500 mã" in text_of(scan(client, "forwarded", [code] * 501))
    assert events_of(code) == ["received"]
    assert events_of(delivering)[-1] == "out_for_delivery"
    failed = scan(client, "delivery_failed", [delivering], note="Vắng nhà", failure_reason="absent")
    assert outcomes(failed) == [(delivering, "recorded")]


def test_an_agency_officer_scans_agency_events_only(app, client, make_staff, create_dossier, move):
    code = create_dossier()["code"]
    move(code, "forwarded")
    sign_in(client, make_staff("agency").user.username)
    page = client.get("/dossiers/scan").get_data(as_text=True)
    options = re.findall(r'<option value="([a-z_]+)"', page)
    assert options == ["processing", "result_ready", "collected_in_person"]
    answer = scan(client, "processing", [code])
    assert outcomes(answer) == [(code, "recorded")]
    assert status_of(code) == "processing"
