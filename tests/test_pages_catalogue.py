"""The admin's catalogue pages: procedures and offices, CSV load, edit an office or procedure."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.pages import csrf_of, post_form, sign_in, text_of
from tracker.audit.models import AuditEntry
from tracker.catalogue.models import Office, Procedure
from tracker.extensions import db

HEADER = "code,name,sector,agency,working_days,service_forms,fee_vnd\n"
GOOD_CSV = (
    HEADER
    + "1.001234,Cấp phiếu lý lịch tư pháp (sửa),TP,000.00.01.H19,12,two_way|return_only,200000\n"
    + "2.000111,Đăng ký khai sinh,TP,000.00.01.H19,5,two_way,\n"
)


@pytest.fixture
def admin(make_staff, client):
    staff = make_staff("admin")
    assert sign_in(client, staff.user.username).status_code == 302
    return staff


def procedure(code: str) -> Procedure | None:
    db.session.expire_all()
    return db.session.scalar(select(Procedure).where(Procedure.code == code))


def office(code: str) -> Office:
    db.session.expire_all()
    return db.session.scalar(select(Office).where(Office.code == code))


def audited(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


def upload(client, text: str | bytes, *, name="procedures.csv", mimetype="text/csv", **form):
    token = csrf_of(client.get("/admin/catalogue"))
    body = text.encode() if isinstance(text, str) else text
    data = {"csrf_token": token, "file": (io.BytesIO(body), name, mimetype), **form}
    return client.post("/admin/catalogue/load", data=data, content_type="multipart/form-data")


def field_error(response, field: str) -> str:
    html = response.get_data(as_text=True)
    match = re.search(rf'<ul class="field-errors" id="{field}-error">(.*?)</ul>', html, re.S)
    assert match, f"no error beside {field}"
    assert 'aria-invalid="true"' in html
    return match.group(1)


# Access ---------------------------------------------------------------------------------------

PAGES = [
    "/admin/catalogue",
    "/admin/catalogue/offices",
    "/admin/catalogue/offices/810000",
    "/admin/catalogue/procedures/1.001234",
]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_sign_in(app, client, catalogue, url):
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", ["clerk", "agency", "manager"])
def test_other_roles_get_403_and_change_nothing(app, client, make_staff, role):
    sign_in(client, make_staff(role).user.username)
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    token = csrf_of(client.get("/admin/catalogue"))
    data = {"csrf_token": token, "name": "Bưu cục khác", "channel": "post_l1"}
    assert client.post("/admin/catalogue/offices/810000", data=data).status_code == 403
    assert office("810000").name == "Bưu cục Biên Hòa"


def test_unknown_rows_are_404(app, client, admin):
    assert client.get("/admin/catalogue/offices/nope").status_code == 404
    assert client.get("/admin/catalogue/procedures/9.999999").status_code == 404


# Lists ----------------------------------------------------------------------------------------


def test_procedures_are_listed_searched_and_paged(app, client, admin):
    text = text_of(client.get("/admin/catalogue"))
    assert "1.001234" in text and "Cấp phiếu lý lịch tư pháp" in text and "Tư pháp" in text
    assert "Danh mục có 3 thủ tục" in text
    found = text_of(client.get("/admin/catalogue?q=xay dung"))  # accents ignored
    assert "1.009876" in found and "1.001234" not in found
    db.session.add_all(
        Procedure(
            code=f"9.{n:06d}",
            name=f"Thủ tục {n}",
            search_name=f"thu tuc {n}",
            sector_id=procedure("1.001234").sector_id,
            agency_id=procedure("1.001234").agency_id,
            working_days=5,
        )
        for n in range(60)
    )
    db.session.commit()
    first = client.get("/admin/catalogue?q=9.")
    assert "9.000049" in text_of(first) and "9.000050" not in text_of(first)
    assert "page=2" in first.get_data(as_text=True)
    second = text_of(client.get("/admin/catalogue?q=9.&page=2"))
    assert "9.000050" in second and "9.000059" in second and "Trang trước" in second


def test_offices_are_listed_and_searched(app, client, admin):
    text = text_of(client.get("/admin/catalogue/offices"))
    assert "810000" in text and "Bưu cục Long Khánh" in text and "Tổng đài 1022" in text
    found = text_of(client.get("/admin/catalogue/offices?q=long khanh"))
    assert "811000" in found and "810000" not in found
    client.set_cookie("lang", "en")
    assert "Level 1 post office" in text_of(client.get("/admin/catalogue/offices"))


# CSV load -------------------------------------------------------------------------------------


def test_a_csv_upload_loads_and_reports(app, client, admin):
    response = upload(client, GOOD_CSV)
    assert response.status_code == 200
    text = text_of(response)
    assert "Kết quả nạp tệp" in text
    assert "Thủ tục mới 1" in text and "Thủ tục được cập nhật 1" in text
    assert procedure("2.000111").name == "Đăng ký khai sinh"
    assert procedure("1.001234").working_days == 12
    entry = audited("procedures.load")[-1]
    assert entry.actor_id == admin.user.id
    assert entry.after["created"] == 1 and entry.after["updated"] == 1
    assert [e.actor_id for e in audited("procedures.create")] == [admin.user.id]


@pytest.mark.parametrize("mimetype", ["application/vnd.ms-excel", "application/octet-stream"])
def test_a_csv_is_known_by_its_name_whatever_type_the_browser_sends(app, client, admin, mimetype):
    assert upload(client, GOOD_CSV, mimetype=mimetype).status_code == 200
    assert procedure("2.000111").name == "Đăng ký khai sinh"


def test_a_dry_run_saves_nothing(app, client, admin):
    response = upload(client, GOOD_CSV, dry_run="1")
    assert response.status_code == 200
    assert "chưa lưu gì" in text_of(response) and "Thủ tục mới 1" in text_of(response)
    assert procedure("2.000111") is None
    assert procedure("1.001234").working_days == 10
    assert audited("procedures.load") == [] and audited("procedures.create") == []


def test_bad_lines_are_listed_and_good_ones_kept(app, client, admin):
    text = GOOD_CSV + "3.000222,Thủ tục lỗi,TP,000.00.01.H19,many,two_way,\n"
    response = upload(client, text)
    assert response.status_code == 200
    page = text_of(response)
    assert "Số dòng bị từ chối 1" in page
    assert "4 working_days phải là số nguyên dương" in page
    assert procedure("2.000111") is not None and procedure("3.000222") is None


def test_a_file_that_loads_nothing_answers_422(app, client, admin):
    response = upload(client, "name;agency\nx;y\n")
    assert response.status_code == 422
    assert "thiếu cột: code, sector" in text_of(response)
    not_utf8 = upload(client, "code,name\n1,Đăng ký\n".encode("cp1258", errors="replace") + b"\xff")
    assert not_utf8.status_code == 422
    assert "không phải văn bản UTF-8" in text_of(not_utf8)


def test_a_file_that_is_not_csv_or_missing_is_refused_beside_the_field(app, client, admin):
    response = upload(
        client, b"PK\x03\x04 excel", name="procedures.xlsx", mimetype="application/zip"
    )
    assert response.status_code == 422
    assert "Đây không phải tệp CSV" in field_error(response, "file")
    token = csrf_of(client.get("/admin/catalogue"))
    missing = client.post("/admin/catalogue/load", data={"csrf_token": token})
    assert missing.status_code == 422
    assert "Hãy chọn một tệp CSV" in field_error(missing, "file")


def test_a_too_large_file_is_refused_with_a_clear_page(app, client, admin):
    limit = app.config["MAX_CONTENT_LENGTH"]
    token = csrf_of(client.get("/admin/catalogue"))
    # The body is built by hand: the test client would spool a big form to a temporary file.
    body = (
        f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        '--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{HEADER}{'x' * limit}\r\n--b--\r\n"
    ).encode()
    response = client.post(
        "/admin/catalogue/load", data=body, content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 413
    assert "Tệp quá lớn" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(Procedure)) == 3


def test_an_upload_without_a_csrf_token_is_refused(app, client, admin):
    data = {"file": (io.BytesIO(GOOD_CSV.encode()), "p.csv", "text/csv")}
    response = client.post("/admin/catalogue/load", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert procedure("2.000111") is None


# Editing an office ----------------------------------------------------------------------------


def office_form(**overrides) -> dict:
    return {
        "name": "Bưu cục Biên Hòa",
        "channel": "post_l1",
        "address": "1 Hà Huy Giáp",
        "commune": "Phường Trấn Biên",
        "district": "",
        "province": "Đồng Nai",
        "active_from": "",
        "active_to": "",
        **overrides,
    }


def test_an_office_is_edited_and_closed_without_being_deleted(app, client, admin):
    url = "/admin/catalogue/offices/810000"
    response = post_form(client, url, office_form(active_to="2025-06-30"))
    assert response.status_code == 302
    assert "Đã lưu điểm tiếp nhận 810000." in text_of(client.get(response.headers["Location"]))
    row = office("810000")
    assert row.commune == "Phường Trấn Biên" and row.district is None
    assert row.active_to == date(2025, 6, 30)
    assert "Đã ngừng" in text_of(client.get("/admin/catalogue/offices?q=810000"))
    entry = audited("offices.update")[-1]
    assert entry.actor_id == admin.user.id and entry.after["active_to"] == "2025-06-30"


def test_office_errors_stand_beside_the_fields(app, client, admin):
    url = "/admin/catalogue/offices/810000"
    data = office_form(name="", channel="nope", active_from="2025-07-01", active_to="2025-06-30")
    response = post_form(client, url, data)
    assert response.status_code == 422
    assert "Chưa nhập thông tin bắt buộc" in field_error(response, "name")
    assert "kênh không có trong danh mục" in field_error(response, "channel")
    assert "không được trước ngày bắt đầu" in field_error(response, "active_to")
    assert 'value="Phường Trấn Biên"' in response.get_data(as_text=True)
    assert office("810000").commune is None and audited("offices.update") == []


def test_edits_need_a_csrf_token(app, client, admin):
    response = client.post("/admin/catalogue/offices/810000", data=office_form(name="X"))
    assert response.status_code == 400 and office("810000").name == "Bưu cục Biên Hòa"
    url = "/admin/catalogue/procedures/1.001234"
    assert client.post(url, data=procedure_form(working_days="3")).status_code == 400
    assert procedure("1.001234").working_days == 10


# Editing a procedure --------------------------------------------------------------------------


def procedure_form(**overrides) -> dict:
    return {
        "name": "Cấp phiếu lý lịch tư pháp số 1",
        "sector": "TP",
        "agency": "000.00.02.H19",
        "working_days": "7",
        "fee_vnd": "200.000",
        "service_forms": ["two_way", "send_only"],
        "active_from": "",
        "active_to": "",
        **overrides,
    }


def test_a_procedure_is_edited(app, client, admin):
    url = "/admin/catalogue/procedures/1.001234"
    assert 'value="10"' in client.get(url).get_data(as_text=True)
    response = post_form(client, url, procedure_form())
    assert response.status_code == 302
    assert "Đã lưu thủ tục 1.001234." in text_of(client.get(response.headers["Location"]))
    row = procedure("1.001234")
    assert row.working_days == 7 and row.fee_vnd == 200000 and row.agency.code == "000.00.02.H19"
    assert row.service_forms == ["two_way", "send_only"]
    assert row.search_name == "cap phieu ly lich tu phap so 1"
    entry = audited("procedures.update")[-1]
    assert entry.actor_id == admin.user.id and entry.after["working_days"] == 7


def test_procedure_errors_stand_beside_the_fields_and_keep_what_was_typed(app, client, admin):
    url = "/admin/catalogue/procedures/1.001234"
    data = procedure_form(working_days="0", fee_vnd="-5", service_forms=[], sector="ZZ")
    response = post_form(client, url, data)
    assert response.status_code == 422
    assert "số nguyên dương" in field_error(response, "working_days")
    assert "không âm" in field_error(response, "fee_vnd")
    assert "ít nhất một hình thức" in field_error(response, "service_forms")
    assert "lĩnh vực không có" in field_error(response, "sector")
    html = response.get_data(as_text=True)
    assert "Cấp phiếu lý lịch tư pháp số 1</textarea>" in html and 'value="-5"' in html
    row = procedure("1.001234")
    assert row.working_days == 10 and row.name == "Cấp phiếu lý lịch tư pháp"


def test_a_procedure_page_in_english(app, client, admin):
    client.set_cookie("lang", "en")
    text = text_of(client.get("/admin/catalogue/procedures/1.004567"))
    assert "Statutory working days" in text and "Service forms the post may offer" in text


# Input the database cannot hold -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["offices", "procedures"])
def test_a_nul_in_a_code_in_the_url_is_404(app, client, admin, kind):
    assert client.get(f"/admin/catalogue/{kind}/1%00").status_code == 404


@pytest.mark.parametrize("page", ["99999999999", "99999999999999999999999"])
def test_a_page_number_past_the_end_is_an_empty_page(app, client, admin, page):
    response = client.get("/admin/catalogue", query_string={"page": page})
    assert response.status_code == 200 and "1.001234" not in text_of(response)


@pytest.mark.parametrize("field", ["name", "commune", "address"])
def test_a_nul_in_an_office_field_is_a_form_error(app, client, admin, field):
    response = post_form(client, "/admin/catalogue/offices/810000", office_form(**{field: "A\x00"}))
    assert response.status_code == 422 and field_error(response, field)
    assert office("810000").name == "Bưu cục Biên Hòa"


@pytest.mark.parametrize("field", ["name", "documents"])
def test_a_nul_in_a_procedure_field_is_a_form_error(app, client, admin, field):
    url = "/admin/catalogue/procedures/1.001234"
    response = post_form(client, url, procedure_form(**{field: "Tờ khai\x00"}))
    assert response.status_code == 422 and field_error(response, field)
    assert procedure("1.001234").name == "Cấp phiếu lý lịch tư pháp"


def test_a_nul_in_a_csv_cell_refuses_that_line(app, client, admin):
    text = (
        "code,name,sector,agency,working_days,service_forms,agency_name,documents\n"
        "1.001234,Tên\x00,TP,000.00.01.H19,5,two_way,,\n"
        "2.000222,Khai sinh,TP,000.00.09.H19,5,two_way,Sở\x00,\n"
        "2.000333,Khai tử,TP,000.00.01.H19,5,two_way,,Tờ khai\x00\n"
        "2.000444,Kết hôn,TP,000.00.01.H19,5,two_way,,Tờ khai\n"
    )
    response = upload(client, text)
    assert response.status_code == 200
    assert [procedure(code) is None for code in ("2.000222", "2.000333")] == [True, True]
    assert procedure("1.001234").name == "Cấp phiếu lý lịch tư pháp"
    assert procedure("2.000444").documents == [{"name": "Tờ khai", "kind": "original", "count": 1}]
    assert text_of(response).count("không được chứa ký tự NUL") == 3


def test_the_load_form_names_the_documents_column(app, client, admin):
    assert "documents" in text_of(client.get("/admin/catalogue")).split("Tệp CSV *")[0]


@pytest.mark.parametrize(
    "name",
    [
        "Danh mục thủ tục hành chính tiếp nhận qua bưu điện tỉnh Đồng Nai năm 2026 (bản sửa).csv",
        "thủ\x00tục.csv",
    ],
)
def test_any_file_name_is_loaded_and_audited(app, client, admin, name):
    response = upload(client, GOOD_CSV, name=name)
    assert response.status_code == 200 and procedure("2.000111") is not None
    [entry] = audited("procedures.load")
    assert entry.entity_key == name.replace("\x00", "")[:80]


def test_a_refused_lines_reason_reads_in_vietnamese_with_its_values(app, client, admin):
    text = GOOD_CSV + "3.000222,Thủ tục lỗi,ZZ,000.00.01.H19,5,two_way,\n"
    page = text_of(upload(client, text))
    assert "không có lĩnh vực mã ZZ" in page
    assert "unknown sector" not in page
