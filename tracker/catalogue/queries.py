"""Catalogue reads."""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from sqlalchemy import func, or_, select

from tracker.calendar import today_vn
from tracker.catalogue.models import (
    Agency,
    Channel,
    Commune,
    Office,
    Procedure,
    Sector,
    ServiceArea,
)
from tracker.extensions import db
from tracker.text import fold

Row = TypeVar("Row", Agency, Channel, Office, Procedure, Sector)


def list_channels() -> list[Channel]:
    return list(db.session.scalars(select(Channel).order_by(Channel.id)))


def list_offices(args: dict[str, Any]) -> list[Office]:
    query = select(Office).order_by(Office.code)
    if "channel" in args:
        query = query.join(Office.channel).where(Channel.code == args["channel"])
    if args.get("active"):
        today = today_vn()
        query = query.where(
            or_(Office.active_from.is_(None), Office.active_from <= today),
            or_(Office.active_to.is_(None), Office.active_to >= today),
        )
    return list(db.session.scalars(query))


def all_by_code(model: type[Row]) -> list[Row]:
    """Every row of one catalogue table, by code (a page's select or table of them)."""
    return list(db.session.scalars(select(model).order_by(model.code)))


def list_agencies() -> list[Agency]:
    return all_by_code(Agency)


def list_sectors() -> list[Sector]:
    return all_by_code(Sector)


def count_procedures() -> int:
    return db.session.scalar(select(func.count()).select_from(Procedure))


def search_procedures(args: dict[str, Any]) -> list[Procedure]:
    query = select(Procedure)
    if "q" in args:
        term = args["q"].strip().replace("\x00", "")
        query = query.where(
            or_(
                Procedure.code.startswith(term, autoescape=True),
                Procedure.search_name.contains(fold(term), autoescape=True),
            )
        )
    if "sector" in args:
        query = query.join(Procedure.sector).where(Sector.code == args["sector"])
    if "agency" in args:
        query = query.join(Procedure.agency).where(Agency.code == args["agency"])
    if "service_form" in args:
        column = {
            "two_way": Procedure.allows_two_way,
            "return_only": Procedure.allows_return_only,
            "send_only": Procedure.allows_send_only,
        }[args["service_form"]]
        query = query.where(column.is_(True))
    query = query.order_by(Procedure.code).limit(args["limit"]).offset(args["offset"])
    return list(db.session.scalars(query))


def find_office(code: str) -> Office | None:
    """The office with exactly `code`, or None (the admin's office page opens it by code)."""
    if "\x00" in code:
        return None  # PostgreSQL refuses NUL in text: no office has one
    return db.session.scalar(select(Office).where(Office.code == code))


def find_procedure(code: str) -> Procedure | None:
    """The procedure with exactly `code`, or None (the intake page opens its form by code)."""
    if "\x00" in code:
        return None  # PostgreSQL refuses NUL in text: no procedure has one
    return db.session.scalar(select(Procedure).where(Procedure.code == code))


def find_commune(code: str) -> Commune | None:
    """The commune with exactly `code`, or None."""
    if "\x00" in code:
        return None  # PostgreSQL refuses NUL in text: no commune has one
    return db.session.scalar(select(Commune).where(Commune.code == code))


def serving_office(commune: Commune, day: date) -> Office | None:
    """The office whose postmen serve `commune` on `day`: its service area of that day, if the
    office is open that day too; None when no office serves it then."""
    area = db.session.scalar(
        select(ServiceArea).where(
            ServiceArea.commune_id == commune.id,
            or_(ServiceArea.active_from.is_(None), ServiceArea.active_from <= day),
            or_(ServiceArea.active_to.is_(None), ServiceArea.active_to >= day),
        )
    )
    if area is None or not area.office.is_active_on(day):
        return None
    return area.office
