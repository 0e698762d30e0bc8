"""Read side of accounts: what an admin sees of a user's sessions, tokens and sign-ins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tracker.accounts.models import ApiToken, StaffSession, User
from tracker.accounts.sessions import idle_limit
from tracker.audit.models import AuditEntry
from tracker.calendar import utcnow
from tracker.extensions import db

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
