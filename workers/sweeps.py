"""Tasks: sweeps. Both run on beat and hold a lease, so two runs never overlap."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy.exc import OperationalError

from tracker.sweeps import operations

# Longer than any run; a run killed mid-way frees its lease after this long at worst.
LEASE_SECONDS = 1800


@shared_task(
    name="sweeps.mark_overdue_and_stuck",
    lease_seconds=LEASE_SECONDS,
    # A deadlock with a feed batch or a locked SQLite file: run again a little later.
    autoretry_for=(OperationalError,),
    max_retries=3,
)
def mark_overdue_and_stuck() -> dict[str, int]:
    """Set and clear the overdue and stuck marks of every dossier (hourly)."""
    return operations.mark_overdue_and_stuck().as_dict()


@shared_task(
    name="sweeps.reconcile",
    lease_seconds=LEASE_SECONDS,
    autoretry_for=(OperationalError,),
    max_retries=3,
)
def reconcile(full: bool = False) -> dict[str, dict[str, int]]:
    """List contradictions between the postal and agency sides (hourly; `full` looks at closed
    dossiers of any age too)."""
    return operations.reconcile(full=full)
