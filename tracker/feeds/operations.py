"""Taking feed batches in: signature, envelope, storage. Applying them is `tracker.feeds.apply`.

A batch is stored as it came (each event's payload verbatim) with one multi-row INSERT and its
`feeds.apply_batch` task in the same transaction; the worker does the rest. Operations flush,
never commit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from tracker import webhooks
from tracker.accounts.models import User
from tracker.calendar import utcnow
from tracker.errors import Conflict
from tracker.extensions import db
from tracker.feeds import queries
from tracker.feeds.models import FeedBatch, FeedEvent
from tracker.outbox.operations import enqueue

log = logging.getLogger(__name__)


class MessageIdReused(Conflict):
    code = "message_id_reused"


class AlreadyReceived(Exception):
    """The message was stored before, as `batch`: a sender's retry, answered, not stored."""

    def __init__(self, batch: FeedBatch) -> None:
        super().__init__(f"message {batch.message_id} is batch {batch.id}")
        self.batch = batch


def check_message(
    body: bytes, headers: Mapping[str, str], secret: str | None, tolerance: int
) -> str | None:
    """The batch's `webhook-id`, once its signature is checked (`tracker.webhooks`).

    Without a secret for the feed (development, tests) nothing is checked but the id's form:
    an unsigned batch is taken, and an id given is still stored, so a repeat is still caught.
    """
    if secret:
        return webhooks.verify(secret, body, headers, tolerance)
    return webhooks.message_id(headers)


def receive_batch(
    source: str,
    events: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    refused: int,
    submitted_by: User | None,
    apply_later: bool = True,
    message_id: str | None = None,
    body: bytes = b"",
) -> FeedBatch:
    """Store a batch of checked (loaded, raw) events and, unless `apply_later` is false, ask a
    worker to apply it once the transaction commits.

    A batch sent as message `message_id` (whose raw body is `body`) is stored once per feed:
    the same message again raises `AlreadyReceived`, the id with another body
    `MessageIdReused` (409).
    """
    batch = FeedBatch(
        source=source,
        received_at=utcnow(),
        submitted_by_id=submitted_by.id if submitted_by else None,
        event_count=len(events),
        refused_count=refused,
        message_id=message_id,
        body_sha256=hashlib.sha256(body).hexdigest() if message_id else None,
    )
    _add_once(batch)
    row = _postal_row if source == "postal" else _agency_row
    rows = [row(batch.id, loaded, raw) for loaded, raw in events]
    if rows:
        # Core executemany: SQLAlchemy sends it as multi-row INSERTs, not one round trip each.
        db.session.execute(insert(FeedEvent.__table__), rows)
    if rows and apply_later:
        enqueue("feeds.apply_batch", batch_id=batch.id)
    log.info(
        "feed batch %s (%s): %s events stored, %s refused", batch.id, source, len(rows), refused
    )
    return batch


def _add_once(batch: FeedBatch) -> None:
    """Insert the batch; its message id, if stored already, raises.

    The unique index decides, not a read beforehand: of two workers storing the same message
    at once, PostgreSQL makes the second wait for the first's commit, then refuses it; SQLite
    runs them one after the other. The savepoint keeps the request's transaction usable.
    """
    if batch.message_id is None:
        db.session.add(batch)
        db.session.flush()
        return
    try:
        with db.session.begin_nested():
            db.session.add(batch)
    except IntegrityError:
        first = db.session.scalar(
            select(FeedBatch).where(
                FeedBatch.source == batch.source, FeedBatch.message_id == batch.message_id
            )
        )
        if first is None:
            raise
        if first.body_sha256 != batch.body_sha256:
            raise MessageIdReused(
                f"webhook-id {batch.message_id} was already used for batch {first.id}, with "
                "another body: give every message an id of its own",
                fields={webhooks.ID_HEADER: ["already used for another body"]},
                extra={"batch_id": first.id},
            ) from None
        raise AlreadyReceived(first) from None


def _common(batch_id: int, loaded: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "event_id": loaded["event_id"],
        "occurred_at": loaded["occurred_at"],
        "note": loaded.get("note") or None,
        "payload": raw,
        "state": "pending",
        "dossier_id": None,
        "error": None,
        "processed_at": None,
    }


def _postal_row(batch_id: int, loaded: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    return {
        **_common(batch_id, loaded, raw),
        "source": "postal",
        "item_number": loaded["item_number"],
        "dossier_code": None,
        "agency_reference": None,
        "agency_code": None,
        "raw_code": loaded["code"].upper(),
        # The mapping is read when the event is applied: it may change in between.
        "status": None,
        "office_code": loaded.get("office_code"),
        "appointment_date": None,
        "receiver_name": loaded.get("receiver_name"),
        "receiver_relation": loaded.get("receiver_relation"),
        "failure_reason": loaded.get("failure_reason"),
    }


def _agency_row(batch_id: int, loaded: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    return {
        **_common(batch_id, loaded, raw),
        "source": "agency",
        "item_number": None,
        # Our code, or the agency's own (with its agency, else the sending account's).
        "dossier_code": loaded.get("dossier_code"),
        "agency_reference": loaded.get("agency_reference"),
        "agency_code": loaded.get("agency_code"),
        "raw_code": None,
        "status": loaded["status"],
        "office_code": None,
        "appointment_date": loaded.get("appointment_date"),
        "receiver_name": None,
        "receiver_relation": None,
        "failure_reason": None,
    }


def wake_unmatched(item_number: str | None) -> None:
    """A dossier now carries `item_number`: when postal events wait for it, have them applied.

    Connected to `item_number_set`; costs one indexed EXISTS when nothing waits.
    """
    if item_number and queries.has_unmatched(item_number):
        enqueue("feeds.apply_unmatched", item_number=item_number)


def wake_awaited(item_numbers: Iterable[str]) -> None:
    """Dossiers taken in by a bulk insert carry `item_numbers`: the same, one query per chunk."""
    for item_number in sorted(queries.items_awaited(item_numbers)):
        enqueue("feeds.apply_unmatched", item_number=item_number)
