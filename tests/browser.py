"""Real headless Chromium for page tests: Playwright drives Debian's /usr/bin/chromium.

`live_server` serves the test app on a loopback port from a thread, so the browser and the test
share the database; `page` is a fresh browser tab that fails the test on any console error (a
script error, or a resource the Content-Security-Policy refused).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# SAVE_SCREENSHOTS=1 keeps the screenshots for the README (docs/screenshots/); otherwise they go
# to a temporary folder and are only proof that the page renders.
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SAVE_SCREENSHOTS = os.environ.get("SAVE_SCREENSHOTS") == "1"


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="session")
def chromium():
    from tests.conftest import IN_CI, missing_service

    if not Path(CHROMIUM).exists():
        missing_service("Chromium", "apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev.txt installs it
        if IN_CI:
            raise
        pytest.skip("Playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """A fresh tab (own cookies) 1280 px wide; console errors fail the test at its end.

    Chromium logs a page answered with an error status (a 404 or 422 page a test asks for) as a
    console error too: those are the test's business, not a fault of the page.
    """
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = context.new_page()
    errors: list[tuple[str, str]] = []
    documents: set[str] = set()
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and errors.append((message.text, message.location.get("url", "")))
        ),
    )
    page.on("pageerror", lambda error: errors.append((str(error), "")))
    page.on(
        "response",
        lambda response: (
            response.request.resource_type == "document" and documents.add(response.url)
        ),
    )
    yield page
    context.close()
    faults = [
        text
        for text, url in errors
        if not (text.startswith("Failed to load resource") and url in documents)
    ]
    assert not faults, f"the browser reported errors: {faults}"


def sign_in(page, base_url: str, username: str) -> None:
    """Sign in through the real form; the page then shows the role's home."""
    from tests.conftest import PASSWORD

    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def screenshot(page, name: str, tmp_path: Path) -> Path:
    """A full-page screenshot NAME.png (in docs/screenshots/ with SAVE_SCREENSHOTS=1)."""
    folder = SCREENSHOTS if SAVE_SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000, "the screenshot is empty"
    return path
