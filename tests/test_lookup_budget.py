"""The daily budget of misses of one postal item number (tracker/tracking/budget.py).

Each test runs with the limiter's in-process memory storage and with a real Redis server (as
production), on both database backends. The clock is moved by passing `now` to the budget, never
by sleeping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.pages import text_of
from tests.servers import GunicornServer
from tracker import counters
from tracker.calendar import utcnow
from tracker.extensions import limiter
from tracker.tracking import budget

ITEM = "RA473124829VN"
RIGHT = "5678"  # the conftest applicant's phone ends so
OTHER_ITEM = "EE123456785VN"
BUDGET = 10
# 23:59:59 on 1 January 2025 in Vietnam (UTC+7); one second later it is the 2nd there, still
# the 1st in UTC.
LAST_SECOND = datetime(2025, 1, 1, 16, 59, 59, tzinfo=UTC)
NEXT_DAY = LAST_SECOND + timedelta(seconds=1)


@contextmanager
def limiter_storage(app, uri: str) -> Iterator[None]:
    """The limiter (and so the budget) counts in `uri` meanwhile; the test app's own after."""
    saved = app.config["RATELIMIT_STORAGE_URI"]
    app.config["RATELIMIT_STORAGE_URI"] = uri
    limiter.init_app(app)
    try:
        yield
    finally:
        app.config["RATELIMIT_STORAGE_URI"] = saved
        limiter.init_app(app)


@pytest.fixture(params=["memory", "redis"])
def store(request, app) -> Iterator[str]:
    """The limiter's storage for this test: in-process memory, or the real Redis server."""
    if request.param == "memory":
        yield "memory"
        return
    with limiter_storage(app, request.getfixturevalue("redis_url")):
        yield "redis"


@pytest.fixture
def dossier(create_dossier, store) -> dict:
    return create_dossier(postal_item_number=ITEM)


