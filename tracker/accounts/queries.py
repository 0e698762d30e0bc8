"""Read side of accounts: users by id or name, and what an admin sees of a user's sessions,
tokens and sign-ins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tracker.accounts.models import ApiToken, StaffSession, User
from tracker.accounts.sessions import idle_limit
from tracker.audit.models import AuditEntry
from tracker.calendar import utcnow
from tracker.database import get_by_id
from tracker.extensions import db
from tracker.text import fold


def find_user(user_id: int) -> User | None:
    return get_by_id(User, user_id)


def find_session(session_id: int) -> StaffSession | None:
    return get_by_id(StaffSession, session_id)


def find_token(token_id: int) -> ApiToken | None:
    return get_by_id(ApiToken, token_id)


def find_user_by_name(username: str) -> User | None:
    """The user with exactly `username`, or None."""
    if "\x00" in username:
        return None  # PostgreSQL refuses NUL in text: no user name holds one
    return db.session.scalar(select(User).where(User.username == username))


def list_users(search: str = "") -> list[User]:
    """Every user by name; with `search`, those whose user name or full name contains it
    (accents and case aside)."""
    rows = list(db.session.scalars(select(User).order_by(User.username)))
    if not search:
        return rows
    wanted = fold(search)
    return [user for user in rows if wanted in fold(f"{user.username} {user.full_name}")]


# What an admin should notice about an account: refused sign-ins, throttles, a token used from
# a new address, credentials ended.
SECURITY_ACTIONS = (
    "user.sign_in_failed",
    "user.sign_in_throttled",
    "token.new_address",
    "user.credentials_ended",
    "session.end",
)


def open_sessions(user: User) -> list[StaffSession]:
    """The user's live sessions, the most recently used first."""
    now = utcnow()
    rows = db.session.scalars(
        select(StaffSession)
        .where(
            StaffSession.user_id == user.id,
            StaffSession.ended_at.is_(None),
            StaffSession.expires_at > now,
            StaffSession.last_seen_at > now - idle_limit(),
        )
        .order_by(StaffSession.last_seen_at.desc())
    )
    return [row for row in rows if row.password_stamp == user.password_stamp]


def tokens_of(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def security_events(user: User, limit: int = 20) -> list[AuditEntry]:
    """The latest security events of the account, newest first."""
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.entity == "user",
                AuditEntry.entity_key == user.username,
                AuditEntry.action.in_(SECURITY_ACTIONS),
            )
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
    )


# What the users list flags: a sign of someone else trying the account.
ALERT_ACTIONS = ("user.sign_in_failed", "user.sign_in_throttled", "token.new_address")
ALERT_DAYS = 7


def live_token_counts() -> dict[int, int]:
    """user id -> number of live tokens."""
    rows = db.session.execute(
        select(ApiToken.user_id, func.count())
        .where(ApiToken.revoked_at.is_(None))
        .group_by(ApiToken.user_id)
    )
    return dict(rows.all())


def alert_counts() -> dict[str, int]:
    """user name -> refused sign-ins, throttles and tokens used from new addresses in the last
    `ALERT_DAYS` days."""
    rows = db.session.execute(
        select(AuditEntry.entity_key, func.count())
        .where(
            AuditEntry.entity == "user",
            AuditEntry.action.in_(ALERT_ACTIONS),
            AuditEntry.at > utcnow() - timedelta(days=ALERT_DAYS),
        )
        .group_by(AuditEntry.entity_key)
    )
    return dict(rows.all())
