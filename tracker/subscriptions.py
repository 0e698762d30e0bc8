"""Who listens to the dossiers, and in which order their work reaches the database.

`subscribe()` runs where the app is made. The dossier signals (`tracker.dossiers.signals`) are
connected to their consumers, which only note what they need in the session; the unit of work
(`tracker.unit_of_work`) then runs the consumers' hooks, in this order:

1. before the outermost commit, in it: the rollup counts (`reports.rollups.write_counts`), then
   the notifications (`notifications.operations.write_queued`, which enqueues their delivery in
   the outbox, so it comes before the outbox is published), then the hand-over lines the
   agency accepted by its own `processing` events (`handovers.operations.write_acceptances`),
   then the status deliveries to the agencies' subscriptions
   (`status_out.operations.write_deliveries`, one row per event and subscription, and their
   `status_out.deliver` in the outbox);
2. after the commit: the outbox messages go to the broker (`outbox.operations.publish_pending`);
3. when the transaction ends (after the commit, or rolled back): each forgets what it noted.

A batch scan that forwarded dossiers (or collected results) makes a hand-over record per agency
(`batch_scanned` -> `handovers.operations.make_records`, which answers the records); the scan's
page links to them by number.
Postal events waiting for an item number are woken through the outbox too (`feeds.apply_unmatched`).
Pickup requests announce their slot (`tracker.pickups.signals`): notifications queue its SMS;
a dossier collected at the door gets the SMS with its code, lookup secret and link instead of the
usual "received" one; so does a one-way dossier made by an agency's collection order
(`tracker.orders.signals`) instead of the notices of its first events.
"""

from __future__ import annotations

from typing import Any

from tracker import unit_of_work
from tracker.dossiers import signals
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db
from tracker.feeds import operations as feeds
from tracker.handovers import operations as handovers
from tracker.handovers.models import HandoverRecord
from tracker.notifications import operations as notifications
from tracker.orders import signals as order_signals
from tracker.outbox import operations as outbox
from tracker.pickups import signals as pickup_signals
from tracker.pickups.models import Pickup
from tracker.reports import rollups
from tracker.status_out import operations as status_out


def subscribe() -> None:
    # Strong references: the receivers are module functions, connected once whatever the number
    # of apps made (connecting the same receiver again is a no-op).
    signals.dossier_received.connect(_count_intake, weak=False)
    signals.dossier_received.connect(_notify, weak=False)
    signals.dossiers_received.connect(_count_intakes, weak=False)
    signals.dossiers_received.connect(_wake_awaited, weak=False)
    signals.status_changed.connect(_count_event, weak=False)
    signals.status_changed.connect(_notify, weak=False)
    signals.dossier_received.connect(_send_status, weak=False)
    signals.status_changed.connect(_send_status, weak=False)
    signals.dossiers_received.connect(_send_statuses, weak=False)
    signals.item_number_set.connect(_wake_unmatched, weak=False)
    signals.status_changed.connect(_note_processing, weak=False)
    signals.batch_scanned.connect(_handover_records, weak=False)
    pickup_signals.pickup_scheduled.connect(_notify_pickup, weak=False)
    pickup_signals.pickup_collected.connect(_notify_collected, weak=False)
    order_signals.order_created.connect(_notify_ordered, weak=False)
    unit_of_work.register(
        unit_of_work.CommitHooks(
            "rollups", write=rollups.write_counts, forget=rollups.forget_counts
        ),
        unit_of_work.CommitHooks(
            "notifications", write=notifications.write_queued, forget=notifications.forget_queued
        ),
        unit_of_work.CommitHooks(
            "handovers", write=handovers.write_acceptances, forget=handovers.forget_acceptances
        ),
        unit_of_work.CommitHooks(
            "status_out", write=status_out.write_deliveries, forget=status_out.forget_noted
        ),
        unit_of_work.CommitHooks(
            "outbox", publish=outbox.publish_pending, forget=outbox.forget_pending
        ),
    )


def _count_intake(dossier: Dossier, *, event: StatusEvent) -> None:
    rollups.count_intake(db.session, dossier)


def _note_processing(dossier: Dossier, *, event: StatusEvent) -> None:
    if event.to_status == "processing":
        handovers.note_processing(db.session, dossier.id, event.source)


def _handover_records(
    user: Any, *, status: str, dossiers: list[Dossier], batch_id: str
) -> list[HandoverRecord]:
    """A batch forwarded (or results collected) makes a hand-over record per agency."""
    kind = handovers.KIND_OF_STATUS.get(status)
    if kind is None:
        return []
    return handovers.make_records(kind, dossiers, user, f"scan-{batch_id}-{status}")


def _count_event(dossier: Dossier, *, event: StatusEvent) -> None:
    rollups.count_event(db.session, dossier, event)


def _notify(dossier: Dossier, *, event: StatusEvent) -> None:
    notifications.queue_notifications(dossier, event)


def _send_status(dossier: Dossier, *, event: StatusEvent) -> None:
    status_out.note_event(dossier, event)


def _notify_pickup(pickup: Pickup, *, kind: str) -> None:
    notifications.queue_pickup_sms(pickup, kind)


def _notify_collected(pickup: Pickup, *, dossier: Dossier, secret: str) -> None:
    notifications.queue_pickup_collected_sms(pickup, dossier, secret)


def _notify_ordered(dossier: Dossier, *, event: StatusEvent, secret: str) -> None:
    notifications.queue_order_sms(dossier, event, secret)


def _count_intakes(_sender: Any, *, rows: list[signals.ReceivedRow]) -> None:
    rollups.count_intakes(
        db.session,
        (
            (row.day, row.office_id, row.channel_id, row.procedure_id, row.agency_id,
             row.service_form)
            for row in rows
        ),
    )  # fmt: skip


def _send_statuses(_sender: Any, *, rows: list[signals.ReceivedRow]) -> None:
    status_out.note_received(rows)


def _wake_awaited(_sender: Any, *, rows: list[signals.ReceivedRow]) -> None:
    feeds.wake_awaited(row.item_number for row in rows if row.item_number)


def _wake_unmatched(item_number: str | None) -> None:
    feeds.wake_unmatched(item_number)
