"""Feeds through real worker processes and a real Redis: end to end (signed), a worker killed
mid-batch, the same batch twice, events in reverse time order. Each ends with exact counts."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from bench.feeds_data import one_way_row
from tests.conftest import PASSWORD, Staff
from tests.test_feeds import START, item, post_batch, postal
from tracker.accounts.operations import create_user, issue_token
from tracker.calendar import utcnow
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.feeds.models import FeedBatch, FeedEvent
from tracker.notifications.models import Notification
from tracker.webhooks import new_secret

POSTAL = "/api/v1/feeds/postal"


@pytest.fixture
def feed(app, catalogue) -> Staff:
    """The post's integration account, with a feed:postal token."""
    user = create_user("post-feed", "integration", PASSWORD)
    token = issue_token(user, name="feed", scopes=["feed:postal"])
    db.session.commit()
    return Staff(user, token)


def bulk_one_way(catalogue, count: int) -> list[str]:
    """`count` one-way dossiers (at result_collected since START) with item numbers, inserted in
    one statement: creating thousands through the API would take most of the test's time."""
    procedure, office = catalogue.return_procedure, catalogue.office
    rows = [
        one_way_row(
            f"{procedure.agency.code}-T-{n:06d}", procedure, office, item(n), f"09{n:08d}", START
        )
        for n in range(1, count + 1)
    ]
    db.session.execute(insert(Dossier.__table__), rows)
    db.session.commit()
    return [row["postal_item_number"] for row in rows]


def delivery_events(items: list[str], prefix: str = "ev") -> list[dict]:
    """Out for delivery, then delivered, for each item: two events each."""
    events = []
    for n, number in enumerate(items):
        events.append(postal(f"{prefix}-{n}-out", number, "EDG", 60 + n * 0.01))
        events.append(postal(f"{prefix}-{n}-done", number, "EMI", 120 + n * 0.01))
    return events


def count(*what, where=()) -> int:
    db.session.expire_all()
    value = db.session.scalar(select(func.count(*what)).select_from(what[0].table).where(*where))
    db.session.commit()
    return value


def by_state() -> dict[str, int]:
    db.session.expire_all()
    rows = db.session.execute(select(FeedEvent.state, func.count()).group_by(FeedEvent.state))
    result = dict(rows.all())
    db.session.commit()
    return result


def wait_for(condition, seconds: float, worker) -> None:
    worker.wait_for(condition, seconds, every=0.05, describe=lambda: f"feed events {by_state()}")


def settled() -> int:
    return count(FeedEvent.id, where=[FeedEvent.state != "pending"])


def applied_exactly_once(expected: int) -> None:
    """Every feed event id has exactly one status event."""
    db.session.expire_all()
    per_id = (
        select(StatusEvent.source_event_id, func.count().label("n"))
        .where(StatusEvent.source == "postal_feed")
        .group_by(StatusEvent.source_event_id)
        .subquery()
    )
    histogram = dict(
        db.session.execute(select(per_id.c.n, func.count()).group_by(per_id.c.n)).all()
    )
    db.session.commit()
    assert histogram == {1: expected}, f"status events per source_event_id: {histogram}"


def test_signed_batch_over_http_is_applied_by_a_worker_and_notifies(
    app, client, catalogue, feed, start_worker, monkeypatch
):
    [number] = bulk_one_way(catalogue, 1)
    worker = start_worker()
    moment = utcnow() - timedelta(minutes=5)
    event = {**postal("live-1", number, "EDG", 0), "occurred_at": moment.isoformat()}
    secret = new_secret()
    monkeypatch.setitem(app.config, "FEED_POSTAL_SECRET", secret)

    response = post_batch(client, POSTAL, [event], feed, secret=secret)

    assert response.status_code == 202, response.get_json()
    wait_for(lambda: by_state() == {"applied": 1}, 30, worker)
    dossier = db.session.scalar(select(Dossier).where(Dossier.postal_item_number == number))
    assert dossier.status == "out_for_delivery"
    notices = db.session.scalars(select(Notification).where(Notification.dossier_id == dossier.id))
    kinds = [(n.kind, n.channel, n.recipient) for n in notices]
    assert kinds == [("out_for_delivery", "sms", dossier.applicant_phone)], (
        "applying an out-for-delivery event must queue an SMS to the applicant "
        f"(queue_notifications, called by record_event); found {kinds}"
    )
    batch = client.get(response.get_json()["status_url"], headers=feed.headers).get_json()
    assert batch["done"] and batch["counts"]["applied"] == 1


