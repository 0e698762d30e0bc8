"""Users, passwords (Argon2id) and API tokens (stored as SHA-256 only)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from tracker.accounts import queries
from tracker.accounts.models import (
    AGENCY_SCOPES,
    OFFICE_ROLES,
    POST_SCOPES,
    ROLES,
    SCOPES,
    ApiToken,
    StaffSession,
    User,
)
from tracker.accounts.sessions import end_session, end_user_sessions
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
_OFFICE_NEEDED = {
    "clerk": "a clerk needs an existing office code",
    "postman": "a postman needs an existing office code",
}


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


@dataclass(frozen=True)
class SignIn:
    """The outcome of checking a user name and password: the user, or why not (for the
    audit log only: the person at the form is told the same thing whatever the reason)."""

    user: User | None
    known: User | None = None
    reason: str = ""


def authenticate(username: str, password: str) -> SignIn:
    """The active staff user with this name and password, or the reason there is none.

    An unknown name costs one hash too, so the answer's timing does not tell which names exist.
    Integration accounts have no password sign-in: they use tokens only.
    """
    user = queries.find_user_by_name(username.strip())
    if user is None:
        _hasher().hash(password)
        return SignIn(None, reason="unknown_user")
    if not verify_password(user, password):
        return SignIn(None, user, "wrong_password")
    if user.role == "integration":
        return SignIn(None, user, "integration_account")
    if not user.active:
        return SignIn(None, user, "disabled")
    return SignIn(user, user)


def create_user(
    username: str,
    role: str,
    password: str | None,
    *,
    full_name: str = "",
    office_code: str | None = None,
    agency_code: str | None = None,
    actor: User | None = None,
) -> User:
    """A staff user. Clerks and postmen belong to one office, agency officers to one agency;
    hotline operators, managers and admins to none (the whole province); an integration account
    may be tied to an agency (its agency feed then reaches only that agency's dossiers) and has no
    password (it signs in with tokens only: any password given is ignored)."""
    if not USERNAME.match(username):
        raise ValidationFailed.field("username", USERNAME_RULE)
    office, agency = _placement(role, office_code, agency_code)
    if role == "integration":
        password = secrets.token_urlsafe(32)  # never shown: nobody can sign in with it
    _check_password(password or "")
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username} exists", fields={"username": ["already taken"]})
    user = User(
        username=username,
        role=role,
        full_name=full_name,
        office=office,
        agency=agency,
        password_hash=hash_password(password or ""),
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


def update_user(
    user: User,
    *,
    role: str,
    full_name: str,
    office_code: str | None = None,
    agency_code: str | None = None,
    actor: User | None = None,
) -> None:
    """Change a user's name, role, office or agency. A new role, office or agency ends every
    session of the user and revokes their tokens: what they were given was for the old place."""
    if actor is not None and actor.id == user.id and role != user.role:
        raise ValidationFailed.field("role", "you cannot change your own role")
    if (role == "integration") != (user.role == "integration"):
        raise ValidationFailed.field(
            "role", "staff and integration accounts cannot be turned into one another"
        )
    office, agency = _placement(role, office_code, agency_code)
    before = _placement_of(user)
    user.full_name = full_name
    user.role, user.office, user.agency = role, office, agency
    db.session.flush()
    after = _placement_of(user)
    if before == after:
        return
    record_audit(
        actor.id if actor else None,
        "user.update",
        "user",
        user.username,
        before=before,
        after=after,
    )
    end_credentials(user, "role_changed", actor=actor)


def _placement(
    role: str, office_code: str | None, agency_code: str | None
) -> tuple[Office | None, Agency | None]:
    """The office and agency that `role` needs (checked), from their codes."""
    if role not in ROLES:
        raise ValidationFailed.field("role", f"must be one of {', '.join(ROLES)}")
    office = agency = None
    if role in OFFICE_ROLES:
        office = db.session.scalar(select(Office).where(Office.code == office_code))
        if office is None:
            raise ValidationFailed.field("office", _OFFICE_NEEDED[role])
    if role == "agency" or (role == "integration" and agency_code):
        agency = db.session.scalar(select(Agency).where(Agency.code == agency_code))
        if agency is None:
            message = (
                "an agency officer needs an existing agency code"
                if role == "agency"
                else Phrase("no agency with code %(code)s", code=agency_code)
            )
            raise ValidationFailed.field("agency", message)
    return office, agency


def _placement_of(user: User) -> dict[str, str | None]:
    return {
        "role": user.role,
        "office": user.office.code if user.office else None,
        "agency": user.agency.code if user.agency else None,
    }


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
    # An agency's account speaks for that agency only; the post's feed is not an agency's.
    if user.agency_id is not None and POST_SCOPES.intersection(wanted):
        raise ValidationFailed.field(
            "scopes", "an account tied to an agency cannot push the postal feed"
        )
    agency_scopes = sorted(AGENCY_SCOPES.intersection(wanted))
    if user.agency_id is None and agency_scopes:
        raise ValidationFailed.field(
            "scopes",
            Phrase(
                "%(scopes)s needs an account tied to an agency", scopes=", ".join(agency_scopes)
            ),
        )
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
    """Enable or disable a user. Disabling ends every session and revokes every token of the
    user (enabling gives none back: an admin issues new ones); nobody disables their own
    account (no admin locks out the last admin by mistake)."""
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
    if not active:
        end_credentials(user, "disabled", actor=actor)


def reset_password(
    user: User, password: str, *, actor: User | None = None, keep_session: int | None = None
) -> None:
    """Set a new password. Every session of the user ends (but `keep_session`: the user's own,
    when they change their own password) and every token is revoked."""
    if user.role == "integration":
        raise ValidationFailed.field("password", "integration accounts have no password")
    _check_password(password)
    user.password_hash = hash_password(password)
    db.session.flush()
    # The audit says that it changed, never what to.
    record_audit(actor.id if actor else None, "user.password_reset", "user", user.username)
    end_credentials(user, "password_changed", actor=actor, keep_session=keep_session)
    if keep_session is not None:
        db.session.execute(
            update(StaffSession)
            .where(StaffSession.id == keep_session, StaffSession.user_id == user.id)
            .values(password_stamp=user.password_stamp)
        )


def end_credentials(
    user: User, reason: str, *, actor: User | None = None, keep_session: int | None = None
) -> None:
    """End every session and revoke every live token of `user`: their credentials die
    together."""
    sessions = end_user_sessions(user, reason, keep=keep_session)
    tokens = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
    if sessions or tokens:
        record_audit(
            actor.id if actor else None,
            "user.credentials_ended",
            "user",
            user.username,
            after={"reason": reason, "sessions": sessions, "tokens": tokens},
        )


def end_sessions_of(
    user: User, *, actor: User | None = None, only: StaffSession | None = None
) -> int:
    """An admin ends one session of `user` (`only`) or all of them; returns how many ended."""
    if only is not None:
        ended = 1 if only.ended_at is None else 0
        end_session(only, "ended_by_admin")
    else:
        ended = end_user_sessions(user, "ended_by_admin")
    if ended:
        after = {"session_id": only.id if only else None, "sessions": ended}
        record_audit(actor.id if actor else None, "session.end", "user", user.username, after=after)
    return ended


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
