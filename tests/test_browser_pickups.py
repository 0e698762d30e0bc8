"""The pickup journey of issue 13 in real Chromium: a hotline operator records a call on the
page, the office's clerk assigns it, the postman collects it on a 360-pixel phone (a barcode
scanner's Enter in the item number field moves on), the citizen opens the SMS's link and sees
the dossier received. The route sheet prints on A4."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.browser import screenshot, sign_in
from tests.conftest import fresh_session
from tests.test_browser_tracking import phone, public_base
from tracker.calendar import add_working_days
from tracker.catalogue.models import Commune, ServiceArea
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.notifications.messages import SECRET_PLACEHOLDER
from tracker.notifications.models import Notification
from tracker.pickups.models import Pickup

A4_LANDSCAPE_POINTS = (842, 595)


@pytest.fixture
def served(app, catalogue):
    commune = Commune(code="26041", name="Phường Trấn Biên", province="Đồng Nai")
    db.session.add(ServiceArea(commune=commune, office=catalogue.office))
    catalogue.procedure.documents = [
        {"name": "Tờ khai", "kind": "original", "count": 1},
        {"name": "Căn cước công dân", "kind": "copy", "count": 1},
    ]
    db.session.commit()
    return commune


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def sms_link(dossier: Dossier) -> str:
    """The lookup link of the SMS the citizen gets, as the gateway sends it (the secret kept
    apart until then is put in its place)."""
    fresh_session()
    sms = db.session.scalar(
        select(Notification).where(
            Notification.dossier_id == dossier.id, Notification.channel == "sms"
        )
    )
    body = sms.body.replace(SECRET_PLACEHOLDER, sms.lookup_secret)
    return re.search(r"https?://\S+/track\?\S+", body).group(0)


def test_a_call_is_assigned_collected_at_the_door_and_looked_up_by_the_citizen(
    app, live_server, browser_page, chromium, make_staff, served, today, tmp_path
):
    base = live_server.url
    day = add_working_days(today, 1)
    hotline, clerk = make_staff("hotline"), make_staff("clerk")
    postman = make_staff("postman")
    postman.user.full_name = "Lê Văn Bưu"
    db.session.commit()

    # The hotline operator records the call.
    page = browser_page
    sign_in(page, base, hotline.user.username)
    page.goto(f"{base}/pickups/new")
    page.set_viewport_size({"width": 360, "height": 740})
    assert page_width(page) <= 360  # the operator's form reflows on a phone too
    page.set_viewport_size({"width": 1280, "height": 900})
    page.fill("#caller_name", "Nguyễn Văn An")
    page.fill("#phone", "0912 345 678")
    page.fill("#address-street", "12 Đường 30/4, khu phố 3")
    page.select_option("#address-commune_code", "26041")
    page.fill("#procedure_code", "1.001234")
    page.check("#slot-afternoon")
    assert page.input_value("#day") == day.isoformat()
    page.click("form.call-form button[type=submit]")
    page.wait_for_load_state()
    reference = page.locator("[data-reference]").inner_text().strip()
    assert re.fullmatch(r"TG-[0-9A-Z]{4}-[0-9A-Z]{4}", reference)
    assert "Bưu cục Biên Hòa" in page.locator("[data-office]").inner_text()

    # The clerk assigns it to the office's postman.
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    desk = context.new_page()
    sign_in(desk, base, clerk.user.username)
    desk.goto(f"{base}/pickups?day={day.isoformat()}")
    desk.select_option(f"#postman-{reference}", postman.user.username)
    desk.click(f"tr[data-ref='{reference}'] form[data-assign] button[type=submit]")
    desk.wait_for_load_state()
    assert "Lê Văn Bưu" in desk.locator("p.flash-success").inner_text()
    context.close()

    # The postman collects it at the door, on a phone.
    with phone(chromium) as mobile:
        sign_in(mobile, base, postman.user.username)
        mobile.goto(f"{base}/pickups?day={day.isoformat()}")
        card = mobile.locator(f"article.pickup-card:has(a:text-is('{reference}'))")
        assert card.is_visible() and page_width(mobile) <= 360
        card.locator("a.button.primary").click()
        mobile.wait_for_load_state()
        assert mobile.input_value("#applicant-name") == "Nguyễn Văn An"
        assert mobile.input_value("#documents-1-name") == "Căn cước công dân"
        form_url = mobile.url
        scanner = mobile.locator("#postal_item_number")
        scanner.press_sequentially("ee123456785vn")
        scanner.press("Enter")
        mobile.wait_for_timeout(300)
        assert mobile.url == form_url  # Enter moved on, it did not send the form
        assert scanner.input_value() == "EE123456785VN"
        assert mobile.evaluate("document.activeElement.id") == "fee_vnd"
        assert page_width(mobile) <= 360
        screenshot(mobile, "pickup-collect-phone", tmp_path)
        mobile.click("form[data-intake] button[type=submit]")
        mobile.wait_for_load_state()
        fresh_session()
        dossier = db.session.scalar(select(Dossier))
        assert dossier.channel.code == "hotline_1022"
        assert dossier.code in mobile.locator("[data-dossier-code]").inner_text()
        assert "SMS" in mobile.locator("section.collected").inner_text()
        # Back to the form: the request is collected, its page says so; still one dossier.
        mobile.go_back()
        mobile.wait_for_load_state()
        assert "đã được thu gom" in mobile.locator("p.flash-error").inner_text()
        fresh_session()
        assert len(db.session.scalars(select(Dossier)).all()) == 1
        pickup = db.session.scalar(select(Pickup).where(Pickup.reference == reference))
        assert pickup.state == "collected" and pickup.dossier_id == dossier.id

    # The citizen opens the SMS's link and sees the dossier received.
    link = urlsplit(sms_link(dossier))
    with public_base(app, base), phone(chromium) as citizen:
        citizen.goto(f"{base}{link.path}?{link.query}")
        text = citizen.locator("main").inner_text()
        assert dossier.code in text and "Bưu điện đã tiếp nhận" in text
        assert page_width(citizen) <= 360


def test_the_route_sheet_prints_on_a4(
    live_server, browser_page, make_staff, served, today, tmp_path
):
    base = live_server.url
    day = add_working_days(today, 1)
    postman = make_staff("postman")
    plan = (
        ("TG-AAAA-0001", "afternoon", "Trần Thị Bình"),
        ("TG-AAAA-0002", "morning", "Nguyễn Văn An"),
    )
    for reference, slot, caller in plan:
        db.session.add(
            Pickup(
                reference=reference,
                state="assigned",
                caller_name=caller,
                phone="0912345678",
                street="12 Đường 30/4",
                commune=served,
                office=postman.user.office,
                service_form="two_way",
                day=day,
                slot=slot,
                postman=postman.user,
            )
        )
    db.session.commit()
    page = browser_page
    sign_in(page, base, postman.user.username)
    page.goto(f"{base}/pickups/route?day={day.isoformat()}")
    rows = page.locator("table.route tbody tr")
    assert rows.count() == 2
    assert "Nguyễn Văn An" in rows.nth(0).inner_text()  # the morning first
    screenshot(page, "pickup-route-sheet", tmp_path)
    page.emulate_media(media="print")
    assert page.locator(".site-header").is_hidden()
    assert page.locator("button[data-print]").is_hidden()
    pdf = page.pdf(prefer_css_page_size=True)
    sizes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", pdf)
    assert len(sizes) == 1, f"the sheet takes {len(sizes)} pages"
    assert tuple(round(float(n)) for n in sizes[0]) == A4_LANDSCAPE_POINTS
