"""Pickup requests: who called, where and when the postman should go, and which office sends one."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.accounts.models import User
from tracker.calendar import utcnow
from tracker.catalogue.models import Commune, Office, Procedure
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.pickups.lifecycle import REASONS, SERVICE_FORMS, SLOTS, STATES, VISIT_OUTCOMES
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

    # The postman of the office who is to go (None: on the office's list, not yet assigned).
    postman_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The dossier made at the door, and when (the visit's time, not the recording's).
    dossier_id: Mapped[int | None] = mapped_column(
        ForeignKey("dossiers.id"), index=True, unique=True
    )
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    commune: Mapped[Commune] = relationship(lazy="joined", innerjoin=True)
    office: Mapped[Office] = relationship(lazy="joined", innerjoin=True)
    procedure: Mapped[Procedure | None] = relationship(lazy="joined")
    postman: Mapped[User | None] = relationship(foreign_keys=[postman_id], lazy="selectin")
    dossier: Mapped[Dossier | None] = relationship(lazy="selectin")


class PickupVisit(db.Model):
    """A postman at the door: the dossier collected (and made), or not, with a coded reason and
    maybe a new slot. Append-only. `visit_key` is the client's own key of the visit: the same
    key again (a double tap, a retry after a lost answer) answers the visit already recorded."""

    __tablename__ = "pickup_visits"
    __table_args__ = (
        CheckConstraint(_one_of("outcome", VISIT_OUTCOMES), name="outcome_known"),
        CheckConstraint(f"reason IS NULL OR {_one_of('reason', REASONS)}", name="reason_known"),
        CheckConstraint(
            "(outcome = 'collected' AND dossier_id IS NOT NULL AND reason IS NULL)"
            " OR (outcome = 'not_collected' AND dossier_id IS NULL AND reason IS NOT NULL)",
            name="outcome_complete",
        ),
        CheckConstraint(_one_of("new_slot", SLOTS) + " OR new_slot IS NULL", name="slot_known"),
        UniqueConstraint("pickup_id", "visit_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pickup_id: Mapped[int] = mapped_column(ForeignKey("pickups.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    # A not-collected visit that agreed on another slot with the citizen.
    new_day: Mapped[date | None] = mapped_column(Date)
    new_slot: Mapped[str | None] = mapped_column(String(10))
    # When it happened at the door; `recorded_at` when the server heard of it.
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id"))
    visit_key: Mapped[str | None] = mapped_column(String(64))

    pickup: Mapped[Pickup] = relationship()
    actor: Mapped[User | None] = relationship(lazy="selectin")
    dossier: Mapped[Dossier | None] = relationship(lazy="selectin")
