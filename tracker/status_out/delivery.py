"""Sending a subscription's deliveries: signed JSON POSTs, in order per dossier, at most one
sender per subscription, retried with backoff for a day.

- **One sender per subscription**, at most STATUS_OUT_CONCURRENCY POSTs in flight (each for
  another dossier): a run holds the lease `status_out.deliver:<id>` (a row in
  task_leases, expiring `longest_post()` + LEASE_MARGIN_SECONDS after it was taken, renewed
  before a POST once it has less than the longest POST + 2 s left); a second run for the
  same subscription returns at once. A receiver that hangs therefore holds one worker slot at
  most, for at most the longest POST each time, and never another agency's deliveries;
  requests never send (they only write rows).
- **In order per dossier**: a delivery is due only when no earlier delivery of the same dossier
  to the same subscription is still pending; a later status waits until the earlier one is
  delivered or has failed for good (or was cancelled).
- **At least once**: a chunk's attempts are counted and committed before its POSTs, their
  outcomes after them; a worker killed between the two leaves the rows pending, and the next run
  (when the lease has expired) sends them again with the same `webhook-id`s.
- **Outcomes**: 2xx delivered; 410 Gone switches the subscription off and cancels its pending
  deliveries; anything else (another status, a timeout, a refused connection) is retried after
  `retry_delay` until `give_up_at` (STATUS_OUT_RETRY_SECONDS after it was queued), then `failed`.
  After a failure that is the receiver's (no answer, 5xx) the run stops: the others are tried by
  the next run rather than each costing a timeout now.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

import httpx
from flask import current_app
from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.orm import aliased

from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.i18n import N_
from tracker.notifications.operations import retry_delay
from tracker.outbox.models import TaskLease
from tracker.outbox.operations import acquire_lease, enqueue, holder_name, release_lease
from tracker.status_out.models import StatusDelivery, StatusSubscription
from tracker.status_out.operations import DELIVER_TASK, disable_subscription
from tracker.unit_of_work import unit_of_work
from tracker.webhooks import sign

log = logging.getLogger(__name__)

CHUNK = 50
LEASE_MARGIN_SECONDS = 5
# A run stops taking new chunks after this long; the next one goes on.
RUN_SECONDS = 60
# What is kept of a receiver's answer (an error's detail): enough to read, never a flood.
MAX_ANSWER_BYTES = 2048
USER_AGENT = "tracker-status-out/1"
# Why a subscription was switched off by its receiver (stored as is, translated where shown).
GONE_REASON = N_("the receiver answered 410 Gone")


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    attempt: int
    status_code: int | None
    error: str | None
    at: datetime | None = None  # when the answer came (or the attempt failed)
    # Of the claimed row: latency counts from `queued_at`; retries stop after `give_up_at`.
    queued_at: datetime | None = None
    give_up_at: datetime | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None

    @property
    def gone(self) -> bool:
        return self.status_code == 410

    @property
    def receiver_down(self) -> bool:
        return self.status_code is None or self.status_code >= 500


def longest_post() -> float:
    """The longest a POST can take: connecting, sending the body and waiting for the answer's
    headers each within their timeout, the body read against the total deadline."""
    config = current_app.config
    return config["STATUS_OUT_CONNECT_TIMEOUT_SECONDS"] + 3 * config["STATUS_OUT_TIMEOUT_SECONDS"]


def lease_name(subscription_id: int) -> str:
    return f"{DELIVER_TASK}:{subscription_id}"


def deliver_subscription(subscription_id: int) -> int:
    """Send what is due for one subscription while this run holds its lease; returns how many
    were delivered. Idempotent: a run that finds the lease held, or nothing due, does nothing.

    A run ends when nothing is due, when the receiver is down (its due deliveries wait for the
    failed one's next attempt: a dead receiver costs one POST per backoff step, not one per
    delivery), or after RUN_SECONDS, so that other tasks get the worker in between (beat's
    `dispatch_due` asks for the next run, the lease being free)."""
    ttl = timedelta(seconds=longest_post() + LEASE_MARGIN_SECONDS)
    name, holder = lease_name(subscription_id), f"{holder_name()}:{subscription_id}"
    delivered = 0
    while acquire_lease(name, ttl, holder):
        try:
            sent, why = _send_due(subscription_id, name, ttl, holder)
            delivered += sent
        finally:
            release_lease(name, holder)
        if why != DRAINED:
            break
        # Drained: look once more after letting the lease go; a delivery written while this
        # run was ending had its task skipped because the lease was held.
        with unit_of_work():
            if not due_ids(subscription_id, 1):
                break
    return delivered


# Why `_send_due` returned.
DRAINED, TIME_UP, RECEIVER_DOWN, SWITCHED_OFF = "drained", "time_up", "receiver_down", "off"


def _send_due(subscription_id: int, name: str, ttl: timedelta, holder: str) -> tuple[int, str]:
    """Chunk after chunk: claim (the attempts counted, committed), POST them outside any
    transaction, STATUS_OUT_CONCURRENCY at a time (a chunk holds one delivery per dossier, so
    order per dossier holds), record the outcomes (one commit per chunk). Returns how many were
    delivered and why it stopped."""
    config = current_app.config
    timeout = httpx.Timeout(
        config["STATUS_OUT_TIMEOUT_SECONDS"], connect=config["STATUS_OUT_CONNECT_TIMEOUT_SECONDS"]
    )
    cap = max(1, config["STATUS_OUT_CONCURRENCY"])
    deadline = time.monotonic() + RUN_SECONDS
    renewed = time.monotonic()  # the caller has just taken the lease
    delivered = 0
    limits = httpx.Limits(max_connections=cap, max_keepalive_connections=cap)
    with (
        httpx.Client(timeout=timeout, follow_redirects=False, limits=limits) as client,
        ThreadPoolExecutor(cap, thread_name_prefix="status-out") as pool,
    ):
        while time.monotonic() < deadline:
            with unit_of_work():
                subscription = db.session.get(StatusSubscription, subscription_id)
                if subscription is None or not subscription.active:
                    return delivered, SWITCHED_OFF
                url, secret = subscription.url, subscription.secret
                claimed = _claim(due_ids(subscription_id, CHUNK))
            if not claimed:
                return delivered, DRAINED
            outcomes: list[Outcome] = []
            stop: Outcome | None = None
            for start in range(0, len(claimed), cap):
                # Renewed while it still outlasts a whole POST: this run is alive.
                if time.monotonic() - renewed > LEASE_MARGIN_SECONDS - 2:
                    acquire_lease(name, ttl, holder)
                    renewed = time.monotonic()
                wave = claimed[start : start + cap]
                outcomes.extend(pool.map(partial(_post_row, client, url, secret), wave))
                stop = next((o for o in outcomes if o.gone or _receiver_failed(o)), None)
                if stop is not None:
                    break
            with unit_of_work():
                record_outcomes(subscription_id, outcomes)
                _uncount(claimed[len(outcomes) :])
                if stop is not None and not stop.gone:
                    _wait_with(subscription_id, stop)
            delivered += sum(outcome.delivered for outcome in outcomes)
            if stop is not None:
                return delivered, SWITCHED_OFF if stop.gone else RECEIVER_DOWN
    return delivered, TIME_UP


def _receiver_failed(outcome: Outcome) -> bool:
    """No answer, or a 5xx: the receiver is down, the next POST would fail too."""
    return not outcome.delivered and outcome.receiver_down


def _wait_with(subscription_id: int, failed: Outcome) -> None:
    """The receiver is down: the subscription's other due deliveries wait until the failed
    one's next attempt (one POST per backoff step finds out whether it is back)."""
    base = current_app.config["STATUS_OUT_RETRY_BASE_SECONDS"]
    until = (failed.at or utcnow()) + retry_delay(failed.attempt, base)
    table = StatusDelivery.__table__
    db.session.execute(
        update(table)
        .where(
            table.c.subscription_id == subscription_id,
            table.c.state == "pending",
            table.c.next_attempt_at < until,
        )
        .values(next_attempt_at=until)
    )


