"""Who is calling: the API knows staff by their bearer token only (no cookie, so no CSRF)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import Request
from flask_login import current_user

from tracker.accounts.models import User
from tracker.accounts.operations import user_for_token
from tracker.errors import DomainError, Forbidden
from tracker.extensions import login_manager

F = TypeVar("F", bound=Callable)


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


@login_manager.request_loader
def _load_bearer_user(request: Request) -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return user_for_token(token.strip())


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
