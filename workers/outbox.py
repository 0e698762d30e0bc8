"""The outbox relay: publishes again what was committed but never ran."""

from __future__ import annotations

from celery import shared_task

from tracker.outbox import operations


@shared_task(name="outbox.relay", lease_seconds=120)
def relay() -> int:
    """Publish outbox messages still not done a while after their last dispatch."""
    return operations.relay()
