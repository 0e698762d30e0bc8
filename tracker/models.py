"""Imports every model module, so that metadata (and Alembic autogenerate) sees all tables."""

from tracker.accounts.models import ApiToken, User
from tracker.audit.models import AuditEntry
from tracker.catalogue.models import (
    Agency,
    Channel,
    Commune,
    Office,
    Procedure,
    Sector,
    ServiceArea,
)
from tracker.dossiers.models import CodeCounter, Dossier, DossierDocument, StatusEvent
from tracker.feeds.models import FeedBatch, FeedEvent, PostalEventCode
from tracker.handovers.models import HandoverCounter, HandoverLine, HandoverRecord
from tracker.imports.models import ImportFile, ImportJob, ImportRowError
from tracker.notifications.models import Notification
from tracker.outbox.models import OutboxMessage, TaskLease
from tracker.pickups.models import Pickup
from tracker.reports.models import (
    Baseline,
    DailyCount,
    DailyTotal,
    GrowthTarget,
    MonthlyCount,
    MonthlyTotal,
    ReportJob,
    ReportSnapshot,
)
from tracker.status_out.models import StatusChange, StatusDelivery, StatusSubscription
from tracker.sweeps.models import Anomaly

__all__ = [
    "Agency",
    "Anomaly",
    "ApiToken",
    "AuditEntry",
    "Baseline",
    "Channel",
    "CodeCounter",
    "Commune",
    "DailyCount",
    "DailyTotal",
    "Dossier",
    "DossierDocument",
    "FeedBatch",
    "FeedEvent",
    "GrowthTarget",
    "HandoverCounter",
    "HandoverLine",
    "HandoverRecord",
    "ImportFile",
    "ImportJob",
    "ImportRowError",
    "MonthlyCount",
    "MonthlyTotal",
    "Notification",
    "Office",
    "OutboxMessage",
    "Pickup",
    "PostalEventCode",
    "Procedure",
    "ReportJob",
    "ReportSnapshot",
    "Sector",
    "ServiceArea",
    "StatusChange",
    "StatusDelivery",
    "StatusEvent",
    "StatusSubscription",
    "TaskLease",
    "User",
]
