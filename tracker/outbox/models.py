"""Outbox messages and the leases that keep two runs of a periodic task apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.types import UTCDateTime


class OutboxMessage(db.Model):
    """A task to run, committed with the change that asks for it and published after commit.

    `done_at` is set by the task itself, in the transaction of its work: a message that is still
    not done some time after its last dispatch is published again (tasks are idempotent).
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # The relay scans only what is not done yet.
        Index(
            "ix_outbox_messages_pending",
            "dispatched_at",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(80))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Last time the relay published it; NULL until then (the after-commit publish does not
    # write back, so that a request costs no second transaction).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatch_count: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class TaskLease(db.Model):
    """A named lease: a periodic task runs only while it holds its lease."""

    __tablename__ = "task_leases"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
