"""Sign-in attempts: strangers cannot lock a user out, delays grow, the count is atomic, and
every refusal is visible to admins."""

from __future__ import annotations

import http.client
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.pages import sign_in
from tests.servers import GunicornServer
from tracker import counters
from tracker.audit.models import AuditEntry
from tracker.extensions import db, limiter


def client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    entries = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(db.session.scalars(entries))


def test_strangers_guessing_from_many_addresses_do_not_lock_the_user_out(app, make_staff):
    manager = make_staff("manager")
    name = manager.user.username
    for number in range(1, 9):
        assert sign_in(client_at(app, f"203.0.113.{number}"), name, "guess").status_code == 401

    assert sign_in(client_at(app, "198.51.100.7"), name).status_code == 302


def test_the_users_own_address_signs_in_while_strangers_spent_the_name(app, make_staff):
    """Many addresses guessing one name spend the name's budget for strange addresses only."""
    manager = make_staff("manager")
    name = manager.user.username
    app.config["LOGIN_NAME_RATE_LIMIT"] = "6 per hour"
    try:
        home = "198.51.100.7"
        assert sign_in(client_at(app, home), name).status_code == 302  # a familiar address
        for number in range(1, 8):
            sign_in(client_at(app, f"203.0.113.{number}"), name, "guess")
        stranger = sign_in(client_at(app, "203.0.113.99"), name, PASSWORD)
        own = sign_in(client_at(app, home), name)
    finally:
        app.config["LOGIN_NAME_RATE_LIMIT"] = "20 per hour; 50 per day"
    assert stranger.status_code == 429
    assert own.status_code == 302


def test_delays_grow_with_failures(app, make_staff):
    """Past the first window's tries the wait is that window's; past the next, the next's. Tries
    refused during a wait do not count (an impatient user does not climb the ladder)."""
    clerk = make_staff("clerk")
    name, address = clerk.user.username, "192.0.2.10"
    client = client_at(app, address)
    app.config["LOGIN_RATE_LIMIT"] = "2 per 1 minute; 3 per 1 hour"
    try:
        first = [sign_in(client, name, "wrong") for _ in range(5)]
        # The minute passes (its counter expires; the hour's stays).
        limiter.storage.clear(counters.counter_key("sign-in-pair-2-60", name, address))
        after_a_minute = sign_in(client, name, "wrong")
        long_wait = sign_in(client, name, PASSWORD)
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "5 per minute; 10 per 15 minutes; 20 per hour; 40 per day"
    assert [answer.status_code for answer in first] == [401, 401, 429, 429, 429]
    assert all(0 < int(answer.headers["Retry-After"]) <= 60 for answer in first[2:])
    assert after_a_minute.status_code == 401  # the 3rd wrong password the hour allows
    assert long_wait.status_code == 429 and int(long_wait.headers["Retry-After"]) > 60


def test_refusals_and_sign_outs_are_audited_without_writing_down_strange_names(app, make_staff):
    clerk = make_staff("clerk")
    client = client_at(app, "192.0.2.20")
    sign_in(client, "my secret password", "whatever")  # a password typed in the name box
    for _ in range(6):
        sign_in(client, clerk.user.username, "wrong")

    failed = audit("user.sign_in_failed")
    assert [entry.entity_key for entry in failed] == ["?"] + [clerk.user.username] * 5
    assert failed[0].after == {"reason": "unknown_user"} and failed[0].actor_id is None
    assert failed[1].after == {"reason": "wrong_password"}
    assert failed[1].actor_id == clerk.user.id and failed[1].remote_addr == "192.0.2.20"
    assert all("my secret password" not in json.dumps(entry.after) for entry in failed)
    [throttled] = audit("user.sign_in_throttled")
    assert throttled.entity_key == clerk.user.username


def test_one_audit_entry_per_throttled_window(app, make_staff):
    clerk = make_staff("clerk")
    client = client_at(app, "192.0.2.30")
    for _ in range(12):
        sign_in(client, clerk.user.username, "wrong")
    assert len(audit("user.sign_in_throttled")) == 1


def _attempt(port: int, username: str, password: str) -> int:
    """GET the form (cookie + CSRF token), then POST it: what a browser does."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/login")
        form = connection.getresponse()
        cookie = form.getheader("Set-Cookie").split(";")[0]
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.read().decode()).group(1)
        body = urlencode({"username": username, "password": password, "csrf_token": token})
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", "/login", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def test_parallel_attempts_cannot_pass_the_limit_together(database_url, redis_url, make_staff):
    """16 wrong passwords at once against two server processes sharing Redis: exactly the
    limit's 5 are checked, the rest refused."""
    clerk = make_staff("clerk")
    env = {
        **os.environ,
        "TRACKER_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LOGIN_RATE_LIMIT": "5 per hour",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "8192",
    }
    with GunicornServer(env, workers=2) as server, ThreadPoolExecutor(16) as pool:
        statuses = list(
            pool.map(lambda _: _attempt(server.port, clerk.user.username, "wrong"), range(16))
        )
    assert sorted(statuses) == [401] * 5 + [429] * 11
