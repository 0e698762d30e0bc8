"""Catalogue tables. Entries are deactivated (active_to), never deleted, so that old dossiers keep
the channel, office and agency they came through."""

from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db

SERVICE_FORMS = ("two_way", "return_only", "send_only")


class ActivePeriod:
    active_from: Mapped[date | None] = mapped_column(Date)
    active_to: Mapped[date | None] = mapped_column(Date)

    def is_active_on(self, day: date) -> bool:
        return (self.active_from is None or self.active_from <= day) and (
            self.active_to is None or day <= self.active_to
        )


class Channel(ActivePeriod, db.Model):
    """How a dossier reaches the post: a post office level, the hotline, a one-stop desk..."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    # National one-stop code of the submission channel (3 = via public postal service).
    national_code: Mapped[int | None] = mapped_column(Integer)


class Office(ActivePeriod, db.Model):
    """A place where dossiers are received: a post office, a cultural post point, a desk."""

    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), index=True)
    commune: Mapped[str | None] = mapped_column(String(120))
    district: Mapped[str | None] = mapped_column(String(120))
    province: Mapped[str | None] = mapped_column(String(120))
    address: Mapped[str | None] = mapped_column(String(300))

    channel: Mapped[Channel] = relationship(lazy="joined")


class Agency(ActivePeriod, db.Model):
    """An agency that resolves procedures; `code` is in the national format (000.00.01.H56)."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))


class Sector(db.Model):
    __tablename__ = "sectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))


class Procedure(ActivePeriod, db.Model):
    """An administrative procedure that may go through the post."""

    __tablename__ = "procedures"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(Text)
    # Lower-cased, diacritics removed: what the search box matches against.
    search_name: Mapped[str] = mapped_column(Text, default="")
    sector_id: Mapped[int] = mapped_column(ForeignKey("sectors.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    working_days: Mapped[int] = mapped_column(Integer)
    allows_two_way: Mapped[bool] = mapped_column(Boolean, default=True)
    allows_return_only: Mapped[bool] = mapped_column(Boolean, default=True)
    allows_send_only: Mapped[bool] = mapped_column(Boolean, default=True)
    fee_vnd: Mapped[int | None] = mapped_column(Integer)
    # The checklist the citizen hands in, in order: [{"name", "kind", "count"}], checked by
    # tracker/catalogue/documents.py. Read and written whole, never queried inside: a JSON list.
    documents: Mapped[list[dict]] = mapped_column(JSON, default=list, server_default="[]")

    sector: Mapped[Sector] = relationship(lazy="joined")
    agency: Mapped[Agency] = relationship(lazy="joined")

    @property
    def service_forms(self) -> list[str]:
        allowed = (self.allows_two_way, self.allows_return_only, self.allows_send_only)
        return [form for form, ok in zip(SERVICE_FORMS, allowed, strict=True) if ok]

    def allows(self, service_form: str) -> bool:
        return service_form in self.service_forms


class Commune(ActivePeriod, db.Model):
    """A commune or ward (xã, phường, đặc khu): where a citizen lives, so where the post goes.
    `code` is the national code of the administrative unit (5 digits)."""

    __tablename__ = "communes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    province: Mapped[str] = mapped_column(String(120))


class ServiceArea(ActivePeriod, db.Model):
    """Which office's postmen serve a commune, over a period: a commune that changes office has
    one row per office, their periods one after the other (the loader refuses overlaps).
    Rows are matched on (commune, active_from)."""

    __tablename__ = "service_areas"
    __table_args__ = (UniqueConstraint("commune_id", "active_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)

    commune: Mapped[Commune] = relationship(lazy="joined")
    office: Mapped[Office] = relationship(lazy="joined")
