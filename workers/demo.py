"""Demo only: the make-believe post and agency of `make run` (tracker/simulation.py)."""

from __future__ import annotations

from celery import shared_task

from tracker import simulation


@shared_task(name="demo.simulate", lease_seconds=60)
def simulate() -> dict[str, int]:
    """Move a few open demo dossiers one step through the feeds; nothing when switched off."""
    if not simulation.enabled():
        return {}
    return simulation.simulate()
