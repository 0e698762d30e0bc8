"""Status out: an agency's subscriptions (where its dossiers' status changes are pushed), one
delivery row per (status change, subscription), and the change log the pull feed pages through."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.calendar import utcnow
from tracker.catalogue.models import Agency
from tracker.extensions import db
from tracker.types import UTCDateTime

DELIVERY_STATES = ("pending", "delivered", "failed", "cancelled")


class StatusSubscription(db.Model):
    __tablename__ = "status_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    # Standard Webhooks secret (whsec_...): the signature needs it in clear; shown once.
    secret: Mapped[str] = mapped_column(String(100))
    # Status codes to send; empty: every status.
    statuses: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    # Why it stopped (a receiver's 410, an admin): shown on the admin pages.
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agency: Mapped[Agency] = relationship(lazy="joined", innerjoin=True)

    def wants(self, status: str) -> bool:
        return not self.statuses or status in self.statuses


class StatusDelivery(db.Model):
    """One message to one subscription. `message_id` (the `webhook-id`) is fixed when the row is
    written and sent again on every attempt and replay, so that a receiver can drop repeats."""

    __tablename__ = "status_deliveries"
    __table_args__ = (
        # What the worker asks: a subscription's due rows; a dossier's earlier pending row.
        Index("ix_status_deliveries_due", "subscription_id", "state", "next_attempt_at"),
        Index("ix_status_deliveries_order", "subscription_id", "dossier_id", "state", "id"),
        Index("ix_status_deliveries_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("status_subscriptions.id", ondelete="CASCADE")
    )
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("status_events.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(120), unique=True)
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Written with the status change; queued again by a replay (latency counts from then).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Retries stop after this (STATUS_OUT_RETRY_HOURS after queued_at): `failed`.
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    latency_ms: Mapped[int | None] = mapped_column(Integer)

    subscription: Mapped[StatusSubscription] = relationship(lazy="joined", innerjoin=True)


class StatusChange(db.Model):
    """One applied status event of an agency's dossier, numbered in commit order: `seq` is taken
    at the commit (`operations.write_deliveries`), and on PostgreSQL under a shared advisory
    lock that a reader of the feed takes exclusively before it reads the last number (so every
    number up to it is committed or never will be). A cursor on `seq` therefore never passes a
    change that commits later; a cursor on the event id could (an id is taken at the flush)."""

    __tablename__ = "status_changes"
    __table_args__ = (Index("ix_status_changes_agency_seq", "agency_id", "seq"),)

    seq: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("status_events.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
