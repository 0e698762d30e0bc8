"""The outbox: work committed with its cause, published after commit, relayed when lost; task
leases; a real worker process running what the outbox publishes."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.outbox import operations as outbox
from tracker.outbox.models import OutboxMessage


def test_enqueued_message_is_rolled_back_with_its_cause(app):
    outbox.enqueue("outbox.relay")
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 0


def test_commits_do_not_wait_for_an_unreachable_broker(app):
    # The testing profile's broker is in memory; point it at a closed port instead.
    from workers import celery_init_app

    previous = app.extensions["celery"]
    celery_init_app(app, broker_url="redis://127.0.0.1:9/0")
    try:
        messages = []
        started = time.monotonic()
        for _ in range(10):
            messages.append(outbox.enqueue("outbox.relay"))
            db.session.commit()
        # The first attempt may wait for the connect timeout; the others leave it to the relay.
        assert time.monotonic() - started < 4
    finally:
        app.extensions["celery"] = previous
        previous.set_default()
    for message in messages:
        stored = db.session.get(OutboxMessage, message.id)
        assert stored.done_at is None and stored.dispatched_at is None


def test_relay_publishes_only_what_is_overdue(app, broker):
    fresh = outbox.enqueue("outbox.relay")
    stale = outbox.enqueue("outbox.relay")
    stale.created_at = utcnow() - timedelta(minutes=5)
    done = outbox.enqueue("outbox.relay")
    done.created_at = utcnow() - timedelta(minutes=5)
    done.done_at = utcnow()
    db.session.commit()
    assert outbox.relay() == 1
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, stale.id).dispatch_count == 1
    assert db.session.get(OutboxMessage, fresh.id).dispatch_count == 0
    # Just dispatched: not again until OUTBOX_RETRY_AFTER_SECONDS have passed.
    assert outbox.relay() == 0


def test_relay_waits_longer_after_each_dispatch_and_gives_up_in_the_end(app, broker):
    five_minutes_ago = utcnow() - timedelta(minutes=5)
    # Retry after 60 s, doubled per dispatch: after 3 dispatches the wait is 8 minutes.
    backing_off = outbox.enqueue("outbox.relay")
    backing_off.dispatched_at, backing_off.dispatch_count = five_minutes_ago, 3
    given_up = outbox.enqueue("outbox.relay")
    given_up.dispatched_at, given_up.dispatch_count = five_minutes_ago, outbox.MAX_DISPATCHES
    due = outbox.enqueue("outbox.relay")
    due.dispatched_at, due.dispatch_count = five_minutes_ago, 2
    db.session.commit()
    assert outbox.relay() == 1
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, due.id).dispatch_count == 3
    assert db.session.get(OutboxMessage, backing_off.id).dispatch_count == 3
    assert db.session.get(OutboxMessage, given_up.id).dispatch_count == outbox.MAX_DISPATCHES


def test_lease_keeps_a_second_holder_out_until_it_expires(app):
    assert outbox.acquire_lease("sweep", timedelta(minutes=5), holder="a")
    assert not outbox.acquire_lease("sweep", timedelta(minutes=5), holder="b")
    # The holder may renew its own lease.
    assert outbox.acquire_lease("sweep", timedelta(minutes=5), holder="a")
    outbox.release_lease("sweep", holder="a")
    assert outbox.acquire_lease("sweep", timedelta(seconds=-1), holder="b")
    # Expired: taken over.
    assert outbox.acquire_lease("sweep", timedelta(minutes=5), holder="c")


def test_worker_runs_what_the_outbox_published_and_marks_it_done(app, start_worker):
    start_worker()
    message = outbox.enqueue("outbox.relay")
    db.session.commit()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        db.session.expire_all()
        if db.session.get(OutboxMessage, message.id).done_at is not None:
            break
        db.session.commit()
        time.sleep(0.2)
    assert db.session.get(OutboxMessage, message.id).done_at is not None
