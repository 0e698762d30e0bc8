"""The admin in real Chromium: signs in, creates a clerk with a generated password, sees it once."""

from __future__ import annotations

from sqlalchemy import select

from tests.browser import screenshot
from tests.conftest import PASSWORD, fresh_session
from tracker.accounts.models import User
from tracker.accounts.operations import verify_password
from tracker.extensions import db


def test_an_admin_creates_a_user(app, live_server, browser_page, make_staff, tmp_path):
    admin = make_staff("admin")
    make_staff("clerk")
    page = browser_page
    page.goto(f"{live_server.url}/login")
    page.fill("#username", admin.user.username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/users")
    page.click("a.button.primary")  # "Thêm người dùng"
    page.fill("#username", "hoa.tran")
    page.fill("#full_name", "Trần Thị Hoa")
    page.select_option("#role", "clerk")
    page.fill("#office", "811000")
    page.check("#generate")
    page.click("form button.primary")
    password = page.inner_text("#secret").strip()
    assert len(password) >= 10
    fresh_session()
    created = db.session.scalar(select(User).where(User.username == "hoa.tran"))
    assert created.office.code == "811000" and verify_password(created, password)
    page.click("a.button.primary")  # back to the user, where the password is gone
    assert password not in page.content()
    page.goto(f"{live_server.url}/admin/users")
    assert page.locator("tbody tr", has_text="hoa.tran").count() == 1
    screenshot(page, "admin-users", tmp_path)


def test_an_admin_ends_a_clerks_session_from_the_users_page(
    app, live_server, browser_page, chromium, make_staff
):
    """Two browsers: the clerk's counter and the admin's console. The admin sees the clerk's
    session (labelled controls, one heading, no wider than a phone) and ends it."""
    from tests.browser import sign_in
    from tests.test_browser_pages import UNLABELLED

    admin = make_staff("admin")
    clerk = make_staff("clerk")
    counter = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(counter, live_server.url, clerk.user.username)
        assert counter.url.endswith("/dossiers")
        console = browser_page
        sign_in(console, live_server.url, admin.user.username)
        console.goto(f"{live_server.url}/admin/users/{clerk.user.id}")
        assert console.locator("h1").count() == 1
        assert console.evaluate(UNLABELLED) == []
        sessions = console.locator("section", has_text="Phiên đang mở").locator("tbody tr")
        assert sessions.count() == 1 and "127.0.0.1" in sessions.inner_text()
        console.set_viewport_size({"width": 360, "height": 740})
        console.reload()
        # Wide tables scroll inside their frame: the page itself never widens.
        assert console.evaluate("document.documentElement.scrollWidth") <= 360
        sessions.locator("button.danger").click()
        console.wait_for_url(f"**/admin/users/{clerk.user.id}")
        assert "Không có phiên nào đang mở" in console.inner_text("main")
        counter.goto(f"{live_server.url}/dossiers")
        assert "/login" in counter.url
    finally:
        counter.context.close()
