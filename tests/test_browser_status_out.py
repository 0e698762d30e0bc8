"""The admin in real Chromium: subscribes an agency's one-stop system, copies the secret shown
once, and finds the deliveries page with its filters and replay form labelled."""

from __future__ import annotations

from sqlalchemy import select

from tests.browser import screenshot, sign_in
from tests.conftest import fresh_session
from tests.test_browser_pages import UNLABELLED
from tracker.extensions import db
from tracker.status_out.models import StatusSubscription


def test_an_admin_subscribes_an_agency(
    app, live_server, browser_page, make_staff, catalogue, tmp_path
):
    admin = make_staff("admin")
    page = browser_page
    sign_in(page, live_server.url, admin.user.username)
    page.goto(f"{live_server.url}/admin/subscriptions")
    page.click("a.button.primary")  # "Đăng ký mới"
    assert page.evaluate(UNLABELLED) == []
    page.select_option("#agency_code", catalogue.agency.code)
    page.fill("#url", "https://motcua.example.gov.vn/hooks/post")
    page.check("#status-delivered")
    page.click("form button.primary")
    secret = page.inner_text("#secret").strip()
    assert secret.startswith("whsec_")
    fresh_session()
    made = db.session.scalar(select(StatusSubscription))
    assert made.secret == secret and made.statuses == ["delivered"] and made.active
    page.click("a.button.primary")  # back to the list, where the secret is gone
    assert secret not in page.content()
    assert page.locator("tbody tr", has_text="motcua.example.gov.vn").count() == 1
    page.goto(f"{live_server.url}/admin/deliveries")
    assert page.locator("h1").count() == 1
    assert page.evaluate(UNLABELLED) == []
    screenshot(page, "admin-status-deliveries", tmp_path)