def ask(app, path="/api/v1/track", *, address="10.0.0.1", **params):
    """One lookup from its own client (address): the item budget is the same whoever asks."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client.get(f"{path}?{urlencode(params)}")


def miss(app, number: int, path="/api/v1/track", item=ITEM):
    """A wrong phone ending, from a new address each time."""
    return ask(
        app,
        path,
        address=f"10.1.{number // 250}.{number % 250}",
        item=item,
        phone_last4=f"{9000 + number:04d}",
    )


def right(app, path="/api/v1/track"):
    return ask(app, path, address="10.9.9.9", item=ITEM, phone_last4=RIGHT)


def by_code(app, dossier, path="/api/v1/track"):
    return ask(app, path, address="10.9.9.8", code=dossier["code"], secret=dossier["lookup_secret"])


def test_ten_misses_then_the_right_ending_answers_429(app, dossier):
    misses = [miss(app, number).status_code for number in range(BUDGET)]
    now = utcnow()
    refused = right(app)

    assert misses == [404] * BUDGET
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited"
    assert error["reason"] == "item_misses_per_day"
    assert "wrong phone number" in error["message"] and "code and secret" in error["message"]
    # Retry-After: the seconds to midnight in Vietnam.
    assert 0 <= budget.seconds_left_today(now) - int(refused.headers["Retry-After"]) <= 5
    # The receipt keeps working, and other items keep their own budgets.
    assert by_code(app, dossier).status_code == 200
    assert miss(app, 0, item=OTHER_ITEM).status_code == 404


def test_the_page_says_why_and_offers_the_code(app, dossier):
    misses = [miss(app, number, "/track").status_code for number in range(BUDGET)]
    refused = right(app, "/track")

    assert misses == [404] * BUDGET
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    text = text_of(refused)
    assert "Tạm ngừng tra cứu theo số hiệu bưu gửi này trong hôm nay" in text
    assert "vẫn tra cứu được bằng mã hồ sơ và mã tra cứu" in text
    assert '<input id="code"' in refused.get_data(as_text=True)
    assert by_code(app, dossier, "/track").status_code == 200


def test_right_answers_never_spend_the_budget(app, dossier):
    spent = [miss(app, number).status_code for number in range(BUDGET - 1)]
    answers = [right(app, ("/api/v1/track", "/track")[n % 2]).status_code for n in range(50)]
    last_miss = miss(app, BUDGET)
    refused = right(app)

    assert spent == [404] * (BUDGET - 1)
    assert answers == [200] * 50
    assert last_miss.status_code == 404
    assert refused.status_code == 429


def test_page_and_api_share_the_budget(app, dossier):
    page = [miss(app, number, "/track").status_code for number in range(BUDGET // 2)]
    api = [miss(app, number, "/api/v1/track").status_code for number in range(BUDGET // 2)]

    assert page + api == [404] * BUDGET
    assert right(app, "/track").status_code == 429
    assert right(app, "/api/v1/track").status_code == 429


def test_the_count_expires_at_the_end_of_the_vietnam_day(app, dossier):
    now = utcnow()
    miss(app, 0)

    left = counters.seconds_left(budget.misses_key(ITEM, now))
    assert 0 <= budget.seconds_left_today(now) - left <= 5


def test_the_budget_is_back_the_next_vietnam_day(app, dossier):
    """Spent at the last second of a day in Vietnam (still 16:59 UTC); back one second later."""
    for _ in range(BUDGET):
        assert budget.find_by_item_and_phone(ITEM, "0000", now=LAST_SECOND) is None
    with pytest.raises(budget.ItemLookupsPaused) as paused:
        budget.find_by_item_and_phone(ITEM, RIGHT, now=LAST_SECOND)
    assert paused.value.retry_after == 1
    assert paused.value.headers == {"Retry-After": "1"}

    found = budget.find_by_item_and_phone(ITEM, RIGHT, now=NEXT_DAY)
    fresh = [budget.find_by_item_and_phone(ITEM, "0000", now=NEXT_DAY) for _ in range(BUDGET)]

    assert found is not None and found["code"] == dossier["code"]
    assert fresh == [None] * BUDGET
    with pytest.raises(budget.ItemLookupsPaused) as paused:
        budget.find_by_item_and_phone(ITEM, RIGHT, now=NEXT_DAY)
    assert paused.value.retry_after == 24 * 3600


def test_seconds_left_today_counts_to_midnight_in_vietnam():
    assert budget.seconds_left_today(LAST_SECOND) == 1
    assert budget.seconds_left_today(NEXT_DAY) == 24 * 3600
    # 00:00 UTC is 07:00 in Vietnam: 17 hours left there.
    assert budget.seconds_left_today(datetime(2025, 1, 2, tzinfo=UTC)) == 17 * 3600


def test_repeated_misses_never_pass_the_budget(app, dossier):
    statuses = [miss(app, number).status_code for number in range(3 * BUDGET)]

    assert statuses == [404] * BUDGET + [429] * (2 * BUDGET)
    # The refused tries were given back: the right ending is refused, not counted further.
    assert right(app).status_code == 429


def test_parallel_tries_never_pass_the_budget(app, create_dossier, redis_url):
    """Threads against the app counting in Redis (as every production worker does): one atomic
    increment per try, so parallel guesses cannot all pass a check made before any of them was
    counted. (The memory store is one development process's: repeated calls above.)"""
    create_dossier(postal_item_number=ITEM)

    def guess(number: int) -> tuple[str, int]:
        if number % 4 == 0:
            return "right", right(app).status_code
        return "miss", miss(app, number).status_code

    with limiter_storage(app, redis_url), ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(guess, range(6 * BUDGET)))

    misses = [status for kind, status in answers if kind == "miss"]
    rights = [status for kind, status in answers if kind == "right"]
    assert set(misses) <= {404, 429} and set(rights) <= {200, 429}
    assert misses.count(404) <= BUDGET
    assert 200 in rights  # before the budget is spent, the citizen is answered


def test_parallel_misses_against_live_servers_never_pass_the_budget(
    database_url, redis_url, create_dossier
):
    """Two gunicorn workers counting in one Redis take a burst of wrong endings from many
    threads: exactly the default budget of them is answered, then the item is refused."""
    created = create_dossier(postal_item_number=ITEM)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACK_RATE_LIMIT": "10000 per minute",
        "TRACKER_ENV": "development",
    }
    wrong = [f"{n:04d}" for n in range(9000, 9040)]
    receipt = urlencode({"code": created["code"], "secret": created["lookup_secret"]})
    with GunicornServer(env, workers=2) as server, ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(
            pool.map(
                lambda ending: server.get(f"/api/v1/track?item={ITEM}&phone_last4={ending}")[0],
                wrong,
            )
        )
        after = server.get(f"/api/v1/track?item={ITEM}&phone_last4={RIGHT}")
        by_receipt = server.get(f"/api/v1/track?{receipt}")[0]

    assert sorted(answers) == [404] * BUDGET + [429] * (len(wrong) - BUDGET)
    assert after[0] == 429 and int(after[1]["Retry-After"]) > 0
    assert by_receipt == 200
