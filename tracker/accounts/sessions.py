"""Staff page sessions, kept on the server (`StaffSession`).

The session cookie (Flask's signed cookie) carries a random id; only its SHA-256 is stored. A
session is live while it has not been ended (sign-out, an admin, a change of the user's
credentials), `SESSION_HOURS` have not passed since sign-in (an absolute limit: requests do not
extend it), the last request is less than `SESSION_IDLE_MINUTES` old, the user is active and
the password is the one it signed in with. A copied cookie dies with its session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, g, request
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from tracker.accounts.models import StaffSession, User
from tracker.calendar import utcnow
from tracker.database import bookkeeping_write
from tracker.extensions import db

# The cookie's key for the session id.
SID_KEY = "sid"
# The last request is recorded at most this often: the idle limit needs no finer grain, and a
# write per page would cost every page a write.
TOUCH_EVERY = timedelta(seconds=60)


def start_session(user: User) -> tuple[str, StaffSession]:
    """A new session of `user` from this request's client; returns the id for the cookie (only
    its hash is kept) and the row."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = StaffSession(
        token_hash=_hash(token),
        user=user,
        password_stamp=user.password_stamp,
        started_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=current_app.config["SESSION_HOURS"]),
        remote_addr=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:200],
    )
    db.session.add(row)
    db.session.flush()
    g.staff_session_id = row.id
    return token, row


def live_session(token: str) -> StaffSession | None:
    """The live session of a cookie's id, with its user and the user's office; None when it
    has ended or was never."""
    if not token or len(token) > 100:
        return None
    row = db.session.scalar(
        select(StaffSession)
        .where(StaffSession.token_hash == _hash(token))
        .options(joinedload(StaffSession.user).joinedload(User.office))
    )
    if row is None or not is_live(row, utcnow()):
        return None
    return row


def is_live(row: StaffSession, now: datetime) -> bool:
    user = row.user
    return (
        row.ended_at is None
        and now < row.expires_at
        and now - row.last_seen_at < idle_limit()
        and user.active
        and row.password_stamp == user.password_stamp
    )


def idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def touch(row: StaffSession) -> None:
    """Record that the session was used now (for the idle limit and the admin's list)."""
    now = utcnow()
    if now - row.last_seen_at < TOUCH_EVERY:
        return
    statement = (
        update(StaffSession)
        .where(StaffSession.id == row.id, StaffSession.ended_at.is_(None))
        .values(last_seen_at=now)
    )
    bookkeeping_write(statement)
    # Written already: the row must not look changed to the request's own session.
    set_committed_value(row, "last_seen_at", now)


def end_session(row: StaffSession, reason: str) -> None:
    """End one session (sign-out, or an admin's decision)."""
    if row.ended_at is None:
        row.ended_at = utcnow()
        row.end_reason = reason
        db.session.flush()


def end_user_sessions(user: User, reason: str, *, keep: int | None = None) -> int:
    """End every open session of `user` (but `keep`, the caller's own); returns how many."""
    statement = (
        update(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )
    if keep is not None:
        statement = statement.where(StaffSession.id != keep)
    return db.session.execute(statement).rowcount or 0


def current_session_id() -> int | None:
    """The id of the page session that authenticated this request, if one did."""
    return g.get("staff_session_id")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
