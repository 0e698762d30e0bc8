"""Feed batches, their events as received, and the postal event-code mapping."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.types import UTCDateTime

FEED_SOURCES = ("postal", "agency")
# pending: not looked at yet; applied: moved the dossier; late: kept in its history without
# moving it; noted: matched, moves nothing by design (an informational scan, or a status the
# dossier is already in), kept here only; duplicate: its event id was already applied;
# unmatched: no dossier has its item number (yet); rejected: it cannot apply (the error says why).
EVENT_STATES = ("pending", "applied", "late", "noted", "duplicate", "unmatched", "rejected")


class FeedBatch(db.Model):
    __tablename__ = "feed_batches"
    __table_args__ = (
        # A message is stored once per feed, whichever worker takes it (tracker/webhooks.py).
        Index("uq_feed_batches_source_message", "source", "message_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # Events refused at the door (malformed); they are reported in the 202 answer, not stored.
    refused_count: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The sender's webhook-id (none for an unsigned batch or a file) and the SHA-256 of the
    # body: the same id again with the same body is a retry, with another body a misused id.
    message_id: Mapped[str | None] = mapped_column(String(120))
    body_sha256: Mapped[str | None] = mapped_column(String(64))

    events: Mapped[list[FeedEvent]] = relationship(
        back_populates="batch", order_by="FeedEvent.id", lazy="raise"
    )


class FeedEvent(db.Model):
    """One event as the feed sent it (`payload` keeps it verbatim), and what became of it."""

    __tablename__ = "feed_events"
    __table_args__ = (
        Index("ix_feed_events_batch_state", "batch_id", "state"),
        # Unmatched postal events wait for their item number to appear on a dossier.
        Index("ix_feed_events_state_item", "state", "item_number"),
        Index("ix_feed_events_state_code", "state", "dossier_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("feed_batches.id"))
    source: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(120))
    item_number: Mapped[str | None] = mapped_column(String(13))
    dossier_code: Mapped[str | None] = mapped_column(String(40))
    # Agency feed: the agency's own code for the dossier instead of ours, and the agency (else
    # the sending account's).
    agency_reference: Mapped[str | None] = mapped_column(String(80))
    agency_code: Mapped[str | None] = mapped_column(String(40))
    raw_code: Mapped[str | None] = mapped_column(String(60))
    # Agency feed: the status it reports; postal feed: the status its raw code maps to.
    status: Mapped[str | None] = mapped_column(String(30))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    office_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    appointment_date: Mapped[date | None] = mapped_column(Date)
    # Postal feed: who received a delivered item, why a delivery failed (when the post says).
    receiver_name: Mapped[str | None] = mapped_column(String(200))
    receiver_relation: Mapped[str | None] = mapped_column(String(20))
    failure_reason: Mapped[str | None] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id"), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    batch: Mapped[FeedBatch] = relationship(back_populates="events")


class PostalEventCode(db.Model):
    """What a raw postal tracking code means for a dossier. A code without a status is kept
    in the feed's history and moves nothing (e.g. a transit scan)."""

    __tablename__ = "postal_event_codes"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str | None] = mapped_column(String(30))
    description_vi: Mapped[str] = mapped_column(String(200))
    description_en: Mapped[str] = mapped_column(String(200))
    requires_reason: Mapped[bool] = mapped_column(Boolean, default=False)
