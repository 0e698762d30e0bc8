"""Status out: subscriptions (admin), the delivery rows written with each status change, and
replays.

A status change never does HTTP: `note_event` (connected to `dossier_received` and
`status_changed` in `tracker.subscriptions`) only notes the event when the dossier's agency has
an active subscription that wants its status; at the outermost commit `write_deliveries` writes
one `pending` row per (event, subscription), its payload and `webhook-id` fixed, and one outbox
message `status_out.deliver` per subscription, published after the commit. The worker
(`tracker.status_out.delivery`) sends them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

from flask import current_app
from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.calendar import utcnow
from tracker.catalogue.models import Agency
from tracker.database import (
    advisory_lock,
    among,
    array_text,
    batches,
    insert_rows,
    on_postgresql,
)
from tracker.dossiers.lifecycle import STATUSES
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.dossiers.persist import kept
from tracker.dossiers.signals import ReceivedRow
from tracker.errors import Conflict, Phrase, ValidationFailed
from tracker.extensions import db
from tracker.i18n import N_
from tracker.outbox.operations import enqueue
from tracker.status_out.models import StatusChange, StatusDelivery, StatusSubscription
from tracker.status_out.payload import build_payload, carried_codes
from tracker.webhooks import new_secret

DELIVER_TASK = "status_out.deliver"
# Why a subscription was switched off by an admin (stored as is, translated where shown).
ADMIN_OFF_REASON = N_("switched off by an administrator")
MESSAGE_PREFIX = "msg_"
_NOTED_KEY = "tracker.status_out.noted"
_WANTED_KEY = "tracker.status_out.wanted"
_BULK_KEY = "tracker.status_out.bulk"
# The advisory lock (PostgreSQL) that orders the change log's numbers by commit: writers take
# it shared from numbering to commit, a reader of the feed exclusively for an instant.
CHANGES_LOCK = "status_changes"
_TABLE = StatusDelivery.__table__
LOOPBACK_NAMES = frozenset({"localhost"})


# Subscriptions ---------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """A receiver's URL: http or https with a host; https only in production unless
    STATUS_OUT_ALLOW_HTTP (a loopback receiver, tests)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValidationFailed.field(
            "url", N_("an http:// or https:// address with a host")
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValidationFailed.field("url", N_("an http:// or https:// address with a host"))
    if parts.username or parts.password:
        raise ValidationFailed.field("url", N_("no user name or password in the address"))
    if parts.scheme == "http" and not current_app.config["STATUS_OUT_ALLOW_HTTP"]:
        raise ValidationFailed.field("url", N_("must be https://"))
    return url


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_statuses(statuses: list[str]) -> list[str]:
    unknown = [code for code in statuses if code not in STATUSES]
    if unknown:
        raise ValidationFailed.field(
            "statuses", Phrase(N_("unknown status %(codes)s"), codes=", ".join(unknown))
        )
    return [code for code in STATUSES if code in statuses]  # lifecycle order, no repeats


def find_agency(code: str) -> Agency:
    agency = db.session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        raise ValidationFailed.field("agency_code", Phrase(N_("no agency %(code)s"), code=code))
    return agency


def create_subscription(data: dict[str, Any], actor: User) -> tuple[StatusSubscription, str]:
    """A new active subscription of an agency; returns it with its secret (shown once)."""
    secret = new_secret()
    subscription = StatusSubscription(
        agency=find_agency(data["agency_code"]),
        url=check_url(data["url"]),
        secret=secret,
        statuses=_check_statuses(data.get("statuses") or []),
        active=data.get("active", True),
        created_at=utcnow(),
    )
    db.session.add(subscription)
    db.session.flush()
    _audit(actor, "status_out.subscription_create", subscription)
    return subscription, secret


def update_subscription(
    subscription: StatusSubscription, changes: dict[str, Any], actor: User
) -> StatusSubscription:
    """Change the URL, the statuses, or switch it on or off. Switched off, its pending
    deliveries are cancelled (an admin may replay them); switched on, its reason is cleared."""
    if "url" in changes:
        subscription.url = check_url(changes["url"])
    if "statuses" in changes:
        subscription.statuses = _check_statuses(changes["statuses"] or [])
    if "active" in changes and changes["active"] != subscription.active:
        if changes["active"]:
            subscription.active = True
            subscription.disabled_reason = None
        else:
            disable_subscription(subscription.id, ADMIN_OFF_REASON)
            db.session.refresh(subscription)
    db.session.flush()
    _audit(actor, "status_out.subscription_update", subscription)
    return subscription


def rotate_secret(subscription: StatusSubscription, actor: User) -> str:
    """A new secret for the subscription; the old one stops at once. Returned once."""
    subscription.secret = new_secret()
    subscription.secret_rotated_at = utcnow()
    db.session.flush()
    _audit(actor, "status_out.secret_rotate", subscription)
    return subscription.secret


def delete_subscription(subscription: StatusSubscription, actor: User) -> None:
    """Remove the subscription and its deliveries."""
    _audit(actor, "status_out.subscription_delete", subscription)
    db.session.execute(_TABLE.delete().where(_TABLE.c.subscription_id == subscription.id))
    db.session.delete(subscription)
    db.session.flush()


def disable_subscription(subscription_id: int, reason: str) -> int:
    """Switch a subscription off and cancel its pending deliveries; returns how many."""
    now = utcnow()
    db.session.execute(
        update(StatusSubscription)
        .where(StatusSubscription.id == subscription_id)
        .values(active=False, disabled_reason=reason[:500], updated_at=now)
    )
    return _cancel_pending(subscription_id, reason)


def _cancel_pending(subscription_id: int, reason: str) -> int:
    result = db.session.execute(
        update(_TABLE)
        .where(_TABLE.c.subscription_id == subscription_id, _TABLE.c.state == "pending")
        .values(state="cancelled", last_error=f"cancelled: {reason}"[:2000])
    )
    return result.rowcount or 0


def _audit(actor: User, action: str, subscription: StatusSubscription) -> None:
    record_audit(
        actor.id,
        action,
        "status_subscription",
        str(subscription.id),
        after={
            "agency": subscription.agency.code,
            "url": subscription.url,
            "statuses": subscription.statuses,
            "active": subscription.active,
        },
    )


# Writing deliveries with the status change -----------------------------------------------------


def note_event(dossier: Dossier, event: StatusEvent) -> None:
    """Note an applied event for the change log, and for the subscriptions of its dossier's
    agency that want it. Connected to `dossier_received` and `status_changed`."""
    targets = _targets(dossier.agency_id, event.to_status)
    db.session.info.setdefault(_NOTED_KEY, []).append((dossier, event, targets))


def note_received(rows: Iterable[ReceivedRow]) -> None:
    """Note the first events of dossiers taken in by a bulk insert (an import), by dossier id:
    at the commit they go to the change log with one statement, and their rows and events are
    read back for the agencies with a subscription that wants them. Connected to
    `dossiers_received`."""
    noted = db.session.info.setdefault(_BULK_KEY, {})
    targets: dict[tuple[int, str], list[int]] = {}  # an import's rows share a few of these
    for row in rows:
        wanted = (row.agency_id, row.status)
        if wanted not in targets:
            targets[wanted] = _targets(*wanted)
        noted[row.dossier_id] = (row.agency_id, targets[wanted])


def _targets(agency_id: int, status: str) -> list[int]:
    """The agency's active subscriptions that want `status`. They are read once per
    transaction: in a feed batch of thousands of events, one query per agency."""
    wanted = db.session.info.setdefault(_WANTED_KEY, {})
    subscriptions = wanted.get(agency_id)
    if subscriptions is None:
        # No flush here: a feed batch flushes once, at its end.
        with db.session.no_autoflush:
            rows = db.session.execute(
                select(StatusSubscription.id, StatusSubscription.statuses).where(
                    StatusSubscription.agency_id == agency_id,
                    StatusSubscription.active.is_(True),
                )
            ).all()
        subscriptions = wanted[agency_id] = [(row.id, row.statuses or []) for row in rows]
    return [sid for sid, statuses in subscriptions if not statuses or status in statuses]


def write_deliveries(session: Session) -> None:
    """At the outermost commit: the noted events' delivery rows, in event order, and one
    `status_out.deliver` per subscription. An event gone with a rolled-back savepoint is
    dropped with it."""
    session.info.pop(_WANTED_KEY, None)
    if not session.info.get(_NOTED_KEY) and not session.info.get(_BULK_KEY):
        return
    session.flush()
    noted = [n for n in session.info.pop(_NOTED_KEY, ()) if kept(n[1])]
    bulk = session.info.pop(_BULK_KEY, {})
    _write_changes(session, noted, bulk)
    noted = [n for n in noted if n[2]]
    noted.extend(
        _bulk_noted(session, {key: targets for key, (_a, targets) in bulk.items() if targets})
    )
    noted.sort(key=lambda n: n[1].id)
    carried = carried_codes(event for _dossier, event, _targets in noted)
    now = utcnow()
    window = timedelta(seconds=current_app.config["STATUS_OUT_RETRY_SECONDS"])
    rows = []
    for dossier, event, targets in noted:
        payload = build_payload(dossier, event, carried.get(event.id))
        rows.extend(_row(sid, dossier, event, payload, now, window) for sid in targets)
    if rows:
        insert_rows(session, _TABLE, rows)
        for subscription_id in sorted({row["subscription_id"] for row in rows}):
            enqueue(DELIVER_TASK, subscription_id=subscription_id)


def _write_changes(
    session: Session,
    noted: list[tuple[Dossier, StatusEvent, list[int]]],
    bulk: dict[int, tuple[int, list[int]]],
) -> None:
    """The transaction's applied events into the change log (`StatusChange`), numbered now, at
    the commit. On PostgreSQL under the shared change lock, held until the commit: a reader of
    the feed that takes it exclusively finds every number up to the last one committed. `bulk`:
    dossier id -> (agency id, targets) of the dossiers a bulk insert took in, whose first events
    are found by their dossier."""
    advisory_lock(CHANGES_LOCK, shared=True)
    rows = [
        {"event_id": event.id, "agency_id": dossier.agency_id}
        for dossier, event, _targets in sorted(noted, key=lambda n: n[1].id)
    ]
    if rows:
        insert_rows(session, StatusChange.__table__, rows)
    if not bulk:
        return
    if on_postgresql():
        # Two arrays, no join to the dossiers: an import's chunk is thousands of them.
        ids = list(bulk)
        agencies = [bulk[dossier_id][0] for dossier_id in ids]
        session.execute(
            _FIRST_EVENTS_CHANGES, {"dossiers": array_text(ids), "agencies": array_text(agencies)}
        )
        return
    for ids in batches(list(bulk)):
        first_events = (
            select(StatusEvent.id, Dossier.agency_id)
            .join(Dossier, Dossier.id == StatusEvent.dossier_id)
            .where(
                StatusEvent.dossier_id.in_(ids),
                StatusEvent.from_status.is_(None),
                StatusEvent.applied.is_(True),
            )
            .order_by(StatusEvent.id)
        )
        session.execute(insert(StatusChange).from_select(["event_id", "agency_id"], first_events))


# PostgreSQL: the first events of dossiers (their ids and agencies as two arrays, which `unnest`
# pairs) into the change log, in event order.
_FIRST_EVENTS_CHANGES = text(
    "INSERT INTO status_changes (event_id, agency_id)"
    " SELECT e.id, v.agency_id"
    " FROM unnest(CAST(:dossiers AS integer[]), CAST(:agencies AS integer[]))"
    " AS v(dossier_id, agency_id)"
    " JOIN status_events AS e ON e.dossier_id = v.dossier_id"
    " WHERE e.from_status IS NULL AND e.applied ORDER BY e.id"
)


def _bulk_noted(
    session: Session, targets: dict[int, list[int]]
) -> list[tuple[Dossier, StatusEvent, list[int]]]:
    """The dossiers of a bulk insert and their first events (two queries), with their targets,
    in no particular order (`write_deliveries` sorts everything noted by event). A dossier
    whose chunk was rolled back is simply not found."""
    if not targets:
        return []
    dossiers, events = {}, []
    for ids in batches(list(targets)):
        found = session.scalars(select(Dossier).where(among(Dossier.id, ids))).unique()
        dossiers.update((dossier.id, dossier) for dossier in found)
        events.extend(
            session.scalars(
                select(StatusEvent).where(
                    among(StatusEvent.dossier_id, ids),
                    StatusEvent.from_status.is_(None),
                    StatusEvent.applied.is_(True),
                )
            )
        )
    return [(dossiers[e.dossier_id], e, targets[e.dossier_id]) for e in events]


def _row(
    subscription_id: int,
    dossier: Dossier,
    event: StatusEvent,
    payload: dict,
    now: datetime,
    window: timedelta,
) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "dossier_id": dossier.id,
        "event_id": event.id,
        "message_id": MESSAGE_PREFIX + uuid4().hex,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "queued_at": now,
        "give_up_at": now + window,
    }


