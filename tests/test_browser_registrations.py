"""A return registration's whole journey in real Chromium: a clerk at the Public Administration
Centre registers it on the page and prints the receipt, the agency's feed says the result is
ready (naming the dossier by the agency's own code), the clerk's collection run on the scan page
fetches it, the delivery is recorded with its proof on the dossier page, and the citizen's
lookup says to whom it was delivered, never a name."""

from __future__ import annotations

from sqlalchemy import select

from tests import test_feeds
from tests.browser import screenshot, sign_in
from tests.conftest import fresh_session
from tests.test_feeds import AGENCY, post_batch, run_batch
from tracker.calendar import utcnow
from tracker.catalogue.models import Office
from tracker.dossiers.models import Dossier
from tracker.extensions import db

make_integration = test_feeds.make_integration
REFERENCE = "TTHCC-2025-004711"


def status_of(code: str) -> str:
    fresh_session()
    return db.session.scalar(select(Dossier.status).where(Dossier.code == code))


def test_a_registration_at_the_pac_goes_from_registration_to_delivery(
    app,
    live_server,
    browser_page,
    chromium,
    catalogue,
    make_staff,
    make_integration,
    client,
    tmp_path,
):
    # The PAC's post desk is an office like the others (its channel says where it is).
    pac = Office(code="PAC001", name="Bưu điện tại Trung tâm HCC tỉnh", channel=catalogue.channel)
    db.session.add(pac)
    db.session.commit()
    clerk = make_staff("clerk", office=pac)
    page, base = browser_page, live_server.url
    sign_in(page, base, clerk.user.username)

    # 1. The registration, on the page reached from the intake page.
    page.goto(f"{base}/dossiers/new")
    page.click("a[href='/registrations/new']")
    page.select_option("#agency_code", "000.00.01.H19")
    page.fill("#agency_reference", REFERENCE)
    page.fill("#procedure_code", "1.004567")
    page.fill("#applicant-name", "Phạm Thị Hoa")
    page.fill("#applicant-phone", "0903123456")
    page.fill("#delivery_address", "21 Nguyễn Ái Quốc, Tân Phong, Biên Hòa")
    page.fill("#fee_vnd", "25000")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Đăng ký và in giấy tiếp nhận").click()
    assert navigation.value.status == 201
    receipt = page.locator("article.receipt").inner_text()
    assert REFERENCE in receipt
    assert "Giấy tiếp nhận đăng ký trả kết quả qua bưu điện".upper() in receipt.upper()
    secret = page.locator("[data-secret]").inner_text().strip()
    fresh_session()
    code = db.session.scalar(select(Dossier.code).where(Dossier.agency_reference == REFERENCE))
    assert code in receipt
    assert status_of(code) == "registered"
    screenshot(page, "registration-receipt", tmp_path)

    # 2. The agency's one-stop system: result ready, by its own code.
    feed = make_integration("feed:agency", agency=catalogue.agency)
    # Whole seconds, as feeds send them: wait for one after the registration's moment.
    page.wait_for_timeout(1100)
    event = {
        "event_id": "kq-1",
        "agency_reference": REFERENCE,
        "status": "result_ready",
        "occurred_at": utcnow().replace(microsecond=0).isoformat(),
    }
    accepted = post_batch(client, AGENCY, [event], feed)
    assert accepted.status_code == 202, accepted.get_json()
    assert accepted.get_json()["errors"] == []
    run_batch(accepted.get_json()["batch_id"])
    assert status_of(code) == "result_ready"

    # 3. The clerk's queue lists it under its agency; the collection run fetches it.
    page.goto(f"{base}/dossiers")
    section = page.locator("#results_at_agency")
    assert code in section.inner_text() and catalogue.agency.name in section.inner_text()
    section.get_by_role("link", name="Nhận kết quả tại cơ quan giải quyết").click()
    page.wait_for_url(f"{base}/dossiers/scan?mode=collect")
    scanner = page.locator("#scan-input")
    for value in (code, "000.00.01.H19-990101-0009"):
        scanner.press_sequentially(value)
        scanner.press("Enter")
    page.get_by_role("button", name="Ghi nhận cho tất cả").click()
    page.wait_for_selector(".scan-results")
    rows = page.locator(".scan-results tbody tr")
    assert [rows.nth(i).get_attribute("class") for i in range(rows.count())] == [
        "outcome-recorded",
        "outcome-not_found",
    ]
    assert status_of(code) == "result_collected"
    screenshot(page, "collection-run", tmp_path)

    # 4. Delivered, with its proof, on the dossier page.
    page.goto(f"{base}/dossiers/{code}")
    page.get_by_label("Đã trả kết quả", exact=True).check()
    page.get_by_label("Họ và tên người nhận").fill("Nguyễn Văn Tâm")
    page.select_option("#receiver-relation", "family")
    page.get_by_role("button", name="Ghi nhận", exact=True).click()
    page.wait_for_url(f"{base}/dossiers/{code}#timeline")
    assert "Nguyễn Văn Tâm" in page.locator("#timeline").inner_text()
    assert status_of(code) == "delivered"
    # The clerk's new pages on a phone: nothing wider than the screen.
    page.set_viewport_size({"width": 360, "height": 740})
    for url in ("/registrations/new", "/dossiers/scan?mode=collect", "/dossiers"):
        page.goto(base + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, url

    # 5. The applicant's lookup on a phone: delivered, to a family member, no name.
    phone = chromium.new_context(viewport={"width": 360, "height": 740}, locale="vi-VN")
    try:
        citizen = phone.new_page()
        citizen.goto(f"{base}/track?code={code}&secret={secret}")
        text = citizen.locator("main").inner_text()
        assert "Đã trả kết quả" in text
        assert "Đã trả cho người thân trong gia đình" in text
        assert "Đã đăng ký trả kết quả qua bưu điện" in text  # the first step of its history
        assert "Nguyễn Văn Tâm" not in text
        assert citizen.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        phone.close()
