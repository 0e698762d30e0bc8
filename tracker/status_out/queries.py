"""Read side of status out: subscriptions, deliveries (admins) and the pull feed of changes
(an agency's integration account)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from tracker.catalogue.models import Agency
from tracker.database import advisory_lock, on_postgresql
from tracker.dossiers.models import StatusEvent
from tracker.dossiers.queries import keyset_page
from tracker.errors import NotFound, ValidationFailed
from tracker.extensions import db
from tracker.status_out.models import StatusChange, StatusDelivery, StatusSubscription
from tracker.status_out.operations import CHANGES_LOCK
from tracker.status_out.payload import build_payload, carried_codes

CURSOR_PREFIX = "c1."


def encode_cursor(value: int) -> str:
    """An opaque cursor for a keyset position (clients pass it back, never build it)."""
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, field: str = "cursor") -> int | None:
    """The position in `cursor`; 422 naming `field` when it is not one this service made."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        text = ""
    value = text.removeprefix(CURSOR_PREFIX)
    if not text.startswith(CURSOR_PREFIX) or not value.isascii() or not value.isdigit():
        raise ValidationFailed.field(field, "not a cursor of this feed: pass next_cursor back")
    if len(value) > 18:
        raise ValidationFailed.field(field, "not a cursor of this feed: pass next_cursor back")
    return int(value)


def list_subscriptions(agency_code: str | None = None) -> list[StatusSubscription]:
    query = select(StatusSubscription).join(StatusSubscription.agency)
    if agency_code:
        query = query.where(Agency.code == agency_code)
    return list(db.session.scalars(query.order_by(Agency.code, StatusSubscription.id)))


def get_subscription(subscription_id: int) -> StatusSubscription:
    subscription = db.session.get(StatusSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"no subscription {subscription_id}")
    return subscription


def get_delivery(delivery_id: int) -> StatusDelivery:
    delivery = db.session.get(StatusDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    return delivery


def list_deliveries(args: dict[str, Any]) -> tuple[list[StatusDelivery], str | None]:
    """Deliveries newest first, filtered by subscription, state and when they were written
    ([since, until)); keyset paged."""
    query = select(StatusDelivery)
    if args.get("subscription_id"):
        query = query.where(StatusDelivery.subscription_id == args["subscription_id"])
    if args.get("state"):
        query = query.where(StatusDelivery.state == args["state"])
    if args.get("since"):
        query = query.where(StatusDelivery.created_at >= args["since"])
    if args.get("until"):
        query = query.where(StatusDelivery.created_at < args["until"])
    return keyset_page(query, StatusDelivery.id, {"limit": 50, **args})


def changes(agency_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    """The agency's applied status changes after `cursor`, in commit order (the change log's
    numbers, `StatusChange.seq`), each as the push payload. On PostgreSQL the page stops at
    the horizon: the last number every number up to which is committed, so a change that
    commits later can never land behind a cursor already returned."""
    after = decode_cursor(cursor) or 0
    query = (
        select(StatusChange.seq, StatusEvent)
        .join(StatusEvent, StatusEvent.id == StatusChange.event_id)
        .join(StatusEvent.dossier)
        .options(contains_eager(StatusEvent.dossier))
        .where(StatusChange.agency_id == agency_id, StatusChange.seq > after)
        .order_by(StatusChange.seq)
        .limit(limit + 1)
    )
    horizon = committed_horizon()
    if horizon is not None:
        query = query.where(StatusChange.seq <= horizon)
    rows = db.session.execute(query).unique().all()
    more = len(rows) > limit
    rows = rows[:limit]
    events = [row.StatusEvent for row in rows]
    carried = carried_codes(events)
    items = [build_payload(event.dossier, event, carried.get(event.id)) for event in events]
    last = rows[-1].seq if rows else after
    return {
        "items": items,
        "next_cursor": encode_cursor(last) if last else None,
        "has_more": more,
    }


def committed_horizon() -> int | None:
    """PostgreSQL: the change log's last number, read under the change lock taken exclusively
    (in a short transaction of its own): writers hold it shared from numbering their changes to
    their commit, so once it is granted every number given so far is committed or rolled back.
    SQLite: None, no bound needed (one writer at a time, numbers commit in order)."""
    if not on_postgresql():
        return None
    with db.engine.begin() as connection:
        advisory_lock(CHANGES_LOCK, connection=connection)
        return connection.scalar(select(func.coalesce(func.max(StatusChange.seq), 0)))
