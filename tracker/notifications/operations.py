"""Queueing notifications with the status change that causes them, and delivering them later.

Requests only queue: a row per message, written with the request's transaction, and one
outbox message `notifications.deliver` per transaction, published after commit. The worker
claims due rows, calls the gateway outside any transaction (a slow gateway holds no lock a
request waits for), then records the outcomes: sent, retried later with backoff, or failed.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from tracker.calendar import utcnow
from tracker.database import insert_rows
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.dossiers.persist import kept
from tracker.extensions import db
from tracker.notifications.gateways import (
    Gateway,
    GatewayError,
    OutgoingMessage,
    PermanentGatewayError,
)
from tracker.notifications.messages import (
    NOTIFY_STATUSES,
    SECRET_PLACEHOLDER,
    Message,
    compose,
    order_sms,
    pickup_collected_sms,
    pickup_sms,
)
from tracker.notifications.models import Notification
from tracker.outbox.operations import enqueue
from tracker.pickups.models import Pickup

log = logging.getLogger(__name__)

DELIVER_TASK = "notifications.deliver"
_QUEUED_KEY = "tracker.notifications.queued"
# A claimed message is not offered to another run for this long: longer than a chunk can take
# with a gateway that times out on every message. After a crash it becomes due again.
CLAIM_SECONDS = 600
RETRY_CAP_SECONDS = 3600

_TABLE = Notification.__table__


def queue_notifications(dossier: Dossier, event: StatusEvent) -> None:
    """Queue the messages (SMS, and e-mail where given) a citizen gets for `event`, if any.

    Connected to `dossier_received` and `status_changed` (`tracker.subscriptions`): every event
    that moves a dossier (not late ones),
    in a feed at thousands of events a second: most events return at the first test. An event
    older than NOTIFICATION_MAX_AGE_HOURS (a backlog loaded late) is not announced: "the
    courier is on the way" two days later would mislead. The rows are written when the
    transaction commits (`write_queued`), in one INSERT, with the one delivery task.
    """
    if event.to_status not in NOTIFY_STATUSES:
        return
    config = current_app.config
    now = utcnow()
    if event.occurred_at < now - timedelta(hours=config["NOTIFICATION_MAX_AGE_HOURS"]):
        return
    messages = compose(
        dossier,
        event,
        unaccented_sms=config["NOTIFICATION_SMS_UNACCENTED"],
        base_url=config["PUBLIC_BASE_URL"],
    )
    queued = db.session.info.setdefault(_QUEUED_KEY, [])
    for message in messages:
        queued.append((event, _queued_row(message, event.to_status, now)))


def _queued_row(
    message: Message, kind: str, now: datetime, lookup_secret: str | None = None
) -> dict[str, Any]:
    """A notification's row as `write_queued` inserts it (its owner's key added then)."""
    return {
        "channel": message.channel,
        "recipient": message.recipient,
        "kind": kind,
        "subject": message.subject,
        "body": message.body,
        "lookup_secret": lookup_secret,
        "state": "queued",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def queue_pickup_sms(pickup: Pickup, kind: str) -> None:
    """Queue the SMS confirming a pickup's slot: `kind` "requested" (a new request) or
    "rescheduled". Connected to `pickup_scheduled` (`tracker.subscriptions`); written at commit
    with the dossiers' notices, delivered by the same task."""
    message = pickup_sms(pickup, kind, unaccented=current_app.config["NOTIFICATION_SMS_UNACCENTED"])
    row = _queued_row(message, f"pickup_{kind}", utcnow())
    db.session.info.setdefault(_QUEUED_KEY, []).append((pickup, row))


def queue_pickup_collected_sms(pickup: Pickup, dossier: Dossier, secret: str) -> None:
    """Queue the SMS of a dossier collected at the door: its code, lookup secret and lookup
    link, in place of the "received" SMS its first event queued (one SMS per event). The body
    keeps a placeholder; the secret waits in `lookup_secret` until the message is sent.
    Connected to `pickup_collected` (`tracker.subscriptions`)."""
    event = _drop_queued_sms(dossier)
    if event is None:  # a visit recorded late: its "received" was not announced
        first = select(StatusEvent).where(StatusEvent.dossier_id == dossier.id)
        event = db.session.scalar(first.order_by(StatusEvent.id).limit(1))
    config = current_app.config
    message = pickup_collected_sms(
        pickup,
        dossier,
        unaccented=config["NOTIFICATION_SMS_UNACCENTED"],
        base_url=config["PUBLIC_BASE_URL"],
    )
    _queue_with_secret(message, event, secret)


