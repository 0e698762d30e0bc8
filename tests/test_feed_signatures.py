"""Feeds signed as Standard Webhooks: a forged, altered, stale or replayed batch is refused, and
the `standardwebhooks` package (the reference) agrees with tracker/webhooks.py both ways."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from config import ConfigError, load_config
from tests.conftest import PASSWORD, Staff
from tests.test_feeds import AGENCY, POSTAL, item, postal
from tracker import webhooks
from tracker.accounts.operations import create_user, issue_token
from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.feeds import operations
from tracker.feeds.models import FeedBatch, FeedEvent
from tracker.outbox.models import OutboxMessage

SECRET = webhooks.new_secret()


@pytest.fixture
def signed_feeds(app, monkeypatch) -> None:
    """Both feeds configured with a secret, as in production (the post's is SECRET)."""
    monkeypatch.setitem(app.config, "FEED_POSTAL_SECRET", SECRET)
    monkeypatch.setitem(app.config, "FEED_AGENCY_SECRET", webhooks.new_secret())


def integration(name: str, scope: str, agency_code: str | None = None) -> Staff:
    user = create_user(name, "integration", PASSWORD, agency_code=agency_code)
    token = issue_token(user, name="feed", scopes=[scope])
    db.session.commit()
    return Staff(user, token)


@pytest.fixture
def post_office(app, catalogue) -> Staff:
    return integration("post", "feed:postal")


def batch_body(*serials: int) -> bytes:
    events = [postal(f"e{n}", item(n), "EDG", n) for n in serials or (1,)]
    return json.dumps({"events": events}).encode()


def send(client, staff, body: bytes, headers: dict[str, str], path: str = POSTAL):
    return client.post(
        path, data=body, headers={**staff.headers, "Content-Type": "application/json", **headers}
    )


def refused_header(response) -> str:
    """The one header a 401 names."""
    assert response.status_code == 401, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "bad_signature"
    [name] = error["fields"]
    return name


def batches() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(FeedBatch))


# ---- a signed batch, and the same message again --------------------------------------------


def test_a_signed_batch_is_stored_with_its_message_id(client, signed_feeds, post_office):
    body = batch_body(1, 2)
    response = send(client, post_office, body, webhooks.sign(SECRET, "msg_first", body))

    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    assert answer["accepted"] == 2 and answer["duplicate"] is False
    status = client.get(answer["status_url"], headers=post_office.headers).get_json()
    assert status["message_id"] == "msg_first"


def test_a_replay_stores_nothing_and_repeats_the_first_answer(client, signed_feeds, post_office):
    body = json.dumps({"events": [postal("e1", item(1), "EDG", 1), {"event_id": "bad"}]}).encode()
    headers = webhooks.sign(SECRET, "msg_replayed", body)
    first = send(client, post_office, body, headers)
    assert first.status_code == 202, first.get_json()

    # The same bytes with the same headers (a replay), then a sender's retry: same id and
    # body, a new timestamp and signature.
    replay = send(client, post_office, body, headers)
    retry = send(client, post_office, body, webhooks.sign(SECRET, "msg_replayed", body))

    for again in (replay, retry):
        assert again.status_code == 200, again.get_json()
        assert again.get_json() == {**first.get_json(), "duplicate": True}
    assert batches() == 1
    assert db.session.scalar(select(func.count()).select_from(FeedEvent)) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_a_message_id_used_again_for_another_body_is_a_409(client, signed_feeds, post_office):
    first_body, other_body = batch_body(1), batch_body(2)
    first = send(client, post_office, first_body, webhooks.sign(SECRET, "msg_7", first_body))
    reused = send(client, post_office, other_body, webhooks.sign(SECRET, "msg_7", other_body))

    assert reused.status_code == 409
    error = reused.get_json()["error"]
    assert error["code"] == "message_id_reused"
    assert error["batch_id"] == first.get_json()["batch_id"]
    assert error["fields"] == {"webhook-id": ["already used for another body"]}
    assert batches() == 1


