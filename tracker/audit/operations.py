"""Writing the audit log. Entries join the caller's transaction: a change and its audit entry
commit or roll back together."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from tracker.audit.models import AuditEntry
from tracker.extensions import db


def record_audit(
    actor_id: int | None,
    action: str,
    entity: str,
    entity_key: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_id=actor_id,
        action=action,
        entity=entity,
        entity_key=entity_key,
        before=before,
        after=after,
        remote_addr=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    return entry
