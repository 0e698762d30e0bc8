"""Writing the audit log. Entries join the caller's transaction: a change and its audit entry
commit or roll back together.

An entry is written with a plain INSERT, not through the ORM's unit of work: it is never read
back in the request that writes it, and every staff view writes one, so it should cost little.
Each entry names the credential the request was authenticated with (the page session or the
API token), so an admin can tell a stolen token's doings from its owner's.
"""

from __future__ import annotations

from typing import Any

from flask import g, has_app_context, has_request_context, request
from sqlalchemy import Insert, insert

from tracker.audit.models import AuditEntry
from tracker.calendar import utcnow
from tracker.extensions import db


def record_audit(
    actor_id: int | None, action: str, entity: str, entity_key: str, **changes: Any
) -> None:
    """One entry in the caller's transaction; `changes` are `audit_row`'s `before` and
    `after`."""
    db.session.execute(AUDIT_INSERT, audit_row(actor_id, action, entity, entity_key, **changes))


def audit_row(
    actor_id: int | None,
    action: str,
    entity: str,
    entity_key: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The values of one entry, for `AUDIT_INSERT` on any connection."""
    return {
        **_context(),
        "at": utcnow(),
        "actor_id": actor_id,
        "action": action,
        "entity": entity,
        "entity_key": entity_key[:80],
        "before": before,
        "after": after,
    }


def record_audits(entries: list[dict[str, Any]]) -> None:
    """Many entries (keyword arguments of `record_audit`) in one executemany INSERT."""
    if not entries:
        return
    shared = {**_context(), "at": utcnow()}
    db.session.execute(
        AUDIT_INSERT,
        [{"before": None, "after": None, **entry, **shared} for entry in entries],
    )


def _context() -> dict[str, Any]:
    """Where the request came from and with which credential (none for tasks and commands)."""
    in_app = has_app_context()
    return {
        "remote_addr": request.remote_addr if has_request_context() else None,
        "session_id": g.get("staff_session_id") if in_app else None,
        "token_id": g.get("api_token_id") if in_app else None,
    }


AUDIT_INSERT: Insert = insert(AuditEntry.__table__)
