"""The read side of hand-over records: one record, a list, the ones still unconfirmed.

Scope is the dossiers' rule (`visible_to`): a clerk sees the records of their office, an agency
officer those of their agency, managers and admins all; anything else answers 404 as missing.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select

from tracker.accounts.models import User
from tracker.accounts.visibility import visible_to
from tracker.calendar import VN_TZ
from tracker.catalogue.models import Agency
from tracker.dossiers.models import Dossier
from tracker.dossiers.queries import keyset_page
from tracker.errors import NotFound, Phrase
from tracker.extensions import db
from tracker.handovers.models import NUMBER_LENGTH, HandoverLine, HandoverRecord

MAX_NUMBER_LENGTH = NUMBER_LENGTH


def scope(query: Select, user: User) -> Select:
    return visible_to(user, query, office=HandoverRecord.office_id, agency=HandoverRecord.agency_id)


def get_record(number: str, user: User, *, for_update: bool = False) -> HandoverRecord:
    """The record `number` if `user` may see it; otherwise 404, exactly as a missing one."""
    number = number.strip().upper()
    if len(number) > MAX_NUMBER_LENGTH or "\x00" in number:
        raise NotFound(Phrase("no hand-over record %(number)s", number=number[:MAX_NUMBER_LENGTH]))
    query = scope(select(HandoverRecord).where(HandoverRecord.number == number), user)
    if for_update:
        query = query.with_for_update(of=HandoverRecord)
    record = db.session.scalar(query)
    if record is None:
        raise NotFound(Phrase("no hand-over record %(number)s", number=number))
    return record


def list_records(user: User, args: dict[str, Any]) -> tuple[list[HandoverRecord], str | None]:
    """One page of the records in `user`'s scope, newest first: `q` a number (or its part) or
    a dossier code on it, `agency` an agency code, `day` the day made (Vietnam time), `kind`,
    `unconfirmed`."""
    query = scope(select(HandoverRecord), user)
    term = (args.get("q") or "").strip().upper()
    if term:
        on_record = select(HandoverLine.record_id).join(Dossier).where(Dossier.code == term)
        query = query.where(
            or_(
                HandoverRecord.number.contains(term, autoescape=True),
                HandoverRecord.id.in_(on_record),
            )
        )
    if args.get("agency"):
        query = query.join(Agency, Agency.id == HandoverRecord.agency_id).where(
            Agency.code == args["agency"]
        )
    if args.get("day"):
        start = datetime.combine(args["day"], time.min, tzinfo=VN_TZ)
        query = query.where(
            HandoverRecord.created_at >= start,
            HandoverRecord.created_at < start + timedelta(days=1),
        )
    if args.get("kind"):
        query = query.where(HandoverRecord.kind == args["kind"])
    if args.get("unconfirmed"):
        query = query.where(HandoverRecord.kind == "forward", HandoverRecord.confirmed_at.is_(None))
    return keyset_page(query, HandoverRecord.id, args)


def unconfirmed_before(
    user: User, moment: datetime, limit: int
) -> tuple[int, list[HandoverRecord]]:
    """`forward` records made before `moment` and still unconfirmed, oldest first: how many,
    and the first `limit`."""
    condition = (
        (HandoverRecord.kind == "forward")
        & HandoverRecord.confirmed_at.is_(None)
        & (HandoverRecord.created_at < moment)
    )
    query = scope(select(HandoverRecord).where(condition), user)
    total = db.session.scalar(scope(select(func.count(HandoverRecord.id)).where(condition), user))
    rows = db.session.scalars(query.order_by(HandoverRecord.created_at).limit(limit)).all()
    return total or 0, list(rows)


def agencies_of(user: User) -> list[Agency]:
    """The agencies a user may filter the list by."""
    query = select(Agency).order_by(Agency.code)
    if user.role == "agency":
        query = query.where(Agency.id == user.agency_id)
    return list(db.session.scalars(query))
