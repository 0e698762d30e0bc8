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
