"""Hand-over records in real Chromium: the clerk forwards a batch on the scan page, follows the
link to the record and prints it on A4 (the PDF has the number and both signature lines); the
agency officer confirms it with the form."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from sqlalchemy import select

from tests.browser import screenshot, sign_in
from tests.conftest import fresh_session
from tracker.calendar import add_working_days, today_vn
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.handovers.models import HandoverRecord

A4_POINTS = (595, 842)


def test_a_forwarded_batch_prints_its_record_on_a4_and_the_agency_confirms_it(
    live_server, browser_page, clerk, make_staff, create_dossier, tmp_path
):
    base = live_server.url
    codes = [create_dossier(fee_vnd=150_000)["code"] for _ in range(3)]
    page = browser_page
    sign_in(page, base, clerk.user.username)
    page.goto(f"{base}/dossiers/scan")
    page.select_option("#status", "forwarded")
    scanner = page.locator("#scan-input")
    for code in codes:
        scanner.fill(code)
        scanner.press("Enter")  # as a barcode scanner types it
    page.click("#scan-form button[type=submit]")
    page.wait_for_load_state()
    link = page.locator("[data-papers] a")
    assert link.count() == 1
    link.click()
    page.wait_for_load_state()
    fresh_session()
    record = db.session.scalar(select(HandoverRecord))
    assert page.url.endswith(f"/handovers/{record.number}")
    assert page.locator("table.handover-lines tbody tr").count() == 3
    screenshot(page, "handover-record", tmp_path)

    page.emulate_media(media="print")
    assert page.locator(".site-header").is_hidden()
    assert page.locator("button[data-print]").is_hidden()
    assert page.locator("[data-record-number]").is_visible()
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 1
    for sheet in reader.pages:
        box = sheet.mediabox
        assert (round(float(box.width)), round(float(box.height))) == A4_POINTS
    text = " ".join(sheet.extract_text() for sheet in reader.pages)
    assert record.number in text
    assert "Bên giao" in text and "Bên nhận" in text
    assert "450.000" in text  # the fees handed over

    officer = make_staff("agency")
    other = browser_page.context.browser.new_context(locale="vi-VN")
    agency_page = other.new_page()
    sign_in(agency_page, base, officer.user.username)
    agency_page.goto(f"{base}/handovers/{record.number}")
    given = add_working_days(today_vn(), 15)
    agency_page.fill("#date-1", given.isoformat())
    agency_page.click("#confirm-form button[type=submit]")
    agency_page.wait_for_load_state()
    assert re.search(r"Đã xác nhận biên bản giao nhận", agency_page.inner_text("main"))
    assert agency_page.locator("#confirm-form").count() == 0
    other.close()
    fresh_session()
    first = db.session.scalar(select(Dossier).where(Dossier.code == codes[0]))
    assert first.status == "processing" and first.appointment_date == given
