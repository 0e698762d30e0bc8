"""The lookup's per-client rate limit (tracker/ratelimit.py): fixed windows counted by
one Lua script in Redis, in process memory without Redis or while it is unreachable.

Each test runs with the real Redis server and with the in-process memory store (no REDIS_URL),
on both database backends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
import redis

from tests.servers import RedisServer, find_redis_server, free_port
from tracker import ratelimit
from tracker.extensions import limiter


@contextmanager
def configured(app, **config) -> Iterator[None]:
    """The app (and the limiter, re-initialised) under `config` meanwhile; as before after."""
    saved = {key: app.config[key] for key in config}
    app.config.update(config)
    limiter.init_app(app)
    try:
        yield
    finally:
        app.config.update(saved)
        limiter.init_app(app)


@pytest.fixture(params=["redis", "memory"])
def store(request, app) -> Iterator[str]:
    if request.param == "memory":
        yield "memory"
        return
    with configured(app, RATELIMIT_STORAGE_URI=request.getfixturevalue("redis_url")):
        yield "redis"


def ask(app, path="/api/v1/track", *, address="10.0.0.1"):
    """A lookup of an unknown code from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client.get(f"{path}?{urlencode({'code': 'X', 'secret': 'Y'})}")


def test_limit_is_per_client_across_api_and_page(app, catalogue, store):
    with configured(app, TRACK_RATE_LIMIT="3 per minute;100 per hour"):
        first = [ask(app, path).status_code for path in ("/track", "/api/v1/track", "/track")]
        api = ask(app)
        page = ask(app, "/track")
        other_client = ask(app, address="10.0.0.2")

    assert first == [404, 404, 404]
    assert api.status_code == 429
    assert api.get_json() == {
        "error": {"code": "rate_limited", "message": "3 per 1 minute", "fields": {}}
    }
    assert 0 < int(api.headers["Retry-After"]) <= 60
    assert page.status_code == 429 and 0 < int(page.headers["Retry-After"]) <= 60
    assert "Quá nhiều lần thử" in page.get_data(as_text=True)
    assert other_client.status_code == 404


def test_bad_arguments_count_too(app, catalogue, store):
    """The count comes before the arguments are read, as Flask-Limiter's did."""
    with configured(app, TRACK_RATE_LIMIT="1 per minute"):
        bad = app.test_client().get("/api/v1/track?code=X")
        refused = app.test_client().get("/api/v1/track?code=X&secret=Y")

    assert bad.status_code == 422
    assert refused.status_code == 429


def test_the_bare_form_costs_no_try(app, catalogue, store):
    with configured(app, TRACK_RATE_LIMIT="1 per minute"):
        forms = [app.test_client().get("/track").status_code for _ in range(3)]
        lookup = ask(app, address="127.0.0.1")

    assert forms == [200, 200, 200]
    assert lookup.status_code == 404


def test_both_windows_and_their_reset(app, store):
    """The short window refuses and resets; the long one keeps counting the answered hits and
    then refuses for the rest of its hour. A refused hit is not counted in longer windows."""
    limits = "2 per second;3 per hour"
    answers = [ratelimit.hit(limits, "test", "client") for _ in range(3)]
    time.sleep(1.1)
    after_reset = ratelimit.hit(limits, "test", "client")
    hour_spent = ratelimit.hit(limits, "test", "client")

    assert answers[:2] == [None, None]
    assert answers[2] == (1, "2 per 1 second")
    assert after_reset is None
    left, described = hour_spent
    assert described == "3 per 1 hour" and 3590 <= left <= 3600
    assert ratelimit.hit(limits, "test", "another client") is None


def test_retry_after_is_what_is_left_of_the_window(app, redis_url):
    with configured(app, RATELIMIT_STORAGE_URI=redis_url):
        ratelimit.hit("1 per minute", "test", "client")
        with redis.Redis.from_url(redis_url) as connection:
            connection.expire("LIMITS:LIMITER/client/test/1/1/minute", 17)
        refused = ratelimit.hit("1 per minute", "test", "client")

    assert refused == (17, "1 per 1 minute")


def test_one_round_trip_per_lookup(app, catalogue, redis_url):
    with configured(app, RATELIMIT_STORAGE_URI=redis_url), redis.Redis.from_url(redis_url) as r:
        ask(app)  # the script is loaded on the first lookup
        r.config_resetstat()
        answers = [ask(app).status_code for _ in range(5)]
        stats = r.info("commandstats")

    assert answers == [404] * 5
    calls = {name: stat["calls"] for name, stat in stats.items()}
    # One EVALSHA per lookup; the INCRs ran inside it, in the server (the window's EXPIRE was
    # set by the first lookup).
    assert calls == {"cmdstat_config|resetstat": 1, "cmdstat_evalsha": 5, "cmdstat_incr": 5}


def test_redis_unreachable_counts_in_process_memory(app, catalogue):
    """Nothing listens where the store points: lookups still answer, and the limit holds in the
    process (as Flask-Limiter's in-memory fallback did) rather than failing with a 500."""
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with configured(app, RATELIMIT_STORAGE_URI=nowhere, TRACK_RATE_LIMIT="2 per minute"):
        answers = [ask(app).status_code for _ in range(3)]
        refused = ask(app, "/track")
        other_client = ask(app, address="10.0.0.2")

    assert answers == [404, 404, 429]
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    assert other_client.status_code == 404


def test_counting_goes_back_to_redis_once_it_answers(app, redis_server):
    """Redis down: counted in memory; once it answers again (tried after a second), counted in
    Redis again, where every worker sees the count."""
    server = RedisServer(find_redis_server())
    try:
        with configured(app, RATELIMIT_STORAGE_URI=server.url):
            while_down = ratelimit.hit("5 per minute", "test", "client")
            server.start()
            time.sleep(1.1)  # the first retry comes a second after the failure
            back = [ratelimit.hit("5 per minute", "test", "client") for _ in range(2)]
            with redis.Redis.from_url(server.url) as connection:
                counted = connection.get("LIMITS:LIMITER/client/test/5/1/minute")
    finally:
        server.stop()

    assert while_down is None and back == [None, None]
    assert counted == b"2"


def test_fallback_off_lets_the_error_through(app):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with (
        configured(app, RATELIMIT_STORAGE_URI=nowhere, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=False),
        pytest.raises(redis.ConnectionError),
    ):
        ratelimit.hit("2 per minute", "test", "client")


def test_nothing_is_counted_when_rate_limits_are_off(app, catalogue, redis_url):
    with configured(
        app, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_ENABLED=False, TRACK_RATE_LIMIT="1/minute"
    ):
        answers = [ask(app).status_code for _ in range(3)]
        with redis.Redis.from_url(redis_url) as connection:
            keys = connection.keys("LIMITS:*")

    assert answers == [404, 404, 404]
    assert keys == []
