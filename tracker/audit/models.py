from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.calendar import utcnow
from tracker.extensions import db
from tracker.types import UTCDateTime


class AuditEntry(db.Model):
    """Append-only: who did or saw what, with the values before and after a change. On
    PostgreSQL a trigger refuses UPDATE and DELETE (migration 0006)."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_key: Mapped[str] = mapped_column(String(80), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    # The credential of the request: a staff page session (staff_sessions.id) or an API token
    # (api_tokens.id). No foreign keys: the audit outlives what it names.
    session_id: Mapped[int | None] = mapped_column()
    token_id: Mapped[int | None] = mapped_column(index=True)
