"""Read side of the feeds: a batch and its counts, events waiting for their dossier."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select

from tracker.accounts.models import User
from tracker.database import among, batches, get_by_id
from tracker.dossiers.models import Dossier
from tracker.dossiers.queries import keyset_page
from tracker.errors import NotFound
from tracker.extensions import db
from tracker.feeds.models import EVENT_STATES, FeedBatch, FeedEvent

# Who may read which batch: managers and admins any, an integration account its own. A batch
# spans offices and agencies, so clerks and agency officers (scoped to one) read none.
READ_ALL = ("manager", "admin")


def get_batch(batch_id: int, user: User) -> FeedBatch:
    """The batch if `user` may see it; otherwise 404, exactly as a missing one."""
    batch = get_by_id(FeedBatch, batch_id)
    if batch is None or (user.role not in READ_ALL and batch.submitted_by_id != user.id):
        raise NotFound(f"no feed batch {batch_id}")
    return batch


def batch_counts(batch_id: int) -> dict[str, int]:
    """Events of the batch by state (every state listed, zeros included)."""
    rows = db.session.execute(
        select(FeedEvent.state, func.count())
        .where(FeedEvent.batch_id == batch_id)
        .group_by(FeedEvent.state)
    )
    counts = dict.fromkeys(EVENT_STATES, 0)
    counts.update({state: count for state, count in rows})
    return counts


def describe_batch(batch: FeedBatch) -> dict[str, Any]:
    counts = batch_counts(batch.id)
    return {
        "id": batch.id,
        "source": batch.source,
        "message_id": batch.message_id,
        "received_at": batch.received_at,
        "processed_at": batch.processed_at,
        "event_count": batch.event_count,
        "refused_count": batch.refused_count,
        "done": counts["pending"] == 0,
        "counts": counts,
    }


def has_unmatched(item_number: str) -> bool:
    """Whether postal events wait for `item_number` (one indexed EXISTS)."""
    waiting = select(FeedEvent.id).where(
        FeedEvent.state == "unmatched", FeedEvent.item_number == item_number
    )
    return bool(db.session.scalar(select(waiting.exists())))


def items_awaited(items: Iterable[str]) -> set[str]:
    """The item numbers among `items` for which postal events wait unmatched."""
    found: set[str] = set()
    waiting = select(FeedEvent.id).where(FeedEvent.state == "unmatched").limit(1)
    if db.session.scalar(waiting) is None:
        return found  # usually: then one indexed probe instead of one per item
    for batch in batches(sorted(set(items))):
        found.update(
            db.session.scalars(
                select(FeedEvent.item_number)
                .where(FeedEvent.state == "unmatched", among(FeedEvent.item_number, batch))
                .distinct()
            )
        )
    return found


def list_unmatched(args: dict[str, Any]) -> tuple[list[FeedEvent], str | None]:
    """Postal events no dossier claims yet, newest first (keyset pagination)."""
    query = select(FeedEvent).where(FeedEvent.state == "unmatched")
    if "item" in args:
        query = query.where(FeedEvent.item_number == args["item"])
    if "office" in args:
        query = query.where(FeedEvent.office_code == args["office"])
    return _page(query, args)


def list_batch_events(batch_id: int, args: dict[str, Any]) -> tuple[list[FeedEvent], str | None]:
    query = select(FeedEvent).where(FeedEvent.batch_id == batch_id)
    if "state" in args:
        query = query.where(FeedEvent.state == args["state"])
    return _page(query, args)


def _page(query: Select, args: dict[str, Any]) -> tuple[list[FeedEvent], str | None]:
    return keyset_page(query, FeedEvent.id, args)


def unmatched_items_with_dossier(limit: int = 1000) -> list[str]:
    """Item numbers some postal events wait for although a dossier carries them by now."""
    return list(
        db.session.scalars(
            select(FeedEvent.item_number)
            .join(Dossier, Dossier.postal_item_number == FeedEvent.item_number)
            .where(FeedEvent.state == "unmatched")
            .distinct()
            .limit(limit)
        )
    )
