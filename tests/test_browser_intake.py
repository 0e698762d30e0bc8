"""A clerk at the counter in real Chromium: find the procedure, fill the form with a barcode
scanner's Enter in the item number field, land on the receipt and print it on A5."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.browser import screenshot, sign_in
from tests.conftest import fresh_session
from tracker.dossiers.models import Dossier
from tracker.extensions import db

A5_POINTS = (420, 595)  # 148 x 210 mm


def dossier_count() -> int:
    fresh_session()
    return db.session.scalar(select(func.count(Dossier.id)))


def test_a_clerk_logs_a_dossier_and_prints_the_receipt(
    app, live_server, browser_page, clerk, tmp_path
):
    page, base = browser_page, live_server.url
    sign_in(page, base, clerk.user.username)
    page.wait_for_load_state()

    page.goto(f"{base}/dossiers/new")
    page.fill("#q", "ly lich tu phap")
    page.click("form.procedure-search button[type=submit]")
    page.click("a[href='/dossiers/new?procedure=1.001234']")
    form_url = page.url

    page.fill("#applicant-name", "Trần Thị Bình")
    page.fill("#applicant-phone", "0987654321")
    page.fill("#delivery_address", "45 Phạm Văn Thuận, Tân Mai, Biên Hòa")
    page.fill("#documents-0-name", "Tờ khai yêu cầu cấp phiếu lý lịch tư pháp")
    page.fill("#documents-1-name", "Căn cước công dân")
    page.select_option("#documents-1-kind", "copy")
    page.fill("#documents-2-name", "Sổ hộ khẩu")
    page.select_option("#documents-2-kind", "certified_copy")
    # More rows than the page offered: the script adds one.
    rows = page.locator("tr[data-row]").count()
    page.click("button.add-row")
    assert page.locator("tr[data-row]").count() == rows + 1
    page.fill(f"#documents-{rows}-name", "Giấy ủy quyền")
    page.fill(f"#documents-{rows}-count", "2")

    # A scanner types the number and Enter: the form must not be submitted.
    scanner = page.locator("#postal_item_number")
    scanner.press_sequentially("ee123456785vn")
    scanner.press("Enter")
    page.wait_for_timeout(300)
    assert page.url == form_url
    assert scanner.input_value() == "EE123456785VN"
    assert page.evaluate("document.activeElement.id") == "fee_vnd"
    assert dossier_count() == 0
    screenshot(page, "intake", tmp_path)

    with page.expect_navigation() as navigation:
        page.click("form[data-intake] button[type=submit]")
    assert navigation.value.status == 201
    assert dossier_count() == 1
    code = db.session.scalars(select(Dossier.code)).one()

    receipt = page.locator("article.receipt")
    assert code in receipt.inner_text()
    assert re.search(r"[0-9A-Z]{5}-[0-9A-Z]{5}", page.locator("[data-secret]").inner_text())
    for image in ("img.qr", "img.barcode"):
        assert page.locator(image).is_visible()
        assert page.eval_on_selector(image, "img => img.complete && img.naturalWidth") > 0
    assert "Giấy ủy quyền" in receipt.inner_text()
    screenshot(page, "receipt", tmp_path)
    # On a phone the receipt reflows instead of widening the page.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 900})

    # On paper: no site header, no buttons; the receipt alone, on one A5 sheet.
    page.emulate_media(media="print")
    assert page.locator("button[data-print]").is_hidden()
    assert page.locator(".site-header").is_hidden()
    assert receipt.is_visible()
    pdf = page.pdf(prefer_css_page_size=True)
    sizes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", pdf)
    assert len(sizes) == 1, f"the receipt takes {len(sizes)} pages"
    width, height = (round(float(number)) for number in sizes[0])
    assert (width, height) == A5_POINTS
