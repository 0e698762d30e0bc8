"""Queueing and delivering notifications to citizens."""

from __future__ import annotations

from tracker.dossiers.models import Dossier, StatusEvent


def queue_notifications(dossier: Dossier, event: StatusEvent) -> None:
    """Queue the messages (SMS, and e-mail where given) a citizen gets for `event`, if any.

    Called by the dossier operations for every event that moves a dossier (not for late ones).
    """
    del dossier, event  # filled in by the notifications work