def _post_row(client: httpx.Client, url: str, secret: str, row) -> Outcome:
    """POST one claimed delivery; its outcome carries what recording it needs."""
    body = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":"))
    outcome = post(client, url, secret, row.message_id, body.encode(), row.id)
    return replace(
        outcome, attempt=row.attempts, queued_at=row.queued_at, give_up_at=row.give_up_at
    )


def due_ids(subscription_id: int, limit: int, now: datetime | None = None) -> list[int]:
    """The subscription's due pending deliveries, oldest first, at most one per dossier: the
    earliest pending one of each dossier (a later one waits for it)."""
    now = now or utcnow()
    earlier = aliased(StatusDelivery)
    blocked = exists().where(
        and_(
            earlier.subscription_id == StatusDelivery.subscription_id,
            earlier.dossier_id == StatusDelivery.dossier_id,
            earlier.state == "pending",
            earlier.id < StatusDelivery.id,
        )
    )
    return list(
        db.session.scalars(
            select(StatusDelivery.id)
            .where(
                StatusDelivery.subscription_id == subscription_id,
                StatusDelivery.state == "pending",
                StatusDelivery.next_attempt_at <= now,
                ~blocked,
            )
            .order_by(StatusDelivery.id)
            .limit(limit)
        )
    )


def _claim(ids: list[int]) -> list:
    """Count an attempt of each of these deliveries still pending; their rows, oldest first. A
    worker that dies before recording leaves them pending: the next run sends them again."""
    if not ids:
        return []
    rows = db.session.execute(
        update(StatusDelivery)
        .where(StatusDelivery.id.in_(ids), StatusDelivery.state == "pending")
        .values(attempts=StatusDelivery.attempts + 1, last_attempt_at=utcnow())
        .returning(
            StatusDelivery.id,
            StatusDelivery.attempts,
            StatusDelivery.message_id,
            StatusDelivery.payload,
            StatusDelivery.queued_at,
            StatusDelivery.give_up_at,
        )
    ).all()
    return sorted(rows, key=lambda row: row.id)


