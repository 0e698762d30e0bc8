"""The clerk's intake page and the printed receipt (Form 01), through the Flask test client."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import segno
from barcode import Code128
from flask import has_request_context, request
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.pages import csrf_of, post_form, sign_in, text_of
from tracker.calendar import VN_TZ, add_working_days
from tracker.dossiers.models import Dossier
from tracker.extensions import db

INTAKE = "/dossiers/new"
VALID_ITEM = "EE123456785VN"
_SECRET = re.compile(r"data-secret>([^<]+)<")
_URL = re.compile(r"data-lookup-url>([^<]+)<")
_IMG = re.compile(r'<img class="(qr|barcode)" src="([^"]+)"')


def intake_form(**overrides) -> dict[str, str]:
    """What a clerk fills in for procedure 1.001234, as the browser posts it."""
    form = {
        "procedure_code": "1.001234",
        "service_form": "two_way",
        "applicant.name": "Nguyễn Văn An",
        "applicant.phone": "0912 345 678",
        "applicant.id_number": "",
        "applicant.email": "",
        "delivery_address": "12 Đường 30/4, phường Trung Dũng, Biên Hòa",
        "documents.0.name": "Tờ khai",
        "documents.0.kind": "original",
        "documents.0.count": "1",
        "documents.1.name": "CCCD",
        "documents.1.kind": "certified_copy",
        "documents.1.count": "2",
        "documents.2.name": "",
        "documents.2.kind": "original",
        "documents.2.count": "1",
        "postal_item_number": VALID_ITEM.lower(),
        "fee_vnd": "200.000",
        "appointment_date": "",
        "note": "",
    }
    form.update(overrides)
    return form


def dossier_count() -> int:
    return db.session.scalar(select(func.count(Dossier.id)))


def receipt_parts(response) -> tuple[str, str, dict[str, str]]:
    html = response.get_data(as_text=True)
    secret = _SECRET.search(html).group(1)
    url = unescape(_URL.search(html).group(1))
    images = {kind: unescape(src) for kind, src in _IMG.findall(html)}
    return secret, url, images


@pytest.fixture
def signed_in_clerk(client, clerk):
    sign_in(client, clerk.user.username)
    return clerk


# Access --------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(app, client, catalogue):
    response = client.get(INTAKE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/dossiers/new")
    # With the (anonymous) session's CSRF token, a POST is sent to sign in too.
    reissue = post_form(client, "/dossiers/X/receipt", {}, page="/login")
    assert reissue.status_code == 302
    assert reissue.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", ["agency", "manager"])
def test_other_roles_are_refused(app, client, make_staff, role):
    staff = make_staff(role)
    sign_in(client, staff.user.username)
    assert client.get(INTAKE).status_code == 403
    response = post_form(client, "/dossiers/X/receipt", {}, page="/track")
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["clerk", "admin"])
def test_clerks_and_admins_open_the_search(app, client, make_staff, role):
    sign_in(client, make_staff(role).user.username)
    response = client.get(INTAKE)
    assert response.status_code == 200
    assert "Mã hoặc tên thủ tục" in text_of(response)


def test_a_post_without_csrf_token_is_refused_and_saves_nothing(app, client, signed_in_clerk):
    response = client.post(INTAKE, data=intake_form())
    assert response.status_code == 400
    assert dossier_count() == 0


# Finding the procedure -----------------------------------------------------------------------


def test_search_by_name_ignores_accents_and_case(app, client, signed_in_clerk):
    for term in ("phiếu LÝ lịch", "ly lich tu phap"):
        page = text_of(client.get(INTAKE, query_string={"q": term}))
        assert "1.001234" in page and "Cấp phiếu lý lịch tư pháp" in page
        assert "1.009876" not in page
    nothing = client.get(INTAKE, query_string={"q": "không có thủ tục này"})
    assert "Không có thủ tục đang áp dụng nào khớp" in text_of(nothing)


def test_search_by_code_prefix_lists_and_a_full_code_opens_the_form(app, client, signed_in_clerk):
    listed = client.get(INTAKE, query_string={"q": "1.00"})
    assert 'href="/dossiers/new?procedure=1.004567"' in listed.get_data(as_text=True)
    opened = client.get(INTAKE, query_string={"q": "1.001234"})
    assert 'name="procedure_code" value="1.001234"' in opened.get_data(as_text=True)
    assert 'name="applicant.name"' in opened.get_data(as_text=True)


def test_the_form_offers_only_the_service_forms_of_the_procedure(app, client, signed_in_clerk):
    html = client.get(INTAKE, query_string={"procedure": "1.004567"}).get_data(as_text=True)
    assert re.findall(r'name="service_form" value="([a-z_]+)"', html) == ["return_only"]
    full = client.get(INTAKE, query_string={"procedure": "1.001234"}).get_data(as_text=True)
    assert re.findall(r'name="service_form" value="([a-z_]+)"', full) == [
        "two_way",
        "return_only",
        "send_only",
    ]
    assert 'value="two_way" checked' in full
    # The scanner field is marked for the script that keeps Enter from submitting.
    assert re.search(r'id="postal_item_number"[^>]*data-scanner="next"', full)


def test_an_unknown_or_retired_procedure_is_not_offered(app, client, signed_in_clerk, catalogue):
    assert client.get(INTAKE, query_string={"procedure": "9.999999"}).status_code == 404
    catalogue.other_procedure.active_to = date(2020, 1, 1)
    db.session.commit()
    assert client.get(INTAKE, query_string={"procedure": "1.009876"}).status_code == 404
    assert "1.009876" not in text_of(client.get(INTAKE, query_string={"q": "xay dung"}))


# Errors ----------------------------------------------------------------------------------------


def test_a_form_for_no_procedure_goes_back_to_the_search(app, client, signed_in_clerk):
    response = post_form(client, INTAKE, intake_form(procedure_code="9.999999"), page=INTAKE)
    assert response.status_code == 422
    assert "Hãy chọn một thủ tục đang áp dụng trước" in text_of(response)
    assert dossier_count() == 0


def test_errors_sit_beside_their_fields_keep_what_was_typed_and_save_nothing(
    app, client, signed_in_clerk
):
    form = intake_form(
        **{
            "applicant.name": "",
            "applicant.phone": "12345",
            "applicant.email": "an@",
            "documents.1.count": "0",
            "fee_vnd": "hai trăm",
        }
    )
    response = post_form(client, INTAKE, form, page=f"{INTAKE}?procedure=1.001234")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = {
        name: " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())
        for name, body in re.findall(
            r'<ul class="field-errors" id="([^"]+)-error">(.*?)</ul>', html, re.S
        )
    }
    assert errors["applicant-name"] == "Chưa nhập thông tin bắt buộc."
    assert "số điện thoại Việt Nam" in errors["applicant-phone"]
    assert errors["applicant-email"] == "Địa chỉ email không hợp lệ."
    assert errors["documents-1-count"] == "Phải từ 1 đến 1000."
    assert errors["fee_vnd"] == "Không phải số nguyên hợp lệ."
    assert re.search(r'id="applicant-phone"[^>]*aria-invalid="true"', html)
    # Everything typed comes back, the accents and the spaces of the phone number included.
    for value in ("12345", "an@", "hai trăm", "Tờ khai", "CCCD", form["delivery_address"]):
        assert value in unescape(html)
    assert (
        'name="documents.1.count" type="text" inputmode="numeric" class="count" value="0"' in html
    )
    assert "Biểu mẫu có lỗi, chưa có gì được lưu" in text_of(response)
    assert dossier_count() == 0


def test_numbers_too_long_for_python_are_form_errors_not_a_crash(app, client, signed_in_clerk):
    # Python's int() refuses more than 4,300 digits; the form must still answer beside the field.
    form = intake_form(**{"fee_vnd": "9" * 5000, "documents.0.count": "9" * 5000})
    response = post_form(client, INTAKE, form, page=INTAKE)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="fee_vnd-error"' in html and 'id="documents-0-count-error"' in html
    assert dossier_count() == 0


def test_a_nul_character_in_a_procedure_search_finds_nothing(app, client, signed_in_clerk):
    # PostgreSQL refuses NUL in text parameters: the search must not send it.
    assert client.get(INTAKE, query_string={"q": "1.00\x00"}).status_code == 200
    assert client.get(INTAKE, query_string={"procedure": "1.001234\x00"}).status_code == 404
    form = intake_form(procedure_code="1.001234\x00")
    response = post_form(client, INTAKE, form, page=INTAKE)
    assert response.status_code == 422
    assert 'id="q-error"' in response.get_data(as_text=True)
    assert dossier_count() == 0


def test_a_bad_item_number_check_digit_is_shown_beside_the_field(app, client, signed_in_clerk):
    form = intake_form(postal_item_number="EE123456780VN")
    response = post_form(client, INTAKE, form, page=INTAKE)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(r'id="postal_item_number-error">(.*?)</ul>', html, re.S).group(1)
    assert "số kiểm tra không khớp" in error
    assert 'value="EE123456780VN"' in html
    assert dossier_count() == 0


def test_a_rule_of_the_operations_is_shown_beside_its_field(app, client, signed_in_clerk):
    response = post_form(client, INTAKE, intake_form(delivery_address=""), page=INTAKE)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="delivery_address-error">\s*<li>bắt buộc khi bưu điện trả kết quả', html)
    assert dossier_count() == 0


def test_an_item_number_already_in_use_is_refused(app, client, signed_in_clerk, create_dossier):
    create_dossier(postal_item_number=VALID_ITEM)
    response = post_form(client, INTAKE, intake_form(), page=INTAKE)
    assert response.status_code == 422
    assert "đã dùng cho một hồ sơ khác" in text_of(response)
    assert dossier_count() == 1


# The receipt ---------------------------------------------------------------------------------


def test_intake_logs_one_dossier_and_answers_with_the_receipt(
    app, client, signed_in_clerk, catalogue, today
):
    response = post_form(client, INTAKE, intake_form(), page=INTAKE)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert dossier_count() == 1
    dossier = db.session.scalars(select(Dossier)).one()
    assert dossier.office_id == catalogue.office.id
    assert dossier.fee_vnd == 200_000
    assert dossier.applicant_phone == "0912345678"
    assert dossier.postal_item_number == VALID_ITEM
    assert [(d.name, d.kind, d.count) for d in dossier.documents] == [
        ("Tờ khai", "original", 1),
        ("CCCD", "certified_copy", 2),
    ]

    secret, url, images = receipt_parts(response)
    page = text_of(response)
    for expected in (
        dossier.code,
        secret,
        url,
        "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
        "Cấp phiếu lý lịch tư pháp",
        "Nguyễn Văn An",
        "Bản sao có chứng thực",
        "Bưu cục Biên Hòa",
        "200.000 đồng",
        "(Ký và ghi rõ họ tên)",
        "Tiếp nhận và trả kết quả qua bưu điện (2 chiều)",
    ):
        assert expected in page, expected
    # The appointment is estimated from the statutory 10 working days, and says so.
    expected_day = add_working_days(today, 10)
    assert f"{expected_day:%d/%m/%Y} (dự kiến" in page
    # Received time in Vietnam time.
    assert f"{dossier.received_at.astimezone(VN_TZ):%H:%M, %d/%m/%Y}" in page
    assert "data-print" in response.get_data(as_text=True)

    # The printed URL is the public lookup with the code and the secret, and the QR code is
    # exactly that URL's symbol.
    parts = urlsplit(url)
    assert parts.path == "/track"
    assert parse_qs(parts.query) == {"code": [dossier.code], "secret": [secret]}
    assert url.startswith(app.config["PUBLIC_BASE_URL"])
    assert images["qr"].startswith("data:image/svg+xml")
    assert images["qr"] == segno.make(url, error="m", micro=False).svg_data_uri(scale=4, border=4)
    # The barcode's bars are the Code 128 symbol of the code.
    assert images["barcode"].startswith("data:image/svg+xml")
    assert bars_of(images["barcode"]) == Code128(dossier.code).build()[0].strip("0")

    # The secret works on the public lookup; the database keeps only its hash.
    track = client.get("/api/v1/track", query_string={"code": dossier.code, "secret": secret})
    assert track.status_code == 200
    assert secret not in dossier.lookup_secret_hash


def bars_of(data_uri: str) -> str:
    """The module pattern ('1101...') drawn by the barcode SVG, from its rects."""
    svg = unquote(data_uri.split(",", 1)[1])
    bars = [(int(x), int(w)) for x, w in re.findall(r'<rect x="(\d+)" y="0" width="(\d+)"', svg)]
    start = bars[0][0]
    modules = ["0"] * (bars[-1][0] + bars[-1][1] - start)
    for x, width in bars:
        modules[x - start : x - start + width] = ["1"] * width
    return "".join(modules)


def test_a_given_appointment_date_is_printed_as_is(app, client, signed_in_clerk, today):
    day = add_working_days(today, 4)
    response = post_form(client, INTAKE, intake_form(appointment_date=day.isoformat()), page=INTAKE)
    assert response.status_code == 201
    page = text_of(response)
    assert f"{day:%d/%m/%Y}" in page
    assert "dự kiến" not in page


def test_an_admin_must_choose_the_receiving_office(app, client, make_staff, catalogue):
    admin = make_staff("admin")
    sign_in(client, admin.user.username)
    form_page = client.get(INTAKE, query_string={"procedure": "1.001234"})
    assert 'name="office_code"' in form_page.get_data(as_text=True)
    refused = client.post(INTAKE, data={**intake_form(), "csrf_token": csrf_of(form_page)})
    assert refused.status_code == 422
    assert 'id="office_code-error"' in refused.get_data(as_text=True)
    assert dossier_count() == 0
    form = intake_form(office_code="HL1022")
    accepted = client.post(INTAKE, data={**form, "csrf_token": csrf_of(form_page)})
    assert accepted.status_code == 201
    dossier = db.session.scalars(select(Dossier)).one()
    assert dossier.office_id == catalogue.hotline_office.id
    assert "Tổng đài 1022" in text_of(accepted)


def test_a_clerk_cannot_log_for_another_office(app, client, signed_in_clerk, catalogue):
    # The field is an admin's: a clerk's form has none, and a forged one is ignored.
    html = client.get(INTAKE, query_string={"procedure": "1.001234"}).get_data(as_text=True)
    assert 'name="office_code"' not in html
    response = post_form(client, INTAKE, intake_form(office_code="811000"), page=INTAKE)
    assert response.status_code == 201
    assert db.session.scalars(select(Dossier)).one().office_id == catalogue.office.id


def test_the_receipt_speaks_english_on_request(app, client, signed_in_clerk):
    client.set_cookie("lang", "en")
    form_page = client.get(INTAKE, query_string={"procedure": "1.001234"})
    assert "Log the dossier and print the receipt" in text_of(form_page)
    response = post_form(client, INTAKE, intake_form(), page=INTAKE)
    page = text_of(response)
    assert "Receipt of dossier and appointment for the result" in page
    assert "Certified copy" in page and "200,000 VND" in page
    assert "(expected;" in page


# Reissuing -------------------------------------------------------------------------------------


def test_reissuing_rotates_the_secret(app, client, signed_in_clerk, create_dossier):
    created = create_dossier()
    code, old = created["code"], created["lookup_secret"]
    response = post_form(client, f"/dossiers/{code}/receipt", {}, page=INTAKE)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    new, url, _images = receipt_parts(response)
    assert new != old
    assert parse_qs(urlsplit(url).query)["secret"] == [new]
    assert "Đã tạo mã tra cứu mới" in text_of(response)
    track = "/api/v1/track"
    assert client.get(track, query_string={"code": code, "secret": old}).status_code == 404
    assert client.get(track, query_string={"code": code, "secret": new}).status_code == 200


def test_reissuing_needs_a_csrf_token_and_the_dossier_in_scope(
    app, client, make_staff, create_dossier, catalogue
):
    created = create_dossier()
    url = f"/dossiers/{created['code']}/receipt"
    other_clerk = make_staff("clerk", office=catalogue.other_office)
    sign_in(client, other_clerk.user.username)
    assert client.post(url).status_code == 400
    assert post_form(client, url, {}, page=INTAKE).status_code == 404
    check = {"code": created["code"], "secret": created["lookup_secret"]}
    assert client.get("/api/v1/track", query_string=check).status_code == 200


def test_sending_the_same_form_again_logs_nothing_twice(app, client, signed_in_clerk, catalogue):
    """Reloading the receipt posts the form again: the dossier page answers, not a second
    dossier (and no new secret)."""
    form_page = client.get(f"{INTAKE}?procedure=1.001234")
    form_id = re.search(r'name="form_id" value="([^"]+)"', form_page.get_data(as_text=True))[1]
    data = intake_form(form_id=form_id, csrf_token=csrf_of(form_page))
    first = client.post(INTAKE, data=data)
    assert first.status_code == 201
    again = client.post(INTAKE, data=data)
    code = db.session.scalars(select(Dossier.code)).one()
    assert again.status_code == 303
    assert again.headers["Location"] == f"/dossiers/{code}"
    assert dossier_count() == 1
    follow = client.get(again.headers["Location"])
    assert f"Biểu mẫu này đã được gửi: hồ sơ {code} đã được tiếp nhận" in text_of(follow)
    # A new form (a new id) logs a new dossier.
    fresh = client.get(f"{INTAKE}?procedure=1.001234")
    other = re.search(r'name="form_id" value="([^"]+)"', fresh.get_data(as_text=True))[1]
    assert other != form_id
    data.update(form_id=other, postal_item_number="")
    assert client.post(INTAKE, data=data).status_code == 201
    assert dossier_count() == 2


def test_a_form_whose_commit_failed_is_not_remembered_as_sent(
    app, client, signed_in_clerk, catalogue
):
    """The request commits after the view returns: when that commit fails (the database is
    busy: 503), the session must not lead the form sent again to a dossier that was never
    logged."""
    form_page = client.get(f"{INTAKE}?procedure=1.001234")
    form_id = re.search(r'name="form_id" value="([^"]+)"', form_page.get_data(as_text=True))[1]
    data = intake_form(form_id=form_id, csrf_token=csrf_of(form_page))

    def busy(session):
        if has_request_context() and request.endpoint == "dossier_pages.intake":
            raise OperationalError("COMMIT", {}, Exception("database is locked"))

    event.listen(Session, "before_commit", busy)
    try:
        refused = client.post(INTAKE, data=data)
    finally:
        event.remove(Session, "before_commit", busy)
    assert refused.status_code == 503
    assert dossier_count() == 0
    assert client.post(INTAKE, data=data).status_code == 201
    assert dossier_count() == 1


def test_a_reprint_names_the_clerk_who_took_the_dossier_in(
    app, client, make_staff, create_dossier, catalogue
):
    receiving = make_staff("clerk")
    code = create_dossier(staff=receiving)["code"]
    admin = make_staff("admin")
    sign_in(client, admin.user.username)
    response = post_form(client, f"/dossiers/{code}/receipt", {}, page=INTAKE)
    assert response.status_code == 200
    signatures = response.get_data(as_text=True).split('class="signatures"')[1]
    assert receiving.user.username in signatures
    assert admin.user.username not in signatures
