"""Notifications queued for a gateway, with their delivery attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.calendar import utcnow
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.types import UTCDateTime

CHANNELS = ("sms", "email")
STATES = ("queued", "sent", "failed")


class Notification(db.Model):
    """A message to a citizen about a dossier (a status event) or about a pickup request (its
    slot confirmed); the same worker delivers both."""

    __tablename__ = "notifications"
    __table_args__ = (
        # One message per status event and channel, however often the event is processed.
        UniqueConstraint("event_id", "channel"),
        Index("ix_notifications_state_next", "state", "next_attempt_at"),
        CheckConstraint(
            "(dossier_id IS NOT NULL AND event_id IS NOT NULL AND pickup_id IS NULL)"
            " OR (dossier_id IS NULL AND event_id IS NULL AND pickup_id IS NOT NULL)",
            name="one_owner",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("status_events.id"))
    pickup_id: Mapped[int | None] = mapped_column(ForeignKey("pickups.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(200))
    # The status the message announces; of a pickup, "pickup_requested" or "pickup_rescheduled".
    kind: Mapped[str] = mapped_column(String(30))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # A body may stand for a dossier's lookup secret with `messages.SECRET_PLACEHOLDER` (the SMS
    # of a dossier collected at the door): the secret waits here, filled in when the message is
    # handed to the gateway, and is cleared once it is sent or given up. Staff reading the
    # messages never see it.
    lookup_secret: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gateway_reference: Mapped[str | None] = mapped_column(String(120))
    last_error: Mapped[str | None] = mapped_column(Text)

    # For reading. Rows are written with a plain INSERT at commit, once the event has its id
    # (tracker.notifications.operations).
    dossier: Mapped[Dossier | None] = relationship()
    event: Mapped[StatusEvent | None] = relationship()
