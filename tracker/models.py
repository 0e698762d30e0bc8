"""Imports every model module, so that metadata (and Alembic autogenerate) sees all tables."""

from tracker.accounts.models import ApiToken, User
from tracker.audit.models import AuditEntry
from tracker.catalogue.models import Agency, Channel, Office, Procedure, Sector
from tracker.dossiers.models import CodeCounter, Dossier, DossierDocument, StatusEvent

__all__ = [
    "Agency",
    "ApiToken",
    "AuditEntry",
    "Channel",
    "CodeCounter",
    "Dossier",
    "DossierDocument",
    "Office",
    "Procedure",
    "Sector",
    "StatusEvent",
    "User",
]
