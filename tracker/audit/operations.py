"""Writing the audit log. Entries join the caller's transaction: a change and its audit entry
commit or roll back together.

An entry is written with a plain INSERT, not through the ORM's unit of work: it is never read
back in the request that writes it, and every staff view writes one, so it should cost little.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy import insert

from tracker.audit.models import AuditEntry
from tracker.calendar import utcnow
from tracker.extensions import db


def record_audit(
    actor_id: int | None,
    action: str,
    entity: str,
    entity_key: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    db.session.execute(
        _INSERT,
        {
            "at": utcnow(),
            "actor_id": actor_id,
            "action": action,
            "entity": entity,
            "entity_key": entity_key,
            "before": before,
            "after": after,
            "remote_addr": request.remote_addr if has_request_context() else None,
        },
    )


def record_audits(entries: list[dict[str, Any]]) -> None:
    """Many entries (keyword arguments of `record_audit`) in one executemany INSERT."""
    if not entries:
        return
    at = utcnow()
    remote_addr = request.remote_addr if has_request_context() else None
    db.session.execute(
        _INSERT,
        [
            {"before": None, "after": None, **entry, "at": at, "remote_addr": remote_addr}
            for entry in entries
        ],
    )


_INSERT = insert(AuditEntry.__table__)
