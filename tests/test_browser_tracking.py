"""A citizen scans the receipt's QR code with a phone: real Chromium on a 360 x 740 touch screen."""

from __future__ import annotations

from contextlib import contextmanager

from tests.browser import screenshot
from tracker.dossiers.receipt import lookup_url

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "vi-VN",
}


@contextmanager
def phone(chromium):
    """A phone's tab; any console error (a script error, a refused resource) fails the test,
    except the one Chromium logs for a page answered 404 or 422 on purpose (a miss, bad input)."""
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    pages: set[str] = set()
    errors: list[str] = []

    def console(message) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource") and message.location["url"] in pages:
            return
        errors.append(f"{message.text} ({message.location['url']})")

    page.on(
        "response",
        lambda response: response.request.is_navigation_request() and pages.add(response.url),
    )
    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the browser reported errors: {errors}"


@contextmanager
def public_base(app, url: str):
    saved = app.config["PUBLIC_BASE_URL"]
    app.config["PUBLIC_BASE_URL"] = url
    try:
        yield
    finally:
        app.config["PUBLIC_BASE_URL"] = saved


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_receipt_qr_url_on_a_phone(app, live_server, chromium, clerk, create_dossier, tmp_path):
    created = create_dossier()
    moved = app.test_client().post(
        f"/api/v1/dossiers/{created['code']}/events",
        json={"status": "forwarded"},
        headers=clerk.headers,
    )
    assert moved.status_code == 201, moved.get_json()
    with public_base(app, live_server.url):
        qr_url = lookup_url(created["code"], created["lookup_secret"])
    assert qr_url.startswith(f"{live_server.url}/track?code=")

    with phone(chromium) as page:
        response = page.goto(qr_url)
        assert response is not None and response.status == 200
        answer = page.locator(".lookup-answer")
        assert "Đã chuyển cơ quan giải quyết" in answer.locator(".lookup-status").inner_text()
        steps = answer.locator(".timeline li")
        assert steps.count() == 2
        assert "Bưu điện đã tiếp nhận" in steps.nth(0).inner_text()
        assert "N***** V** A*" in answer.inner_text()
        assert page_width(page) <= 360, "the answer scrolls sideways on a 360 px phone"
        screenshot(page, "lookup-phone", tmp_path)

        # Another lookup, typed from the receipt with a wrong secret, finds nothing.
        again = page.get_by_role("link", name="Tra cứu hồ sơ khác")
        box = again.bounding_box()
        assert box is not None and box["height"] >= 44, "too small to tap"
        # Measured on the new page, not on the answer while it is still shown.
        with page.expect_navigation():
            again.tap()
        button = page.locator("form button[type=submit]").first.bounding_box()
        assert button is not None and button["height"] >= 44, "too small to tap"
        page.fill("#code", created["code"])
        page.fill("#secret", "AAAAA-AAAAA")
        page.locator("#secret").press("Enter")
        page.wait_for_load_state()
        assert page.locator(".lookup-miss").is_visible()
        assert "Không có hồ sơ nào khớp" in page.locator(".lookup-miss").inner_text()
        assert page_width(page) <= 360

        # The English switch keeps the answer of the QR link.
        page.goto(qr_url)
        page.get_by_role("link", name="English").click()
        page.wait_for_load_state()
        assert page.evaluate("document.documentElement.lang") == "en"
        assert "Handed to the agency" in page.locator(".lookup-status").inner_text()
        assert page_width(page) <= 360


def test_item_form_on_a_phone_keeps_what_was_typed(live_server, chromium, catalogue):
    with phone(chromium) as page:
        page.goto(f"{live_server.url}/")
        assert page.locator("#phone_last4").get_attribute("inputmode") == "numeric"
        page.fill("#item", "RA473124820VN")
        page.fill("#phone_last4", "12a")
        page.locator("#phone_last4").press("Enter")
        page.wait_for_load_state()
        assert page.locator("#phone_last4").get_attribute("aria-invalid") == "true"
        assert page.input_value("#item") == "RA473124820VN"
        assert "phải gồm 4 chữ số" in page.locator("#phone_last4-error").inner_text()
        assert page_width(page) <= 360
