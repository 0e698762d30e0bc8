"""Staff users and their API tokens."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.calendar import utcnow
from tracker.catalogue.models import Agency, Office
from tracker.extensions import db
from tracker.types import UTCDateTime

ROLES = ("clerk", "postman", "hotline", "agency", "manager", "admin", "integration")
# Roles that work at one office (the account names it) and see only that office's rows.
OFFICE_ROLES = frozenset({"clerk", "postman"})
# What an integration account's token may do (a staff token needs none).
SCOPES = ("feed:postal", "feed:agency", "orders:agency", "read:agency")
# Scopes that act for one agency (its account must be tied to it) or for the post (it must not):
# an agency's feed reaches its own dossiers, its collection orders name its own procedures, its
# pull feed lists its own dossiers' changes.
AGENCY_SCOPES = frozenset({"feed:agency", "orders:agency", "read:agency"})
POST_SCOPES = frozenset({"feed:postal"})


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Loaded when used (intake needs the clerk's office): authenticating a request stays one join.
    office: Mapped[Office | None] = relationship()
    agency: Mapped[Agency | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def password_stamp(self) -> str:
        """A fingerprint of the password hash, kept on each session: however the password
        changes, the sessions signed in with the old one end."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]


class ApiToken(db.Model):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    # Space-separated scopes (SCOPES) for integration tokens.
    scopes: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where it is used from: a new address is audited, so an admin sees a token used by
    # someone else than its owner (tracker/accounts/usage.py).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    addresses: Mapped[list[str] | None] = mapped_column(JSON)

    user: Mapped[User] = relationship(lazy="joined")


class StaffSession(db.Model):
    """A signed-in page session, kept on the server: the cookie carries only a random id whose
    SHA-256 is stored here. Sign-out, an admin, a password reset, disabling or a change of
    role or office end it; it also ends `SESSION_HOURS` after sign-in and after
    `SESSION_IDLE_MINUTES` without a request."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user_open", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    password_stamp: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # signed_out, ended_by_admin, password_changed, disabled, role_changed, expired, idle
    end_reason: Mapped[str | None] = mapped_column(String(30))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[User] = relationship()