def forget_noted(session: Session) -> None:
    session.info.pop(_NOTED_KEY, None)
    session.info.pop(_BULK_KEY, None)
    session.info.pop(_WANTED_KEY, None)


# Replays -------------------------------------------------------------------------------------


def replay_range(subscription_id: int | None, since: datetime, until: datetime, actor: User) -> int:
    """Queue again the deliveries (of one subscription, or all) written in [since, until)."""
    criteria = [_TABLE.c.created_at >= since, _TABLE.c.created_at < until]
    if subscription_id is not None:
        criteria.append(_TABLE.c.subscription_id == subscription_id)
    count = _requeue(*criteria)
    record_audit(
        actor.id,
        "status_out.replay_range",
        "status_subscription",
        str(subscription_id or "*"),
        after={"since": since.isoformat(), "until": until.isoformat(), "queued": count},
    )
    return count


def _requeue(*criteria: Any) -> int:
    """Queue again the deliveries matching `criteria`, with the same `webhook-id` and payload
    (a replay is the same message: a receiver that keeps ids drops one it already has);
    retries start over. Pending ones and those of a switched-off subscription are left as they
    are. Returns how many were queued."""
    now = utcnow()
    window = timedelta(seconds=current_app.config["STATUS_OUT_RETRY_SECONDS"])
    active = select(StatusSubscription.id).where(StatusSubscription.active.is_(True))
    where = (*criteria, _TABLE.c.state != "pending", _TABLE.c.subscription_id.in_(active))
    subscriptions = db.session.scalars(
        select(_TABLE.c.subscription_id).where(*where).distinct()
    ).all()
    if not subscriptions:
        return 0
    result = db.session.execute(
        update(_TABLE)
        .where(*where)
        .values(
            state="pending",
            attempts=0,
            next_attempt_at=now,
            queued_at=now,
            give_up_at=now + window,
            delivered_at=None,
            latency_ms=None,
        )
    )
    for subscription_id in sorted(subscriptions):
        enqueue(DELIVER_TASK, subscription_id=subscription_id)
    return result.rowcount or 0


def replay_one(delivery: StatusDelivery, actor: User) -> StatusDelivery:
    """Queue one delivery again (its subscription must be on; not while it is pending)."""
    if not delivery.subscription.active:
        raise Conflict.field(
            "subscription", N_("the subscription is switched off: switch it on first")
        )
    if delivery.state == "pending":
        raise Conflict.field("state", N_("already pending"))
    _requeue(_TABLE.c.id == delivery.id)
    record_audit(actor.id, "status_out.replay", "status_delivery", str(delivery.id))
    db.session.refresh(delivery)
    return delivery
