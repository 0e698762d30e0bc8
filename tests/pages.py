"""Helpers for page tests: the CSRF token of a page, signing in, posting a form."""

from __future__ import annotations

import re
from html import unescape

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(response: TestResponse) -> str:
    """The CSRF token of the page's first form."""
    match = _TOKEN.search(response.get_data(as_text=True))
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    """Sign in through the form, as a person does; returns the answer to the POST."""
    token = csrf_of(client.get("/login"))
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def post_form(client: FlaskClient, url: str, data: dict, *, page: str | None = None, **kwargs):
    """POST `data` to `url` with the CSRF token of `page` (by default `url` itself)."""
    token = csrf_of(client.get(page or url))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def text_of(response: TestResponse) -> str:
    """The page's text without tags, whitespace folded: for asserting what a person reads."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
