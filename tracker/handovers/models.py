"""Hand-over records (biên bản giao nhận, Circular 17/2017/TT-BTTTT art. 5): what the post
handed to an agency (`forward`) or fetched from it (`result`), dossier by dossier, with the
documents and fees, as both sides sign them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.accounts.models import User
from tracker.calendar import utcnow
from tracker.catalogue.models import Agency, Office
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.types import UTCDateTime

KINDS = ("forward", "result")
# `BB-<office code (up to 40)>-<YYYY>-<sequence (5 digits, more past 99,999)>`.
NUMBER_LENGTH = 64


class HandoverRecord(db.Model):
    """One signed sheet: `BB-<office>-<YYYY>-<NNNNN>`, numbered per office and year (Vietnam
    time). A `forward` record waits for the agency's confirmation (its appointment dates); a
    `result` record is signed at the agency's desk when the post fetches the results."""

    __tablename__ = "handover_records"
    __table_args__ = (
        CheckConstraint("kind IN ('forward', 'result')", name="kind_known"),
        # A batch (scan form or API call) makes one record per agency, once: sent again, it
        # answers the record it made (more dossiers sent again: a record `<batch_key>~<n>`).
        UniqueConstraint("batch_key", "agency_id"),
        Index("ix_handover_records_office_created", "office_id", "created_at"),
        Index("ix_handover_records_agency_created", "agency_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(NUMBER_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    batch_key: Mapped[str] = mapped_column(String(120))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set once: by the agency's confirmation (page or API; confirmed_by the officer), or when
    # the agency's own `processing` events (its feed) have accepted every line.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    office: Mapped[Office] = relationship(lazy="joined", innerjoin=True)
    agency: Mapped[Agency] = relationship(lazy="joined", innerjoin=True)
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="joined")
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id], lazy="joined")
    lines: Mapped[list[HandoverLine]] = relationship(
        back_populates="record",
        cascade="all, delete-orphan",
        order_by="HandoverLine.position",
        lazy="selectin",
    )

    @property
    def total_fee_vnd(self) -> int:
        return sum(line.fee_vnd for line in self.lines)

    def document_totals(self) -> dict[str, int]:
        """Sheets handed over by kind of document (original, certified copy, copy)."""
        totals = {"original": 0, "certified_copy": 0, "copy": 0}
        for line in self.lines:
            for document in line.documents:
                totals[document["kind"]] = totals.get(document["kind"], 0) + document["count"]
        return totals


class HandoverLine(db.Model):
    """One dossier of a record, its documents and fee as they were handed over (a later
    correction of the dossier does not rewrite a signed sheet)."""

    __tablename__ = "handover_lines"
    __table_args__ = (UniqueConstraint("record_id", "dossier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("handover_records.id", ondelete="CASCADE"))
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    # [{"name", "kind", "count"}] as on the dossier when it was handed over.
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    fee_vnd: Mapped[int] = mapped_column(Integer, default=0)
    # The agency's acceptance of this dossier (forward records): the appointment date it gave.
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    appointment_date: Mapped[date | None] = mapped_column(Date)

    record: Mapped[HandoverRecord] = relationship(back_populates="lines")
    dossier: Mapped[Dossier] = relationship(lazy="joined", innerjoin=True)


class HandoverCounter(db.Model):
    """Last record number handed out per office and year (Vietnam time)."""

    __tablename__ = "handover_counters"

    office_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
