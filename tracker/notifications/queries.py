"""Read side: a dossier's notifications, for staff."""

from __future__ import annotations

from sqlalchemy import select

from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.notifications.models import Notification


def list_for_dossier(dossier: Dossier) -> list[Notification]:
    """Every message queued for `dossier`, oldest first, whatever its state."""
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.dossier_id == dossier.id)
            .order_by(Notification.id)
        )
    )