def queue_order_sms(dossier: Dossier, event: StatusEvent, secret: str) -> None:
    """Queue the SMS of a one-way dossier an agency's order made (`event`: its result-ready
    event): its code, lookup secret and link, in place of the SMS its first events queued (one
    SMS for the order), and even when the result was ready long ago (the citizen has no other
    way to the code). The secret waits in `lookup_secret` until sent, as a pickup's. Connected
    to `order_created` (`tracker.subscriptions`)."""
    _drop_queued_sms(dossier)
    config = current_app.config
    message = order_sms(
        dossier,
        unaccented=config["NOTIFICATION_SMS_UNACCENTED"],
        base_url=config["PUBLIC_BASE_URL"],
    )
    _queue_with_secret(message, event, secret)


def _drop_queued_sms(dossier: Dossier) -> StatusEvent | None:
    """Take the SMS queued in this transaction for `dossier`'s events out of the queue (its
    e-mails stay); returns the first of those events, if any was queued."""
    queued = db.session.info.setdefault(_QUEUED_KEY, [])
    event = None
    for index in reversed(range(len(queued))):
        owner, row = queued[index]
        if isinstance(owner, StatusEvent) and owner.dossier is dossier:
            event = owner
            if row["channel"] == "sms":
                del queued[index]
    return event


def _queue_with_secret(message: Message, event: StatusEvent, secret: str) -> None:
    queued = db.session.info.setdefault(_QUEUED_KEY, [])
    queued.append((event, _queued_row(message, event.to_status, utcnow(), secret)))


def write_queued(session: Session) -> None:
    """At the outermost commit: the queued rows in one INSERT, and one delivery task.

    The event may not be flushed when its notice is queued (a feed batch flushes once, at its
    end): its ids are read here, after a flush. A plain INSERT of dicts costs a fraction of ORM
    objects with relationships (measured in the feed path). A notice whose event (or pickup)
    went away with a rolled-back savepoint is dropped with it.
    """
    if not session.info.get(_QUEUED_KEY):
        return
    session.flush()
    queued = session.info.pop(_QUEUED_KEY)
    rows = [{**row, **_owner(owner)} for owner, row in queued if kept(owner)]
    if rows:
        insert_rows(session, _TABLE, rows)
        enqueue(DELIVER_TASK)


def _owner(owner: StatusEvent | Pickup) -> dict[str, int | None]:
    """The notification's owner columns: a dossier's status event, or a pickup request."""
    if isinstance(owner, Pickup):
        return {"dossier_id": None, "event_id": None, "pickup_id": owner.id}
    return {"dossier_id": owner.dossier_id, "event_id": owner.id, "pickup_id": None}


def forget_queued(session: Session) -> None:
    # Rolled back or closed: the notices go with their events.
    session.info.pop(_QUEUED_KEY, None)


# Delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    message: OutgoingMessage
    reference: str | None = None
    error: str | None = None
    permanent: bool = False


def claim_due(limit: int, *, now: datetime | None = None) -> list[OutgoingMessage]:
    """Take up to `limit` due messages for this run, oldest first.

    Claiming counts the attempt and moves `next_attempt_at` past the claim window, in one
    statement (rows other runs hold are skipped on PostgreSQL). The caller commits before
    calling the gateway. A message whose run crashed is due again when the claim runs out, its
    attempt counted: a message that crashes every worker still ends in `failed`.
    """
    now = now or utcnow()
    due = (
        select(_TABLE.c.id)
        .where(_TABLE.c.state == "queued", _TABLE.c.next_attempt_at <= now)
        .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = db.session.execute(
        update(_TABLE)
        .where(_TABLE.c.id.in_(due))
        .values(
            attempts=_TABLE.c.attempts + 1,
            next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS),
        )
        .returning(
            _TABLE.c.id,
            _TABLE.c.channel,
            _TABLE.c.recipient,
            _TABLE.c.subject,
            _TABLE.c.body,
            _TABLE.c.kind,
            _TABLE.c.attempts,
            _TABLE.c.lookup_secret,
        )
    ).all()
    return sorted((_outgoing(row) for row in claimed), key=lambda message: message.id)


