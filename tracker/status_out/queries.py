"""Read side of status out: subscriptions, deliveries (admins) and the pull feed of changes
(an agency's integration account)."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from tracker.calendar import utcnow
from tracker.catalogue.models import Agency
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.errors import NotFound, ValidationFailed
from tracker.extensions import db
from tracker.status_out.models import StatusDelivery, StatusSubscription
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
    before = decode_cursor(args.get("cursor"))
    if before is not None:
        query = query.where(StatusDelivery.id < before)
    limit = args.get("limit", 50)
    rows = list(db.session.scalars(query.order_by(StatusDelivery.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].id) if more else None


def changes(agency_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    """The agency's applied status changes after `cursor`, oldest first, each as the push
    payload. Events recorded less than CHANGES_SETTLE_SECONDS ago wait for the next call: an
    event id is taken before its transaction commits, so a younger one could still appear
    behind a cursor that has passed it."""
    after = decode_cursor(cursor) or 0
    settled = utcnow() - timedelta(seconds=current_app.config["CHANGES_SETTLE_SECONDS"])
    events = list(
        db.session.scalars(
            select(StatusEvent)
            .join(StatusEvent.dossier)
            .options(contains_eager(StatusEvent.dossier))
            .where(
                Dossier.agency_id == agency_id,
                StatusEvent.applied.is_(True),
                StatusEvent.id > after,
                StatusEvent.recorded_at <= settled,
            )
            .order_by(StatusEvent.id)
            .limit(limit + 1)
        ).unique()
    )
    more = len(events) > limit
    events = events[:limit]
    carried = carried_codes(events)
    items = [build_payload(event.dossier, event, carried.get(event.id)) for event in events]
    last = events[-1].id if events else after
    return {
        "items": items,
        "next_cursor": encode_cursor(last) if last else None,
        "has_more": more,
    }
