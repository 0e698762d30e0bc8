"""Writing work for the workers, publishing it after commit, and the leases of periodic tasks.

`enqueue` adds a message to the caller's transaction. When that transaction commits, the
messages are published to the broker; a broker that is down costs a log line, never the request:
the relay (`outbox.relay`, on beat) publishes again whatever is still not done.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.outbox.models import OutboxMessage, TaskLease

log = logging.getLogger(__name__)

_PENDING_KEY = "tracker.outbox.pending"
RELAY_BATCH = 500


def enqueue(task: str, **kwargs: Any) -> OutboxMessage:
    """Ask for `task` to run with `kwargs` (JSON values, ids) once this transaction commits."""
    message = OutboxMessage(task=task, kwargs=kwargs, created_at=utcnow(), dispatch_count=0)
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(_PENDING_KEY, []).append((message.id, task, kwargs))
    return message


def publish(message_id: int, task: str, kwargs: dict[str, Any]) -> bool:
    """Hand one message to the broker. False (and a warning) when the broker cannot take it."""
    celery = current_app.extensions.get("celery")
    if celery is None:
        return False
    try:
        # No retries here: a request must not wait for a broker that is down.
        celery.send_task(task, kwargs={**kwargs, "outbox_id": message_id}, retry=False)
    except Exception as exc:  # any broker failure: the relay publishes it later
        log.warning("outbox %s (%s) not published, the relay will: %s", message_id, task, exc)
        return False
    return True


def relay(limit: int = RELAY_BATCH) -> int:
    """Publish again the messages not done a while after their last dispatch; return how many."""
    now = utcnow()
    cutoff = now - timedelta(seconds=current_app.config["OUTBOX_RETRY_AFTER_SECONDS"])
    last_dispatch = OutboxMessage.dispatched_at
    rows = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.task, OutboxMessage.kwargs)
        .where(
            OutboxMessage.done_at.is_(None),
            or_(
                last_dispatch < cutoff,
                last_dispatch.is_(None) & (OutboxMessage.created_at < cutoff),
            ),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    sent = [row.id for row in rows if publish(row.id, row.task, row.kwargs)]
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


def pending_count() -> int:
    return db.session.scalar(
        select(db.func.count()).select_from(OutboxMessage).where(OutboxMessage.done_at.is_(None))
    )


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending or not has_app_context():
        return
    for message_id, task, kwargs in pending:
        publish(message_id, task, kwargs)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
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
    engine = db.engine
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(TaskLease).values(name=name, holder=holder, expires_at=now + ttl)
    statement = statement.on_conflict_do_update(
        index_elements=[TaskLease.name],
        set_={"holder": holder, "expires_at": now + ttl},
        where=(TaskLease.expires_at < now) | (TaskLease.holder == holder),
    )
    # RETURNING, not rowcount: psycopg reports -1 for an upsert's rowcount.
    with engine.begin() as connection:
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