def _outgoing(row) -> OutgoingMessage:
    """The message as the gateway sends it: a lookup secret kept apart is filled in."""
    body = row.body
    if row.lookup_secret:
        body = body.replace(SECRET_PLACEHOLDER, row.lookup_secret)
    return OutgoingMessage(
        row.id, row.channel, row.recipient, row.subject, body, row.kind, attempt=row.attempts
    )


def send_all(gateway: Gateway, messages: list[OutgoingMessage]) -> list[Outcome]:
    """Hand each message to the gateway; never raises for a message the gateway refuses."""
    outcomes = []
    for message in messages:
        try:
            reference = gateway.send(message)
        except PermanentGatewayError as exc:
            outcomes.append(Outcome(message, error=_describe(exc), permanent=True))
        except GatewayError as exc:
            outcomes.append(Outcome(message, error=_describe(exc)))
        except Exception as exc:  # a gateway's own bug must not stop the other messages
            log.exception("notification %s: unexpected gateway error", message.id)
            outcomes.append(Outcome(message, error=_describe(exc)))
        else:
            outcomes.append(
                Outcome(message, reference=None if reference is None else str(reference)[:120])
            )
    return outcomes


def record_outcomes(outcomes: list[Outcome], *, now: datetime | None = None) -> int:
    """Write what the gateway said: sent, retried later with backoff, or failed. Returns how
    many were sent. A result that comes after another run took the message over is dropped."""
    now = now or utcnow()
    sent = [{"b_id": o.message.id, "b_reference": o.reference} for o in outcomes if o.error is None]
    if sent:
        db.session.execute(
            update(_TABLE)
            .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.state == "queued")
            .values(
                state="sent",
                sent_at=now,
                gateway_reference=bindparam("b_reference"),
                last_error=None,
                lookup_secret=None,  # sent: the citizen has it, the database need not
            ),
            sent,
        )
    failures = [_failure(o, now) for o in outcomes if o.error is not None]
    if failures:
        db.session.execute(
            update(_TABLE)
            .where(
                _TABLE.c.id == bindparam("b_id"),
                _TABLE.c.attempts == bindparam("b_attempt"),
                _TABLE.c.state == "queued",
            )
            .values(
                state=bindparam("b_state"),
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"),
            ),
            failures,
        )
    given_up_ids = [f["b_id"] for f in failures if f["b_state"] == "failed"]
    if given_up_ids:  # a secret never sent is of no use to keep either
        db.session.execute(
            update(_TABLE)
            .where(_TABLE.c.id.in_(given_up_ids), _TABLE.c.state == "failed")
            .values(lookup_secret=None)
        )
    given_up = len(given_up_ids)
    if outcomes:
        log.info(
            "notifications: %s sent, %s to retry, %s failed",
            len(sent),
            len(failures) - given_up,
            given_up,
        )
    return len(sent)


def _failure(outcome: Outcome, now: datetime) -> dict:
    config = current_app.config
    attempt = outcome.message.attempt
    final = outcome.permanent or attempt >= config["NOTIFICATION_MAX_ATTEMPTS"]
    if final:
        log.warning("notification %s failed for good: %s", outcome.message.id, outcome.error)
    return {
        "b_id": outcome.message.id,
        "b_attempt": attempt,
        "b_state": "failed" if final else "queued",
        "b_next": now + retry_delay(attempt, config["NOTIFICATION_RETRY_BASE_SECONDS"]),
        "b_error": outcome.error,
    }


def retry_delay(attempts: int, base: float, cap: float = RETRY_CAP_SECONDS) -> timedelta:
    """Exponential backoff with "equal jitter": between half and all of base·2^(attempts-1).

    Not full jitter (anywhere from 0 to the ceiling): with half the ceiling
    as a floor, a message never waits less than before, while messages that failed together
    (a gateway outage) still come back spread over the other half.
    """
    ceiling = min(cap, base * 2 ** (attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