def _uncount(rows: list) -> None:
    """Claimed but not sent (the run stopped at a receiver that is down): no attempt made."""
    if rows:
        db.session.execute(
            update(StatusDelivery)
            .where(StatusDelivery.id.in_([row.id for row in rows]))
            .values(attempts=StatusDelivery.attempts - 1)
        )


def post(
    client: httpx.Client,
    url: str,
    secret: str,
    message_id: str,
    body: bytes,
    delivery_id: int = 0,
    attempt: int = 0,
) -> Outcome:
    """One signed POST; never raises for what the receiver or the network does. Connecting,
    sending and waiting for the answer each have their timeout; the answer is read against a
    deadline from the start, so a receiver that trickles bytes does not hold the run either."""
    total = client.timeout.read or 10.0
    deadline = time.monotonic() + total
    headers = {
        **sign(secret, message_id, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            answer = b""
            for chunk in response.iter_bytes():
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the answer took longer than the total timeout")
                if len(answer) < MAX_ANSWER_BYTES:
                    answer += chunk[: MAX_ANSWER_BYTES - len(answer)]
            code = response.status_code
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        return Outcome(delivery_id, attempt, None, error, utcnow())
    if 200 <= code < 300:
        return Outcome(delivery_id, attempt, code, None, utcnow())
    detail = answer.decode(errors="replace").strip()[:500]
    return Outcome(delivery_id, attempt, code, f"HTTP {code}: {detail}".strip()[:2000], utcnow())


def record_outcomes(
    subscription_id: int, outcomes: list[Outcome], now: datetime | None = None
) -> None:
    """Write what the receiver said of each claimed delivery (a statement for all that arrived,
    one for all that failed). A 410 switches the subscription off and cancels what waits."""
    table = StatusDelivery.__table__
    pending = (table.c.id == bindparam("b_id"), table.c.state == "pending")
    delivered = [_delivered(o, now) for o in outcomes if o.delivered]
    if delivered:
        db.session.execute(
            update(table)
            .where(*pending)
            .values(
                state="delivered",
                delivered_at=bindparam("b_at"),
                latency_ms=bindparam("b_latency"),
                last_status_code=bindparam("b_code"),
                last_error=None,
            ),
            delivered,
        )
    failed = [_failed(o, now) for o in outcomes if not o.delivered and not o.gone]
    if failed:
        db.session.execute(
            update(table)
            .where(*pending)
            .values(
                state=bindparam("b_state"),
                next_attempt_at=bindparam("b_next"),
                last_status_code=bindparam("b_code"),
                last_error=bindparam("b_error"),
            ),
            failed,
        )
    for outcome in outcomes:
        if outcome.gone:
            _gone(subscription_id, outcome)


def _delivered(outcome: Outcome, now: datetime | None) -> dict:
    at = now or outcome.at or utcnow()
    latency = int((at - outcome.queued_at).total_seconds() * 1000) if outcome.queued_at else None
    return {
        "b_id": outcome.delivery_id,
        "b_at": at,
        "b_latency": None if latency is None else max(latency, 0),
        "b_code": outcome.status_code,
    }


def _failed(outcome: Outcome, now: datetime | None) -> dict:
    at = now or outcome.at or utcnow()
    base = current_app.config["STATUS_OUT_RETRY_BASE_SECONDS"]
    next_at = at + retry_delay(outcome.attempt, base)
    final = outcome.give_up_at is None or next_at > outcome.give_up_at
    if final:
        log.warning("status delivery %s failed for good: %s", outcome.delivery_id, outcome.error)
    return {
        "b_id": outcome.delivery_id,
        "b_state": "failed" if final else "pending",
        "b_next": next_at,
        "b_code": outcome.status_code,
        "b_error": outcome.error,
    }


def _gone(subscription_id: int, outcome: Outcome) -> None:
    """A 410: the delivery cancelled, the subscription switched off (when: its updated_at)."""
    table = StatusDelivery.__table__
    db.session.execute(
        update(table)
        .where(table.c.id == outcome.delivery_id, table.c.state == "pending")
        .values(state="cancelled", last_status_code=410, last_error=outcome.error)
    )
    disable_subscription(subscription_id, GONE_REASON)
    log.warning("status subscription %s switched off: 410 Gone", subscription_id)


def dispatch_due(now: datetime | None = None) -> int:
    """Beat: one `status_out.deliver` per active subscription with a due delivery (retries,
    runs lost with a worker), unless a run holds its lease (it looks again before it ends).
    Returns how many were asked for."""
    now = now or utcnow()
    held = {
        name.removeprefix(f"{DELIVER_TASK}:")
        for name in db.session.scalars(
            select(TaskLease.name).where(
                TaskLease.name.startswith(f"{DELIVER_TASK}:"), TaskLease.expires_at > now
            )
        )
    }
    ids = db.session.scalars(
        select(StatusDelivery.subscription_id)
        .join(StatusSubscription, StatusSubscription.id == StatusDelivery.subscription_id)
        .where(
            StatusDelivery.state == "pending",
            StatusDelivery.next_attempt_at <= now,
            StatusSubscription.active.is_(True),
        )
        .distinct()
    ).all()
    wanted = sorted(i for i in ids if str(i) not in held)
    for subscription_id in wanted:
        enqueue(DELIVER_TASK, subscription_id=subscription_id)
    return len(wanted)
