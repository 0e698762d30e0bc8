"""Read side: what a user may see, lists with filters and keyset pagination."""

from __future__ import annotations

import base64
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload, lazyload

from tracker.accounts.models import User
from tracker.accounts.visibility import visible_to
from tracker.calendar import VN_TZ, today_vn
from tracker.catalogue.models import Channel, Office, Procedure, Sector
from tracker.database import MAX_ID, among
from tracker.dossiers import s10
from tracker.dossiers.lifecycle import OVERDUE_STATUSES
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.dossiers.schemas import normalise_phone
from tracker.errors import DomainError, NotFound, Phrase, ValidationFailed
from tracker.extensions import db
from tracker.text import fold

MAX_CODE_LENGTH = Dossier.code.type.length


def scope(query: Select, user: User) -> Select:
    """Restrict a dossier query to what `user` may see (`visible_to`: by office or agency)."""
    return visible_to(user, query, office=Dossier.office_id, agency=Dossier.agency_id)


def get_dossier(code: str, user: User, *, for_update: bool = False) -> Dossier:
    """The dossier with `code` if `user` may see it; otherwise 404, exactly as a missing one."""
    if len(code) > MAX_CODE_LENGTH or "\x00" in code:
        raise NotFound(Phrase("no dossier with code %(code)s", code=code[:MAX_CODE_LENGTH]))
    # The documents come in the same round trip (a single dossier is always shown with them).
    query = scope(select(Dossier).where(Dossier.code == code), user).options(
        joinedload(Dossier.documents)
    )
    if for_update:
        query = query.with_for_update(of=Dossier)
    dossier = db.session.scalars(query).unique().one_or_none()
    if dossier is None:
        raise NotFound(Phrase("no dossier with code %(code)s", code=code))
    return dossier


def list_events(dossier: Dossier) -> list[StatusEvent]:
    return list(
        db.session.scalars(
            select(StatusEvent)
            .where(StatusEvent.dossier_id == dossier.id)
            .order_by(StatusEvent.occurred_at, StatusEvent.id)
        )
    )


def list_dossiers(user: User, args: dict[str, Any]) -> tuple[list[Dossier], str | None]:
    """One page, newest first. The cursor is the id of the last row seen (keyset pagination)."""
    # List rows show no documents: don't fetch them.
    query = scope(select(Dossier), user).options(lazyload(Dossier.documents))
    return keyset_page(_filter(query, args), Dossier.id, args)


def _filter(query: Select, args: dict[str, Any]) -> Select:
    if "status" in args:
        query = query.where(Dossier.status == args["status"])
    if "service_form" in args:
        query = query.where(Dossier.service_form == args["service_form"])
    if "office" in args:
        query = query.where(Dossier.office_id == id_of(Office, args["office"], "office"))
    if "channel" in args:
        query = query.where(Dossier.channel_id == id_of(Channel, args["channel"], "channel"))
    if "procedure" in args:
        query = query.where(
            Dossier.procedure_id == id_of(Procedure, args["procedure"], "procedure")
        )
    if "sector" in args:
        sector_id = id_of(Sector, args["sector"], "sector")
        query = query.where(
            Dossier.procedure_id.in_(select(Procedure.id).where(Procedure.sector_id == sector_id))
        )
    if "received_from" in args:
        query = query.where(Dossier.received_at >= _start_of(args["received_from"]))
    if "received_to" in args:
        query = query.where(
            Dossier.received_at < _start_of(args["received_to"] + timedelta(days=1))
        )
    if "overdue" in args:
        overdue = Dossier.status.in_(OVERDUE_STATUSES) & (Dossier.due_date < today_vn())
        query = query.where(overdue if args["overdue"] else ~overdue | Dossier.due_date.is_(None))
    if "stuck" in args:
        # The hourly sweep's mark (tracker.sweeps): "no event for N working days" is its call.
        marked = Dossier.stuck_since.is_not(None)
        query = query.where(marked if args["stuck"] else ~marked)
    if "q" in args:
        query = query.where(_text_match(args["q"]))
    return query


def _text_match(text: str):
    """Exact code, phone or item number, or a part of the name (accents and case ignored)."""
    term = text.strip()
    conditions = [Dossier.code == term, Dossier.code.startswith(term.upper(), autoescape=True)]
    phone = normalise_phone(term)
    if phone.isdigit():
        conditions.append(Dossier.applicant_phone == phone)
    item = s10.normalise(term)
    if len(item) == 13:
        conditions.append(Dossier.postal_item_number == item)
    folded = fold(term)
    if folded:
        conditions.append(Dossier.applicant_name_folded.contains(folded, autoescape=True))
    return or_(*conditions)


def id_of(model, code: str, field: str, missing: type[DomainError] = ValidationFailed) -> int:
    """The id of the catalogue entry with `code`; `missing` (422 unless said) names `field`."""
    found = db.session.scalar(select(model.id).where(model.code == code))
    if found is None:
        raise missing.field(
            field, Phrase("unknown %(field)s code %(code)s", field=field, code=code)
        )
    return found


def _start_of(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=VN_TZ)


