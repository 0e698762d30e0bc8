"""The clerk's day in real Chromium: the work queue, a dossier moved with its form, and a batch
scanned the way a barcode scanner types (the code, then Enter)."""

from __future__ import annotations

from sqlalchemy import select

from tests.browser import screenshot, sign_in
from tests.conftest import fresh_session
from tracker.dossiers import s10
from tracker.dossiers.models import Dossier
from tracker.extensions import db


def item_number(serial: int) -> str:
    digits = f"{serial:08d}"
    return f"EE{digits}{s10.check_digit(digits)}VN"


def status_of(code: str) -> str:
    return db.session.scalar(select(Dossier.status).where(Dossier.code == code))


def test_a_clerk_works_the_queue_and_scans_a_batch(
    app, live_server, browser_page, clerk, create_dossier, tmp_path
):
    page = browser_page
    opened = create_dossier(applicant={"name": "Trần Thị Bích", "phone": "0987654321"})["code"]
    by_code = create_dossier()["code"]
    item = item_number(31415)
    by_item = create_dossier(postal_item_number=item)["code"]
    db.session.commit()

    sign_in(page, live_server.url, clerk.user.username)
    page.wait_for_url(f"{live_server.url}/dossiers")
    waiting = page.locator("#to_forward")
    assert waiting.locator("tbody tr").count() == 3
    assert "Trần Thị Bích" in waiting.inner_text()
    screenshot(page, "queue", tmp_path)

    waiting.get_by_role("link", name=opened).click()
    page.wait_for_url(f"{live_server.url}/dossiers/{opened}")
    radios = page.locator("input[name=status]")
    assert radios.count() == 2  # handed to the agency, or withdrawn: nothing else now
    page.get_by_label("Đã chuyển cơ quan giải quyết").check()
    page.get_by_label("Ghi chú").fill("Biên bản bàn giao số 7")
    page.get_by_role("button", name="Ghi nhận", exact=True).click()
    page.wait_for_url(f"{live_server.url}/dossiers/{opened}#timeline")
    timeline = page.locator("#timeline").inner_text()
    assert "Đã chuyển cơ quan giải quyết" in timeline and "Biên bản bàn giao số 7" in timeline
    assert "Đã ghi nhận" in page.locator(".flash").inner_text()
    screenshot(page, "dossier", tmp_path)

    page.goto(f"{live_server.url}/dossiers/scan")
    page.select_option("#status", "forwarded")
    scanner = page.locator("#scan-input")
    assert scanner.is_visible() and not page.locator("#codes").is_visible()
    notices = []
    for value in (by_code, item.lower(), by_code, opened, "KHONG-CO-MA"):
        scanner.press_sequentially(value)
        scanner.press("Enter")  # what a scanner sends after the code: must not submit
        assert scanner.input_value() == ""
        notices.append(page.locator("#scan-notice").inner_text())
    assert page.url == f"{live_server.url}/dossiers/scan"
    assert page.locator("#scanned li").count() == 4  # the repeated code was not added twice
    assert notices[1] == "" and by_code in notices[2]
    page.get_by_role("button", name="Ghi nhận cho tất cả").click()
    page.wait_for_selector(".scan-results")
    rows = page.locator(".scan-results tbody tr")
    assert rows.count() == 4
    outcomes = [rows.nth(i).get_attribute("class") for i in range(4)]
    assert outcomes == [
        "outcome-recorded",
        "outcome-recorded",
        "outcome-not_allowed",
        "outcome-not_found",
    ]
    screenshot(page, "scan", tmp_path)

    # A phone at the counter: nothing wider than the screen (tables scroll inside their frame).
    page.set_viewport_size({"width": 360, "height": 740})
    for url in (f"/dossiers/{opened}", "/dossiers"):
        page.goto(live_server.url + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, url

    fresh_session()
    assert status_of(by_code) == status_of(by_item) == status_of(opened) == "forwarded"
