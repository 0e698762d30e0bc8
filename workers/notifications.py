"""Tasks: notifications."""

from __future__ import annotations

import time

from celery import shared_task

from tracker.notifications import operations
from tracker.notifications.gateways import load_gateway
from tracker.unit_of_work import unit_of_work

CHUNK = 20
# A run stops taking new chunks after this long; the next one (beat, 30 s) goes on.
RUN_SECONDS = 60


@shared_task(name="notifications.deliver", lease_seconds=operations.CLAIM_SECONDS)
def deliver() -> int:
    """Send the notifications that are due, a chunk at a time; return how many were sent.

    Each chunk is claimed and committed before the gateway is called, so that no row or SQLite
    write lock is held while a slow gateway answers; the outcomes are committed per chunk.
    Idempotent: a second run finds nothing due that the first one sent.
    """
    gateway = load_gateway()
    deadline = time.monotonic() + RUN_SECONDS
    sent = 0
    while time.monotonic() < deadline:
        with unit_of_work():
            claimed = operations.claim_due(CHUNK)
        if not claimed:
            break
        outcomes = operations.send_all(gateway, claimed)  # outside any transaction
        with unit_of_work():
            sent += operations.record_outcomes(outcomes)
        if len(claimed) < CHUNK:
            break
    return sent
