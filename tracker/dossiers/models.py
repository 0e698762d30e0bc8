"""Dossiers, their documents, their append-only status events and the daily code counters."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.calendar import today_vn, utcnow
from tracker.catalogue.models import Agency, Channel, Office, Procedure
from tracker.dossiers import clock
from tracker.dossiers.delivery import FAILURE_REASONS, RECEIVER_NAME_LENGTH, RECEIVER_RELATIONS
from tracker.dossiers.lifecycle import OVERDUE_STATUSES, TERMINAL
from tracker.extensions import db
from tracker.types import UTCDateTime

DOCUMENT_KINDS = ("original", "certified_copy", "copy")


def _quoted(codes) -> str:
    return ", ".join(f"'{code}'" for code in codes)


def _partial(condition: str) -> dict:
    """An index's WHERE on both databases."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


# Queues and sweeps read open dossiers only; closed ones are most of the table, and an import
# writes no mark: these indexes skip them (docs/indexes.md lists each index's queries).
OPEN = f"status NOT IN ({_quoted(sorted(TERMINAL))})"


class Dossier(db.Model):
    __tablename__ = "dossiers"
    __table_args__ = (
        CheckConstraint("fee_vnd >= 0", name="fee_not_negative"),
        # A clerk's scope (office), with its received-today queue and date filters.
        Index("ix_dossiers_office_received", "office_id", "received_at"),
        Index("ix_dossiers_open_status_due", "status", "due_date", **_partial(OPEN)),
        # The sweep's marks are rare: the rows that carry one, for clearing and the queues.
        Index("ix_dossiers_overdue_due", "due_date", **_partial("overdue_since IS NOT NULL")),
        Index("ix_dossiers_stuck", "id", **_partial("stuck_since IS NOT NULL")),
        # An agency's own dossier code names one dossier of that agency (NULLs are distinct);
        # agency_id leading, it also serves an agency officer's scope.
        Index("uq_dossiers_agency_reference", "agency_id", "agency_reference", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    service_form: Mapped[str] = mapped_column(String(20))
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    # The channel at the time of receipt: offices may change channel later, history must not.
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    # Reference of the dossier in the agency's own one-stop system, when it has one.
    agency_reference: Mapped[str | None] = mapped_column(String(80), index=True)

    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_name_folded: Mapped[str] = mapped_column(String(200))
    applicant_phone: Mapped[str] = mapped_column(String(20))
    applicant_id_number: Mapped[str | None] = mapped_column(String(20))
    applicant_email: Mapped[str | None] = mapped_column(String(200))
    delivery_address: Mapped[str | None] = mapped_column(Text)

    postal_item_number: Mapped[str | None] = mapped_column(String(13), index=True)
    fee_vnd: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)

    status: Mapped[str] = mapped_column(String(30))
    # When the post took charge: intake for two-way and send-only, result collection for one-way.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    appointment_date: Mapped[date | None] = mapped_column(Date)
    # Working days spent waiting for the citizen's supplement; they push the deadline back.
    supplement_days: Mapped[int] = mapped_column(Integer, default=0)
    supplement_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # appointment_date + supplement_days working days, kept so that "overdue" is an indexed query.
    due_date: Mapped[date | None] = mapped_column(Date)
    # occurred_at of the last event that moved the status; later-arriving older events don't.
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    result_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the hourly sweep when it finds the dossier past its due date / without an event
    # for too long; cleared when that is no longer true.
    overdue_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stuck_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lookup_secret_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    procedure: Mapped[Procedure] = relationship(lazy="joined", innerjoin=True)
    office: Mapped[Office] = relationship(lazy="joined", innerjoin=True)
    channel: Mapped[Channel] = relationship(lazy="joined", innerjoin=True)
    agency: Mapped[Agency] = relationship(lazy="joined", innerjoin=True)
    documents: Mapped[list[DossierDocument]] = relationship(
        back_populates="dossier",
        cascade="all, delete-orphan",
        order_by="DossierDocument.id",
        lazy="selectin",
    )

    def compute_due_date(self) -> date | None:
        return clock.due_date(self.appointment_date, self.supplement_days)

    def is_overdue(self, today: date | None = None) -> bool:
        # The clock is paused while the citizen is asked for a supplement.
        if self.status not in OVERDUE_STATUSES or self.due_date is None:
            return False
        return (today or today_vn()) > self.due_date


class DossierDocument(db.Model):
    __tablename__ = "dossier_documents"
    __table_args__ = (CheckConstraint("count > 0", name="count_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(
        ForeignKey("dossiers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    count: Mapped[int] = mapped_column(Integer, default=1)

    dossier: Mapped[Dossier] = relationship(back_populates="documents")


class StatusEvent(db.Model):
    """One change of a dossier's status. Rows are never updated or deleted."""

    __tablename__ = "status_events"
    __table_args__ = (
        # Feeds resend: an event id is applied once per dossier and source.
        UniqueConstraint("dossier_id", "source", "source_event_id"),
        Index("ix_status_events_dossier_occurred", "dossier_id", "occurred_at"),
        # Proof of delivery (tracker.dossiers.delivery): coded, and only on its own status.
        CheckConstraint(
            f"receiver_relation IS NULL OR (to_status = 'delivered' AND receiver_relation IN "
            f"({_quoted(RECEIVER_RELATIONS)}))",
            name="receiver_relation_known",
        ),
        CheckConstraint(
            "receiver_name IS NULL OR receiver_relation IS NOT NULL", name="receiver_named"
        ),
        CheckConstraint(
            f"failure_reason IS NULL OR (to_status = 'delivery_failed' AND failure_reason IN "
            f"({_quoted(FAILURE_REASONS)}))",
            name="failure_reason_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    # False for an event that arrived after a later one: kept in the history, status unchanged.
    applied: Mapped[bool] = mapped_column(default=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(20))
    source_event_id: Mapped[str | None] = mapped_column(String(120))
    raw_code: Mapped[str | None] = mapped_column(String(60))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSON)
    # Who received a delivered result (personal data: staff only), and why a delivery failed.
    receiver_name: Mapped[str | None] = mapped_column(String(RECEIVER_NAME_LENGTH))
    receiver_relation: Mapped[str | None] = mapped_column(String(20))
    failure_reason: Mapped[str | None] = mapped_column(String(20))

    dossier: Mapped[Dossier] = relationship()
    office: Mapped[Office | None] = relationship(lazy="joined")


class CodeCounter(db.Model):
    """Last sequence number handed out per receiving agency and day (Vietnam time)."""

    __tablename__ = "code_counters"

    agency_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