def test_worker_killed_mid_batch_every_event_applied_exactly_once(
    client, catalogue, feed, start_worker
):
    items = bulk_one_way(catalogue, 5000)
    events = delivery_events(items)
    assert len(events) == 10_000
    first = start_worker()

    response = post_batch(client, POSTAL, events, feed)

    assert response.status_code == 202 and response.get_json()["accepted"] == 10_000
    wait_for(lambda: settled() >= 1000, 60, first)
    first.kill()
    done_before_kill = settled()
    assert done_before_kill < 10_000, (
        "the worker finished before it was killed: test proves nothing"
    )
    # The relay (beat) publishes the batch's task again; Redis would redeliver it too.
    second = start_worker(beat=True, OUTBOX_RELAY_SECONDS="1")
    wait_for(lambda: settled() == 10_000, 120, second)

    assert by_state() == {"applied": 10_000}
    applied_exactly_once(10_000)
    assert count(Dossier.id, where=[Dossier.status == "delivered"]) == 5000
    wait_for(
        lambda: count(FeedBatch.id, where=[FeedBatch.processed_at.is_not(None)]) == 1, 30, second
    )


def test_same_batch_posted_twice_applies_once(client, catalogue, feed, start_worker):
    items = bulk_one_way(catalogue, 500)
    events = [*delivery_events(items), postal("stray", item(99_999), "EDG", 1)]
    worker = start_worker()

    first = post_batch(client, POSTAL, events, feed).get_json()["batch_id"]
    second = post_batch(client, POSTAL, events, feed).get_json()["batch_id"]

    wait_for(lambda: settled() == 2 * len(events), 60, worker)
    assert by_state() == {"applied": 1000, "duplicate": 1000, "unmatched": 2}
    assert (
        count(FeedEvent.id, where=[FeedEvent.batch_id == first, FeedEvent.state == "applied"])
        == 1000
    )
    assert (
        count(FeedEvent.id, where=[FeedEvent.batch_id == second, FeedEvent.state == "duplicate"])
        == 1000
    )
    applied_exactly_once(1000)
    assert count(Dossier.id, where=[Dossier.status == "delivered"]) == 500


def test_events_in_reverse_time_order(client, catalogue, feed, start_worker):
    items = bulk_one_way(catalogue, 300)
    worker = start_worker()
    # One batch written newest first: applied in time order all the same.
    reversed_batch = list(reversed(delivery_events(items[:100], "r")))
    post_batch(client, POSTAL, reversed_batch, feed)
    # Newer events first, then, in a later batch, older ones: kept, the status does not go back.
    newer = [postal(f"n-{k}", number, "EDG", 90) for k, number in enumerate(items[100:])]
    post_batch(client, POSTAL, newer, feed)
    wait_for(lambda: settled() == 400, 60, worker)
    older = [
        postal(f"o-{k}", number, "EMH", 60, note="Vắng nhà") for k, number in enumerate(items[100:])
    ]
    post_batch(client, POSTAL, older, feed)
    wait_for(lambda: settled() == 600, 60, worker)

    assert by_state() == {"applied": 400, "late": 200}
    assert count(Dossier.id, where=[Dossier.status == "delivered"]) == 100
    assert count(Dossier.id, where=[Dossier.status == "out_for_delivery"]) == 200
    assert count(StatusEvent.id, where=[StatusEvent.applied.is_(False)]) == 200
    applied_exactly_once(600)


def test_a_feed_worker_leaves_the_notices_to_the_deliveries_worker(
    client, catalogue, feed, start_worker
):
    # `make worker` consumes the main queue only; `make worker-deliveries` sends the notices.
    items = bulk_one_way(catalogue, 20)
    moment = (utcnow() - timedelta(minutes=5)).isoformat()
    events = [{**postal(f"q-{n}", number, "EDG", 0), "occurred_at": moment} for n, number in
              enumerate(items)]  # fmt: skip
    feeder = start_worker(queues="tracker")

    post_batch(client, POSTAL, events, feed)

    wait_for(lambda: by_state() == {"applied": 20}, 30, feeder)
    queued = [Notification.state == "queued"]
    assert count(Notification.id, where=queued) == 20
    # Committed with its delivery task, which the feed's worker leaves alone.
    time.sleep(1.5)
    assert count(Notification.id, where=queued) == 20
    sender = start_worker(queues="notifications,status_out")
    sender.wait_for(lambda: count(Notification.id, where=[Notification.state == "sent"]) == 20, 30)
    assert b"notifications.deliver[" not in feeder.log_path.read_bytes()
