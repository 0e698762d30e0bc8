"""Writing work for the workers, publishing it after commit, and the leases of periodic tasks.

`enqueue` adds a message to the caller's transaction. When that transaction commits, the
messages are published to the broker; a broker that is down costs a log line, never the request:
the relay (`outbox.relay`, on beat) publishes again whatever is still not done.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tracker.calendar import utcnow
from tracker.database import upsert
from tracker.extensions import db
from tracker.outbox.models import OutboxMessage, TaskLease

log = logging.getLogger(__name__)

_PENDING_KEY = "tracker.outbox.pending"
RELAY_BATCH = 500
# After a failed publish, this process leaves publishing to the relay for this long.
PUBLISH_PAUSE_SECONDS = 10.0
# A message dispatched this often and still not done: its task keeps failing; logged, left alone.
MAX_DISPATCHES = 20


def enqueue(task: str, **kwargs: Any) -> OutboxMessage:
    """Ask for `task` to run with `kwargs` (JSON values, ids) once this transaction commits."""
    message = OutboxMessage(task=task, kwargs=kwargs, created_at=utcnow(), dispatch_count=0)
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(_PENDING_KEY, []).append((message.id, task, kwargs))
    return message


def publish(message_id: int, task: str, kwargs: dict[str, Any]) -> bool:
    """Hand one message to the broker. False (and a warning) when the broker cannot take it.

    After a failure this process leaves publishing to the relay for PUBLISH_PAUSE_SECONDS: with
    the broker down, every attempt would cost a request the broker's connect timeout.
    """
    celery = current_app.extensions.get("celery")
    if celery is None or time.monotonic() < getattr(celery, "tracker_paused_until", 0.0):
        return False
    try:
        # No retries here: a request must not wait for a broker that is down.
        celery.send_task(task, kwargs={**kwargs, "outbox_id": message_id}, retry=False)
    except Exception as exc:  # any broker failure: the relay publishes it later
        celery.tracker_paused_until = time.monotonic() + PUBLISH_PAUSE_SECONDS
        log.warning("outbox %s (%s) not published, the relay will: %s", message_id, task, exc)
        return False
    return True


def relay(limit: int = RELAY_BATCH) -> int:
    """Publish again the messages not done a while after their last dispatch; return how many.

    The wait doubles with each dispatch (a backlog the workers are still draining is not
    flooded with copies), and a message dispatched MAX_DISPATCHES times is left to a human.
    """
    now = utcnow()
    retry_after = timedelta(seconds=current_app.config["OUTBOX_RETRY_AFTER_SECONDS"])
    last = func.coalesce(OutboxMessage.dispatched_at, OutboxMessage.created_at)
    rows = db.session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.task,
            OutboxMessage.kwargs,
            OutboxMessage.dispatch_count,
            last.label("last"),
        )
        .where(
            OutboxMessage.done_at.is_(None),
            OutboxMessage.dispatch_count < MAX_DISPATCHES,
            last < now - retry_after,
        )
        .order_by(last)
        .limit(limit)
    ).all()
    sent = []
    for row in rows:
        if row.last >= now - retry_after * 2 ** min(row.dispatch_count, 6):
            continue
        if not publish(row.id, row.task, row.kwargs):
            break
        sent.append(row.id)
        if row.dispatch_count + 1 == MAX_DISPATCHES:
            log.error(
                "outbox %s (%s) is still not done after %s dispatches: left alone",
                row.id,
                row.task,
                MAX_DISPATCHES,
            )
    if sent:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(sent))
            .values(dispatched_at=now, dispatch_count=OutboxMessage.dispatch_count + 1)
        )
        log.info("outbox relay published %s message(s) again", len(sent))
    return len(sent)


def mark_done(message_id: int) -> None:
    """Called by the task base in the task's own transaction: the work and this commit together."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.done_at.is_(None))
        .values(done_at=utcnow())
    )


def mark_failed(message_id: int, error: str) -> None:
    """Note why the last run failed (in a transaction of its own); the relay will try again."""
    with db.engine.begin() as connection:
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(last_error=error[:2000])
        )


def publish_pending(session: Session) -> None:
    """After the commit (`tracker.unit_of_work`): the messages the transaction enqueued."""
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending or not has_app_context():
        return
    for message_id, task, kwargs in pending:
        if not publish(message_id, task, kwargs):
            break  # the broker is down: the relay publishes the rest later


def forget_pending(session: Session) -> None:
    # Published, or rolled back with the rows that asked for them.
    session.info.pop(_PENDING_KEY, None)


# Leases ------------------------------------------------------------------------------------


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire_lease(name: str, ttl: timedelta, holder: str | None = None) -> bool:
    """Take the lease `name` for `ttl` unless another holder has it and it has not expired.

    Runs in a transaction of its own, so that the lease is visible to other processes at once.
    """
    now = utcnow()
    holder = holder or holder_name()
    statement = upsert(TaskLease).values(name=name, holder=holder, expires_at=now + ttl)
    statement = statement.on_conflict_do_update(
        index_elements=[TaskLease.name],
        set_={"holder": holder, "expires_at": now + ttl},
        where=(TaskLease.expires_at < now) | (TaskLease.holder == holder),
    )
    # RETURNING, not rowcount: psycopg reports -1 for an upsert's rowcount.
    with db.engine.begin() as connection:
        return connection.execute(statement.returning(TaskLease.name)).first() is not None


def release_lease(name: str, holder: str | None = None) -> None:
    with db.engine.begin() as connection:
        connection.execute(
            TaskLease.__table__.delete().where(
                TaskLease.name == name, TaskLease.holder == (holder or holder_name())
            )
        )


def lease_expires_at(name: str) -> datetime | None:
    return db.session.scalar(select(TaskLease.expires_at).where(TaskLease.name == name))
