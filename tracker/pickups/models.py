"""Pickup requests: who called, where and when the postman should go, and which office sends one."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.calendar import utcnow
from tracker.catalogue.models import Commune, Office, Procedure
from tracker.extensions import db
from tracker.pickups.lifecycle import SERVICE_FORMS, SLOTS, STATES
from tracker.types import UTCDateTime


def _one_of(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Pickup(db.Model):
    """One call to have a dossier collected at home. Staff read it (the reference alone opens
    nothing to the public); its state changes only through `operations.change_state`."""

    __tablename__ = "pickups"
    __table_args__ = (
        CheckConstraint(_one_of("state", STATES), name="state_known"),
        CheckConstraint(_one_of("slot", SLOTS), name="slot_known"),
        CheckConstraint(_one_of("service_form", SERVICE_FORMS), name="service_form_known"),
        # The office's list of a day, and the filters of GET /pickups.
        Index("ix_pickups_office_day", "office_id", "day"),
        Index("ix_pickups_day_state", "day", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # `TG-XXXX-XXXX`: 8 random symbols of Crockford's base32 (40 bits), read over the phone.
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    state: Mapped[str] = mapped_column(String(20))

    caller_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    street: Mapped[str] = mapped_column(String(300))
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"))
    # The office that serves the commune on `day` (tracker.catalogue.queries.serving_office).
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))

    service_form: Mapped[str] = mapped_column(String(20))
    procedure_id: Mapped[int | None] = mapped_column(ForeignKey("procedures.id"))
    day: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)

    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    commune: Mapped[Commune] = relationship(lazy="joined", innerjoin=True)
    office: Mapped[Office] = relationship(lazy="joined", innerjoin=True)
    procedure: Mapped[Procedure | None] = relationship(lazy="joined")
