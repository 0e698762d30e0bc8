"""Every page of every role in real Chromium: nothing loaded from another site, no script or
policy error, every control labelled, one main heading, usable at 360 px."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser import sign_in

UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && el.type !== 'submit' && el.type !== 'button')
  .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id)"""


def menu_links(page) -> list[str]:
    return page.eval_on_selector_all(".site-menu a", "links => links.map(a => a.href)")


def check_page(page, url: str, foreign: list[str]) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert page.evaluate("document.documentElement.lang") in {"vi", "en"}
    assert page.locator("h1").count() == 1, url
    assert page.evaluate(UNLABELLED) == [], url
    assert not foreign, f"{url} asked another site for {foreign}"


@pytest.mark.parametrize("role", ["clerk", "agency", "manager", "admin", "postman", "hotline"])
def test_every_menu_page_loads_only_from_here(app, live_server, browser_page, make_staff, role):
    staff = make_staff(role)
    foreign: list[str] = []
    host = urlsplit(live_server.url).netloc

    def watch(route):
        if urlsplit(route.request.url).netloc not in {host, ""}:
            foreign.append(route.request.url)
            return route.abort()
        return route.continue_()

    browser_page.route("**/*", watch)
    check_page(browser_page, f"{live_server.url}/track", foreign)
    sign_in(browser_page, live_server.url, staff.user.username)
    links = menu_links(browser_page)
    assert links, "a signed-in user has a menu"
    for url in links:
        check_page(browser_page, url, foreign)
    # Menus wrap and wide tables scroll inside their frame: the page itself never widens.
    browser_page.set_viewport_size({"width": 360, "height": 740})
    for url in links:
        browser_page.goto(url)
        width = browser_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{url} is {width} px wide on a 360 px screen"
