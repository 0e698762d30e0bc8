"""Who is calling. The API knows staff by their bearer token only (no cookie, so no CSRF);
pages by their server-side session only (a bearer token never opens a page)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import Request, g, session
from flask_login import current_user

from tracker.accounts import sessions
from tracker.accounts.models import User
from tracker.accounts.operations import token_for
from tracker.accounts.usage import note_token_use
from tracker.errors import DomainError, Forbidden
from tracker.extensions import login_manager

F = TypeVar("F", bound=Callable)


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


API_PREFIX = "/api/"


@login_manager.request_loader
def _load_user(request: Request) -> User | None:
    if request.path.startswith(API_PREFIX):
        return _load_bearer_user(request)
    return _load_session_user()


def _load_bearer_user(request: Request) -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    row = token_for(token.strip())
    if row is None:
        return None
    # What this token (not the account) may do, for `scopes_required` later in the request.
    g.token_scopes = frozenset(row.scopes.split())
    g.api_token_id = row.id
    note_token_use(row)
    return row.user


def _load_session_user() -> User | None:
    token = session.get(sessions.SID_KEY)
    if not token:
        return None
    row = sessions.live_session(token)
    if row is None:
        session.pop(sessions.SID_KEY, None)  # a dead id leaves the cookie
        return None
    g.staff_session_id = row.id
    sessions.touch(row)
    return row.user


def token_scopes() -> frozenset[str]:
    """The scopes of the bearer token that authenticated this request (none for a session)."""
    return g.get("token_scopes", frozenset())


def actor() -> User:
    """The authenticated staff user; 401 when there is none."""
    if not current_user.is_authenticated:
        raise Unauthorized("sign in or send an API token (Authorization: Bearer ...)")
    return current_user._get_current_object()


def roles_required(*roles: str) -> Callable[[F], F]:
    """The caller must be signed in with one of `roles`."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = actor()
            if user.role not in roles:
                raise Forbidden(f"the {user.role} role cannot do this")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def scopes_required(*scopes: str) -> Callable[[F], F]:
    """The caller's bearer token must carry every one of `scopes`: 401 without a token, 403 with
    a token that lacks one."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args, **kwargs):
            actor()
            missing = [scope for scope in scopes if scope not in token_scopes()]
            if missing:
                raise Forbidden(
                    f"this token lacks the scope {', '.join(missing)}",
                    extra={"required_scopes": list(scopes)},
                )
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