def test_message_ids_are_remembered_per_feed(client, app, catalogue, signed_feeds, post_office):
    agency = integration("agency-desk", "feed:agency", catalogue.agency.code)
    decision = {"event_id": "a1", "dossier_code": "X-1", "status": "processing"}
    agency_body = json.dumps({"events": [{**decision, "occurred_at": utcnow().isoformat()}]})
    postal_body = batch_body(1)
    agency_headers = webhooks.sign(app.config["FEED_AGENCY_SECRET"], "msg_1", agency_body.encode())

    on_postal = send(client, post_office, postal_body, webhooks.sign(SECRET, "msg_1", postal_body))
    on_agency = send(client, agency, agency_body.encode(), agency_headers, AGENCY)

    assert (on_postal.status_code, on_agency.status_code) == (202, 202)


def test_parallel_identical_posts_store_one_batch(
    app, backend, signed_feeds, post_office, monkeypatch
):
    body = batch_body(1, 2, 3)
    headers = webhooks.sign(SECRET, "msg_twice", body)
    # Two of the sender's servers, a token each: one token's use is recorded under a row lock
    # (tracker/accounts/usage.py), which would line the two requests up before they race.
    second = issue_token(post_office.user, name="2nd", scopes=["feed:postal"])
    senders = [post_office, Staff(post_office.user, second)]
    if backend == "postgresql":
        # Both requests check everything and meet before either stores: only the unique index
        # can then tell them apart. (SQLite runs write requests one after the other.)
        meeting = threading.Barrier(2, timeout=10)
        receive = operations.receive_batch

        def meet_then_receive(*args, **kwargs):
            meeting.wait()
            return receive(*args, **kwargs)

        monkeypatch.setattr(operations, "receive_batch", meet_then_receive)
    db.session.commit()

    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda staff: send(app.test_client(), staff, body, headers), senders)
        )

    assert sorted(a.status_code for a in answers) == [200, 202], [a.get_json() for a in answers]
    assert len({a.get_json()["batch_id"] for a in answers}) == 1
    assert batches() == 1
    assert db.session.scalar(select(func.count()).select_from(FeedEvent)) == 3


# ---- refused at the door: 401 naming the header --------------------------------------------


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_a_401_naming_it(client, signed_feeds, post_office, missing):
    body = batch_body()
    headers = webhooks.sign(SECRET, "msg_1", body)
    del headers[missing]
    assert refused_header(send(client, post_office, body, headers)) == missing
    assert batches() == 0


def test_an_unsigned_batch_and_the_old_scheme_are_refused(client, signed_feeds, post_office):
    body = batch_body()
    assert refused_header(send(client, post_office, body, {})) == "webhook-id"
    old = {"X-Signature": "sha256=" + "0" * 64}
    assert refused_header(send(client, post_office, body, old)) == "webhook-id"


def test_a_tampered_body_is_a_401(client, signed_feeds, post_office):
    body = batch_body(1)
    headers = webhooks.sign(SECRET, "msg_1", body)
    tampered = body.replace(b'"EDG"', b'"EMI"')
    assert tampered != body
    assert refused_header(send(client, post_office, tampered, headers)) == "webhook-signature"
    # The id and the timestamp are signed too.
    earlier = str(int(headers["webhook-timestamp"]) - 1)
    for name, value in (("webhook-id", "msg_2"), ("webhook-timestamp", earlier)):
        changed = send(client, post_office, body, {**headers, name: value})
        assert refused_header(changed) == "webhook-signature"
    assert batches() == 0


def test_a_signature_with_another_secret_is_a_401(client, signed_feeds, post_office):
    body = batch_body()
    forged = webhooks.sign(webhooks.new_secret(), "msg_1", body)
    assert refused_header(send(client, post_office, body, forged)) == "webhook-signature"


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_timestamp_beyond_five_minutes_is_a_401(client, signed_feeds, post_office, minutes):
    body = batch_body()
    headers = webhooks.sign(SECRET, "msg_1", body, at=utcnow() + timedelta(minutes=minutes))
    response = send(client, post_office, body, headers)
    assert refused_header(response) == "webhook-timestamp"
    word = "old" if minutes < 0 else "ahead"
    assert response.get_json()["error"]["fields"]["webhook-timestamp"] == [
        f"more than 300 seconds {word}"
    ]
    # Within the tolerance either way, it is taken.
    inside = webhooks.sign(SECRET, "msg_2", body, at=utcnow() + timedelta(minutes=minutes * 0.7))
    assert send(client, post_office, body, inside).status_code == 202


