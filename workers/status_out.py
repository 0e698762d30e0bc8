"""Tasks: status out (signed webhooks to the agencies' one-stop systems)."""

from __future__ import annotations

from celery import shared_task

from tracker.status_out import delivery


@shared_task(name="status_out.deliver")
def deliver(subscription_id: int) -> int:
    """Send the subscription's due deliveries, in order per dossier; return how many arrived.

    At most one run per subscription sends (a lease per subscription, taken inside): a second
    run returns at once. Idempotent: what was delivered is not due any more.
    """
    return delivery.deliver_subscription(subscription_id)


@shared_task(name="status_out.dispatch", lease_seconds=60)
def dispatch() -> int:
    """Beat: ask for a delivery run for each subscription with a due delivery (retries, and
    runs lost with a worker); return how many were asked for."""
    return delivery.dispatch_due()