def keyset_page(
    query: Select, id_column: Any, args: dict[str, Any], *, rows: bool = False
) -> tuple[list[Any], str | None]:
    """One page of `query`, newest id first, after `args["cursor"]` (the last id seen): ORM
    objects, or plain rows with `rows=True`. Returns the page and the next cursor (None at the
    end)."""
    if args.get("cursor"):
        query = query.where(id_column < decode_cursor(args["cursor"]))
    limit = args["limit"]
    query = query.order_by(id_column.desc()).limit(limit + 1)
    found = list(db.session.execute(query).all() if rows else db.session.scalars(query))
    next_cursor = encode_cursor(found[limit - 1].id) if len(found) > limit else None
    return found[:limit], next_cursor


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_id = int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed.field("cursor", "not a cursor this API returned") from exc
    if not 0 < last_id <= MAX_ID:
        raise ValidationFailed.field("cursor", "not a cursor this API returned")
    return last_id


# ---- the work queue and the scanner (pages) ----------------------------------------------------

# What each section of the clerk's or agency officer's work queue holds, and its order (the most
# urgent first). Conditions are on indexed columns (status, received_at, office_id, agency_id).
QUEUE_SECTIONS: dict[str, tuple[Any, Any]] = {
    # Handed in at the post, not yet handed over to the agency: oldest first.
    "to_forward": (Dossier.status == "received", Dossier.received_at.asc()),
    # At the agency, waiting for it to accept (agency officers).
    "to_accept": (Dossier.status == "forwarded", Dossier.status_changed_at.asc()),
    # A result the post must return: still to fetch from the agency (two-way, result or refusal
    # notice ready) or already in the post's hands and not yet sent out.
    "results_to_deliver": (
        or_(
            (Dossier.service_form == "two_way") & Dossier.status.in_(("result_ready", "rejected")),
            Dossier.status == "result_collected",
        ),
        Dossier.status_changed_at.asc(),
    ),
    # Return registrations whose result is ready at the agency: to fetch, agency by agency
    # (the page groups them), the longest waiting first.
    "results_at_agency": (
        (Dossier.service_form == "return_only") & (Dossier.status == "result_ready"),
        (Dossier.agency_id.asc(), Dossier.status_changed_at.asc()),
    ),
    # Marked by the hourly sweep (tracker.sweeps): the longest overdue first.
    "overdue": (Dossier.overdue_since.is_not(None), Dossier.due_date.asc()),
    # An attempt failed: to deliver again, hand over at the counter or send back.
    "delivery_failed": (Dossier.status == "delivery_failed", Dossier.status_changed_at.asc()),
}


def _queue_condition(name: str, today) -> tuple[Any, Any]:
    if name == "received_today":
        start = _start_of(today)
        received = (Dossier.received_at >= start) & (
            Dossier.received_at < start + timedelta(days=1)
        )
        return received, Dossier.received_at.desc()
    return QUEUE_SECTIONS[name]


def queue_section(user: User, name: str, *, limit: int = 50, today=None) -> tuple[int, list]:
    """The number of dossiers in section `name` of `user`'s work queue (see QUEUE_SECTIONS, plus
    "received_today", a Vietnam day) and the first `limit` of them, most urgent first."""
    condition, order = _queue_condition(name, today or today_vn())
    total = db.session.scalar(scope(select(func.count(Dossier.id)).where(condition), user))
    rows = db.session.scalars(
        scope(select(Dossier).where(condition), user)
        .options(lazyload(Dossier.documents))
        .order_by(*(order if isinstance(order, tuple) else (order,)), Dossier.id)
        .limit(limit)
    )
    return total or 0, list(rows)


def failure_reasons(dossier_ids: list[int]) -> dict[int, str | None]:
    """The coded reason of each dossier's latest failed delivery, by dossier id (None for one
    recorded before reasons were coded)."""
    if not dossier_ids:
        return {}
    rows = db.session.execute(
        select(StatusEvent.dossier_id, StatusEvent.failure_reason)
        .where(among(StatusEvent.dossier_id, dossier_ids))
        .where(StatusEvent.to_status == "delivery_failed", StatusEvent.applied)
        .order_by(StatusEvent.occurred_at, StatusEvent.id)
    )
    return dict(rows.tuples().all())  # the latest of a dossier's comes last and stays


def find_code(text: str, user: User) -> str | None:
    """The code of the dossier that `text` names in `user`'s scope: its code, or its postal item
    number (the newest dossier with it, as numbers may be reused after 12 months)."""
    term = s10.normalise(text)
    if not term or len(term) > MAX_CODE_LENGTH or "\x00" in term:
        return None
    if s10.validate(term) is None:
        by_item = scope(select(Dossier.code).where(Dossier.postal_item_number == term), user)
        found = db.session.scalar(by_item.order_by(Dossier.received_at.desc()).limit(1))
        if found is not None:
            return found
    return db.session.scalar(scope(select(Dossier.code).where(Dossier.code == term), user))


def actor_names(user_ids: set[int]) -> dict[int, str]:
    """Display names of the staff who recorded events (full name, else user name)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(User.id, User.full_name, User.username).where(User.id.in_(user_ids))
    )
    return {row.id: row.full_name or row.username for row in rows}