def test_the_tolerance_is_a_setting(client, app, signed_feeds, post_office, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_TOLERANCE_SECONDS", 600)
    body = batch_body()
    headers = webhooks.sign(SECRET, "msg_1", body, at=utcnow() - timedelta(minutes=6))
    assert send(client, post_office, body, headers).status_code == 202


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook-timestamp", "1.7e9"),
        ("webhook-timestamp", "99999999999999999999"),
        ("webhook-signature", "v1,not base64!"),
        ("webhook-signature", "garbage"),
        ("webhook-id", "msg with spaces"),
        ("webhook-id", "m" * 121),
    ],
)
def test_malformed_headers_are_a_401_not_a_crash(client, signed_feeds, post_office, name, value):
    body = batch_body()
    headers = {**webhooks.sign(SECRET, "msg_1", body), name: value}
    assert refused_header(send(client, post_office, body, headers)) == name


def test_a_body_that_is_not_utf8_is_a_401(client, signed_feeds, post_office):
    body = b'{"events": ["\xff"]}'
    headers = webhooks.sign(SECRET, "msg_1", b'{"events": [""]}')
    assert refused_header(send(client, post_office, body, headers)) == "webhook-signature"


def test_a_sender_rotating_its_secret_may_sign_twice(client, signed_feeds, post_office):
    body = batch_body()
    headers = webhooks.sign(SECRET, "msg_1", body)
    old = webhooks.sign(webhooks.new_secret(), "msg_1", body)["webhook-signature"]
    headers["webhook-signature"] = f"{old} {headers['webhook-signature']}"
    assert send(client, post_office, body, headers).status_code == 202


# ---- the reference library -----------------------------------------------------------------


def test_a_batch_signed_by_the_standardwebhooks_package_is_accepted(
    client, signed_feeds, post_office
):
    body, msg_id, now = batch_body(1, 2), "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", utcnow()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body.decode()),
    }
    response = send(client, post_office, body, headers)
    assert response.status_code == 202, response.get_json()


def test_what_the_tracker_signs_the_package_verifies():
    body = batch_body(1)
    headers = webhooks.sign(SECRET, "msg_out", body)
    assert Webhook(SECRET).verify(body, headers) == json.loads(body)
    assert len(base64.b64decode(SECRET.removeprefix("whsec_"), validate=True)) == 32


# ---- without a secret (development, tests) -------------------------------------------------


def test_without_a_secret_signatures_are_ignored_but_ids_remembered(client, post_office):
    body = batch_body()
    assert send(client, post_office, body, {}).status_code == 202
    assert send(client, post_office, body, {}).status_code == 202  # no id: a new batch
    bogus = {"webhook-id": "msg_dev", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
    first = send(client, post_office, body, bogus)
    again = send(client, post_office, body, bogus)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json()["batch_id"] == first.get_json()["batch_id"]
    assert batches() == 3


# ---- production ----------------------------------------------------------------------------


def test_production_refuses_to_start_without_the_feed_secrets(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://tracker@db/tracker")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    for name in ("FEED_POSTAL_SECRET", "FEED_AGENCY_SECRET", "RATELIMIT_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        ConfigError, match="production needs FEED_POSTAL_SECRET, FEED_AGENCY_SECRET"
    ):
        load_config("production")

    monkeypatch.setenv("FEED_POSTAL_SECRET", webhooks.new_secret())
    with pytest.raises(ConfigError, match="production needs FEED_AGENCY_SECRET set"):
        load_config("production")

    monkeypatch.setenv("FEED_AGENCY_SECRET", webhooks.new_secret())
    config = load_config("production")
    assert config["FEED_AGENCY_SECRET"].startswith("whsec_")
    assert config["WEBHOOK_TOLERANCE_SECONDS"] == 300


@pytest.mark.parametrize(
    "value",
    [
        "s3cret-of-the-post",  # the old scheme's plain secret
        "whsec_c2hvcnQ=",  # too short: 5 bytes
        "whsec_not base64 at all!!",
        base64.b64encode(b"k" * 32).decode(),  # no whsec_ prefix
    ],
)
def test_a_secret_not_in_the_standard_form_is_refused_anywhere(monkeypatch, value):
    monkeypatch.setenv("FEED_POSTAL_SECRET", value)
    with pytest.raises(ConfigError, match="FEED_POSTAL_SECRET must be whsec_"):
        load_config("development")
