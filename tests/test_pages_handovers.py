"""Hand-over record pages: the batch scan makes one record per agency and links to it; the
printable record; the agency officer's confirmation form (dates, a stale form, a bad date); the
list with its search; scope (404) and roles (403)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.pages import csrf_of, sign_in, text_of
from tests.test_pages_dossiers import outcomes, scan
from tracker.calendar import add_working_days, today_vn
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.handovers.models import HandoverRecord


def records() -> list[HandoverRecord]:
    db.session.expire_all()
    return list(db.session.scalars(select(HandoverRecord).order_by(HandoverRecord.id)))


def dossier_of(code: str) -> Dossier:
    db.session.expire_all()
    return db.session.scalar(select(Dossier).where(Dossier.code == code))


@pytest.fixture
def forwarded(app, client, clerk, create_dossier):
    """Three dossiers, two agencies, forwarded by one batch scan as the clerk; returns the scan's
    answer and the codes."""
    codes = [
        create_dossier(fee_vnd=200_000)["code"],
        create_dossier(procedure_code="1.009876", fee_vnd=300_000)["code"],
        create_dossier(fee_vnd=0, documents=[{"name": "Bản vẽ", "kind": "copy", "count": 4}])[
            "code"
        ],
    ]
    sign_in(client, clerk.user.username)
    answer = scan(client, "forwarded", codes, batch="ef" * 16)
    return answer, codes


def test_a_forwarding_scan_makes_one_record_per_agency_and_links_to_them(client, clerk, forwarded):
    answer, codes = forwarded
    assert outcomes(answer) == [(code, "recorded") for code in codes]
    made = records()
    assert [(r.kind, r.agency.code, [line.dossier.code for line in r.lines]) for r in made] == [
        ("forward", "000.00.01.H19", [codes[0], codes[2]]),
        ("forward", "000.00.02.H19", [codes[1]]),
    ]
    html = answer.get_data(as_text=True)
    for record in made:
        assert f'href="/handovers/{record.number}"' in html
        assert f"Biên bản giao nhận {record.number}" in text_of(answer)
    # The same batch sent again (a reload) makes nothing new and links to the same records.
    again = scan(client, "forwarded", codes, batch="ef" * 16)
    assert {outcome for _code, outcome in outcomes(again)} == {"already"}
    assert [r.number for r in records()] == [r.number for r in made]
    assert all(f'href="/handovers/{r.number}"' in again.get_data(as_text=True) for r in made)


def test_the_batch_sent_back_with_more_codes_puts_them_on_a_record_of_their_own(
    client, forwarded, create_dossier
):
    """The back button keeps the form's batch id: a code added to the list is forwarded and
    lands on a new record of the batch; the records already made (signed) do not change."""
    _answer, codes = forwarded
    made = records()
    added = create_dossier()["code"]
    again = scan(client, "forwarded", [*codes, added], batch="ef" * 16)
    assert dict(outcomes(again))[added] == "recorded"
    now = records()
    assert [r.number for r in now[:2]] == [r.number for r in made]
    assert [[line.dossier.code for line in r.lines] for r in now] == [
        [codes[0], codes[2]],
        [codes[1]],
        [added],
    ]
    html = again.get_data(as_text=True)
    assert all(f'href="/handovers/{r.number}"' in html for r in now)
    # Once more the same: nothing new.
    scan(client, "forwarded", [*codes, added], batch="ef" * 16)
    assert [r.number for r in records()] == [r.number for r in now]


def test_other_scans_make_no_record(client, clerk, create_dossier):
    code = create_dossier()["code"]
    sign_in(client, clerk.user.username)
    scan(client, "forwarded", [code])
    assert len(records()) == 1
    # A refused line makes no record either.
    answer = scan(client, "forwarded", [code, "KHONG-CO"])
    assert {o for _c, o in outcomes(answer)} == {"not_allowed", "not_found"}
    assert len(records()) == 1


def test_the_record_page_shows_both_sides_documents_fees_and_totals(client, forwarded):
    record = records()[0]
    page = client.get(f"/handovers/{record.number}")
    assert page.status_code == 200
    text = text_of(page)
    assert record.number in text
    assert "BIÊN BẢN GIAO NHẬN HỒ SƠ CHO CƠ QUAN GIẢI QUYẾT" in text.upper()
    assert "Bên giao" in text and "Bên nhận" in text
    assert "Bưu cục Biên Hòa" in text and "Sở Tư pháp tỉnh Đồng Nai" in text
    assert "Bản vẽ (bản sao): 4" in text
    assert "Tờ khai (bản chính): 1" in text
    assert "Tổng cộng: 2 hồ sơ" in text
    assert "1 bản chính, 1 bản sao chứng thực, 4 bản sao" in text
    assert "Phí, lệ phí bàn giao: 200.000 đồng." in text
    # A clerk prints it; only the agency confirms.
    assert 'id="confirm-form"' not in page.get_data(as_text=True)


def test_the_agency_confirms_with_dates_and_a_stale_form_is_told(
    app, client, forwarded, make_staff
):
    _answer, codes = forwarded
    record = records()[0]
    officer = make_staff("agency")
    pages = app.test_client()
    sign_in(pages, officer.user.username)
    url = f"/handovers/{record.number}"
    page = pages.get(url)
    html = page.get_data(as_text=True)
    assert 'id="confirm-form"' in html
    statutory = add_working_days(today_vn(), 10)
    assert f'name="appointment_dates.{codes[0]}" value="{statutory.isoformat()}"' in html
    token = csrf_of(page)

    bad = pages.post(
        f"{url}/confirmation",
        data={"csrf_token": token, f"appointment_dates.{codes[0]}": "2001-01-01"},
    )
    assert bad.status_code == 422
    error_id = f"appointment_dates.{codes[0]}-error".replace(".", "-")
    assert f'aria-describedby="{error_id}"' in bad.get_data(as_text=True)
    assert f'id="{error_id}"' in bad.get_data(as_text=True)
    assert "không được trước ngày tiếp nhận" in text_of(bad)
    assert dossier_of(codes[0]).status == "forwarded"

    given = add_working_days(today_vn(), 14)
    done = pages.post(
        f"{url}/confirmation",
        data={
            "csrf_token": token,
            f"appointment_dates.{codes[0]}": given.isoformat(),
            f"appointment_dates.{codes[2]}": statutory.isoformat(),
        },
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert f"Đã xác nhận biên bản giao nhận {record.number}." in text_of(done)
    assert dossier_of(codes[0]).status == "processing"
    assert dossier_of(codes[0]).appointment_date == given
    assert dossier_of(codes[2]).appointment_date == statutory
    assert given.strftime("%d/%m/%Y") in text_of(done)
    assert 'id="confirm-form"' not in done.get_data(as_text=True)

    # The same form sent again (another tab, a reload): told, nothing changed.
    stale = pages.post(
        f"{url}/confirmation",
        data={"csrf_token": token, f"appointment_dates.{codes[0]}": statutory.isoformat()},
        follow_redirects=True,
    )
    assert stale.status_code == 200
    assert "đã được xác nhận" in text_of(stale)
    assert dossier_of(codes[0]).appointment_date == given


def test_scope_and_roles_of_the_pages(app, client, forwarded, make_staff, catalogue):
    _answer, _codes = forwarded
    own, other = records()
    cases = [
        (make_staff("clerk", office=catalogue.other_office), {own.number: 404, other.number: 404}),
        (make_staff("agency", agency=catalogue.agency), {own.number: 200, other.number: 404}),
        (
            make_staff("agency", agency=catalogue.other_agency),
            {own.number: 404, other.number: 200},
        ),
        (make_staff("manager"), {own.number: 200, other.number: 200}),
        (make_staff("admin"), {own.number: 200, other.number: 200}),
    ]
    for staff, expected in cases:
        pages = app.test_client()
        sign_in(pages, staff.user.username)
        listed = pages.get("/handovers").get_data(as_text=True)
        for number, status in expected.items():
            assert pages.get(f"/handovers/{number}").status_code == status, staff.user.role
            assert (number in listed) is (status == 200), staff.user.role
    # A clerk may not confirm; a postman has no hand-over pages at all.
    forbidden = client.post(
        f"/handovers/{own.number}/confirmation",
        data={"csrf_token": csrf_of(client.get(f"/handovers/{own.number}"))},
    )
    assert forbidden.status_code == 403
    postman = app.test_client()
    sign_in(postman, make_staff("postman").user.username)
    assert postman.get("/handovers").status_code == 403
    # Another agency's officer: the confirmation answers 404 as for a missing record.
    stranger = app.test_client()
    sign_in(stranger, make_staff("agency", agency=catalogue.other_agency).user.username)
    token = csrf_of(stranger.get(f"/handovers/{other.number}"))
    answer = stranger.post(f"/handovers/{own.number}/confirmation", data={"csrf_token": token})
    assert answer.status_code == 404
    assert own.confirmed_at is None


def test_the_list_searches_by_number_dossier_agency_and_day(client, forwarded):
    _answer, codes = forwarded
    own, other = records()

    def listed(query: str) -> list[str]:
        page = client.get(f"/handovers?{query}")
        return re.findall(r'href="/handovers/(BB-[^"]+)"', page.get_data(as_text=True))

    assert listed("") == [other.number, own.number]
    assert listed(f"q={own.number}") == [own.number]
    assert listed(f"q={codes[1]}") == [other.number]
    assert listed("agency=000.00.01.H19") == [own.number]
    assert listed(f"day={today_vn().isoformat()}") == [other.number, own.number]
    assert listed("day=2001-02-03") == []
    assert listed("unconfirmed=true") == [other.number, own.number]
    bad = client.get("/handovers?day=31-12")
    assert bad.status_code == 422
    assert 'id="day-error"' in bad.get_data(as_text=True)
    assert "Biên bản giao nhận" in text_of(client.get("/dossiers"))  # in the menu


def test_a_date_that_is_not_one_is_shown_on_its_dossiers_field(app, forwarded, make_staff):
    _answer, codes = forwarded
    record = records()[0]
    officer = make_staff("agency")
    pages = app.test_client()
    sign_in(pages, officer.user.username)
    url = f"/handovers/{record.number}"
    token = csrf_of(pages.get(url))
    bad = pages.post(
        f"{url}/confirmation",
        data={"csrf_token": token, f"appointment_dates.{codes[0]}": "not a date"},
    )
    assert bad.status_code == 422
    error_id = f"appointment_dates.{codes[0]}-error".replace(".", "-")
    assert f'id="{error_id}"' in bad.get_data(as_text=True)
    assert dossier_of(codes[0]).status == "forwarded"
