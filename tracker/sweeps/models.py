"""Contradictions found by reconciling the postal and agency sides of a dossier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.types import UTCDateTime


class Anomaly(db.Model):
    __tablename__ = "anomalies"
    __table_args__ = (UniqueConstraint("dossier_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"))
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by the sweep when the contradiction is gone (e.g. the agency's result came in).
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
