"""Users, passwords (Argon2id) and API tokens (stored as SHA-256 only)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from tracker.accounts.models import ROLES, SCOPES, ApiToken, User
from tracker.audit.operations import record_audit
from tracker.calendar import utcnow
from tracker.catalogue.models import Agency, Office
from tracker.errors import Conflict, Phrase, ValidationFailed
from tracker.extensions import db
from tracker.i18n import N_

TOKEN_PREFIX = "trk_"
# User names are typed at sign-in and shown in the audit log: plain, short, no spaces.
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{1,79}\Z")
USERNAME_RULE = N_("2 to 80 letters, digits, dots, dashes or underscores, no spaces")


def _hasher() -> PasswordHasher:
    config = current_app.config
    return PasswordHasher(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_COST_KIB"],
        parallelism=1,
        type=Type.ID,
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(user: User, password: str) -> bool:
    try:
        _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    return True


def authenticate(username: str, password: str) -> User | None:
    """The active staff user with this name and password, else None.

    An unknown name costs one hash too, so the answer's timing does not tell which names exist.
    Integration accounts sign in with tokens only, never on a page.
    """
    user = None
    if "\x00" not in username:  # PostgreSQL refuses NUL in text; no user name holds one
        user = db.session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        _hasher().hash(password)
        return None
    if not verify_password(user, password) or not user.active or user.role == "integration":
        return None
    return user


def create_user(
    username: str,
    role: str,
    password: str,
    *,
    full_name: str = "",
    office_code: str | None = None,
    agency_code: str | None = None,
    actor: User | None = None,
) -> User:
    """A staff user. Clerks belong to one office, agency officers to one agency; an integration
    account may be tied to an agency (its agency feed then reaches only that agency's dossiers)."""
    if not USERNAME.match(username):
        raise ValidationFailed.field("username", USERNAME_RULE)
    if role not in ROLES:
        raise ValidationFailed.field("role", f"must be one of {', '.join(ROLES)}")
    _check_password(password)
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username} exists", fields={"username": ["already taken"]})
    office = agency = None
    if role == "clerk":
        office = db.session.scalar(select(Office).where(Office.code == office_code))
        if office is None:
            raise ValidationFailed.field("office", "a clerk needs an existing office code")
    if role == "agency" or (role == "integration" and agency_code):
        agency = db.session.scalar(select(Agency).where(Agency.code == agency_code))
        if agency is None:
            message = (
                "an agency officer needs an existing agency code"
                if role == "agency"
                else Phrase("no agency with code %(code)s", code=agency_code)
            )
            raise ValidationFailed.field("agency", message)
    user = User(
        username=username,
        role=role,
        full_name=full_name,
        office=office,
        agency=agency,
        password_hash=hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    record_audit(
        actor.id if actor else None,
        "user.create",
        "user",
        username,
        after={"role": role, "office": office_code, "agency": agency_code},
    )
    return user


def issue_token(
    user: User,
    *,
    name: str = "",
    scopes: Iterable[str] = (),
    actor: User | None = None,
) -> str:
    """A new bearer token for `user`; the token is returned once and stored hashed.

    `scopes` (SCOPES) say which feeds an integration account's token may push; staff tokens
    carry none (their role decides what they may do).
    """
    wanted = sorted(set(scopes))
    unknown = [scope for scope in wanted if scope not in SCOPES]
    if unknown:
        raise ValidationFailed.field(
            "scopes", f"unknown scope {', '.join(unknown)}; known: {', '.join(SCOPES)}"
        )
    if wanted and user.role != "integration":
        raise ValidationFailed.field("scopes", "only integration accounts' tokens carry scopes")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(user=user, token_hash=_token_hash(token), name=name, scopes=" ".join(wanted))
    )
    db.session.flush()
    record_audit(
        actor.id if actor else None,
        "token.issue",
        "user",
        user.username,
        after={"name": name, "scopes": wanted},
    )
    return token


def token_for(token: str) -> ApiToken | None:
    """The live token row (with its user, and the scopes it grants) for a bearer token."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    # The user's office (and its channel) comes along: a clerk's intake needs it, and one join
    # costs less than one more round trip.
    row = db.session.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == _token_hash(token))
        .options(joinedload(ApiToken.user).joinedload(User.office))
    )
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def set_user_active(user: User, active: bool, *, actor: User | None = None) -> None:
    """Enable or disable a user. A disabled user's sessions and tokens stop working at their next
    request (both check `active`); nobody disables their own account (no admin locks out the
    last admin by mistake)."""
    if not active and actor is not None and actor.id == user.id:
        raise ValidationFailed.field("active", "you cannot disable your own account")
    if user.active == active:
        return
    user.active = active
    db.session.flush()
    record_audit(
        actor.id if actor else None,
        "user.enable" if active else "user.disable",
        "user",
        user.username,
        before={"active": not active},
        after={"active": active},
    )


def reset_password(user: User, password: str, *, actor: User | None = None) -> None:
    """Set a new password. The session id carries a stamp of the password hash
    (`User.get_id`), so every session signed in with the old password ends."""
    _check_password(password)
    user.password_hash = hash_password(password)
    db.session.flush()
    # The audit says that it changed, never what to.
    record_audit(actor.id if actor else None, "user.password_reset", "user", user.username)


def revoke_token(token: ApiToken, *, actor: User | None = None) -> None:
    """Revoke a bearer token (kept, with its revocation time, for the record)."""
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    db.session.flush()
    record_audit(
        actor.id if actor else None,
        "token.revoke",
        "user",
        token.user.username,
        after={"token_id": token.id, "name": token.name},
    )


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise ValidationFailed.field("password", "must have at least 10 characters")
