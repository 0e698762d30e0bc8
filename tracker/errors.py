"""Errors: the domain's exceptions and the one JSON shape every error answers with.

Every error body is `{"error": {"code": ..., "message": ..., "fields": {...}}}`: `code` is a stable
slug a client can branch on, `fields` maps a dotted field path to its messages.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import psycopg
from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class Phrase(str):
    """A message in English whose values are kept apart from its wording: the API shows it as
    it reads, a page translates the wording and puts the values back (the `|message` filter of
    tracker/pages.py), so "unknown sector ZZ" reads in Vietnamese too."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Phrase:
        message = super().__new__(cls, template % values if values else template)
        message.template = template
        message.values = values
        return message


class DomainError(Exception):
    """A rule said no. Operations raise these; the request turns them into JSON."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra or {}

    @property
    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides the body."""
        return {}

    @classmethod
    def field(cls, name: str, message: str) -> Self:
        """The error of one field, named in the message and in `fields`."""
        return cls(f"{name}: {message}", fields={name: [message]})


class NotFound(DomainError):
    status = 404
    code = "not_found"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"


class StaleVersion(Conflict):
    code = "stale_version"

    @classmethod
    def check(cls, kind: str, key: str, current: int, given: int, field: str = "version") -> None:
        """Refuse a change made on version `given` of the `kind` `key`, now at `current`."""
        if given != current:
            raise cls(
                f"{kind} {key} is at version {current}, not {given}",
                fields={field: [f"stale version: reload the {kind}"]},
                extra={"current_version": current},
            )


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class RateLimited(DomainError):
    """A budget of tries that a rule (not `ratelimit.limited`) keeps is spent: 429 with
    Retry-After."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, extra: dict[str, Any] | None = None):
        super().__init__(message, extra=extra)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def error_body(
    status: int, message: str, *, code: str | None = None, fields: dict | None = None, **extra: Any
) -> dict:
    body = {
        "code": code or HTTP_CODES.get(status, "error"),
        "message": message,
        "fields": fields or {},
    }
    body.update(extra)
    return {"error": body}


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn webargs/marshmallow nested messages into {"a.b.0.c": [...]}."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            # webargs nests by location ("json", "query", ...): the location is not a field.
            if not prefix and key in {"json", "query", "form", "files", "headers", "view_args"}:
                name = ""
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, name))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "body": list(messages)}
    if isinstance(messages, list):
        flat = {}
        for index, value in enumerate(messages):
            flat.update(flatten_messages(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "body": [str(messages)]}


# Paths that answer JSON; every other path is a page and answers errors with a page.
JSON_PATHS = ("/api/", "/healthz", "/readyz")


def wants_page() -> bool:
    return not request.path.startswith(JSON_PATHS)


def error_page(status: int, message: str | None = None):
    """An error as a page, in the page's language (templates/errors/error.html)."""
    response = render_template("errors/error.html", status=status, message=message)
    return response, status


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    if wants_page():
        response = error_page(status)
        if status == 429:
            return (*response, {"Retry-After": str(_retry_after(error))})
        return response
    data = getattr(error, "data", None) or {}
    fields = flatten_messages(data.get("messages") or data.get("errors") or {})
    if status == 422 and fields:
        message = "Some fields are not valid: " + ", ".join(sorted(fields))
    else:
        message = data.get("message") or error.description or error.name
    if status == 400 and fields:
        # webargs answers 400 for a body that is not JSON at all.
        message = "The request body is not valid JSON" if "body" in fields else message
    response = jsonify(error_body(status, message, fields=fields))
    response.status_code = status
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        response.headers["Allow"] = ", ".join(valid_methods)
    if status == 429:
        response.headers["Retry-After"] = str(_retry_after(error))
    return response


def _retry_after(error: HTTPException) -> int:
    """The seconds a 429 (tracker/ratelimit.py) asks to wait; a minute if it did not say."""
    seconds = getattr(error, "retry_after", None)
    return seconds if isinstance(seconds, int) and seconds > 0 else 60


def handle_domain_error(error: DomainError):
    if wants_page():
        return (*error_page(error.status, error.message), error.headers)
    response = jsonify(
        error_body(error.status, error.message, code=error.code, fields=error.fields, **error.extra)
    )
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _is_transient(error: DBAPIError) -> bool:
    """A lost connection, a lock wait that timed out, a deadlock: worth a retry, not a bug."""
    if error.connection_invalidated:
        return True
    if isinstance(error.orig, psycopg.OperationalError):
        return True  # connection failures, deadlocks and serialization failures
    message = str(error.orig).lower()
    return isinstance(error, OperationalError) and ("locked" in message or "busy" in message)


def handle_database_unavailable(error: DBAPIError):
    """A dropped or unreachable database: the pool discards the connection, the client retries."""
    if not _is_transient(error):
        raise error  # a bug, not an outage: the generic 500 (and the tests) see it as it is
    log.warning("database unavailable on %s %s: %s", request.method, request.path, error.orig)
    if wants_page():
        return (*error_page(503), {"Retry-After": "5"})
    response = jsonify(error_body(503, "The database is unavailable; try again shortly"))
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return response


def handle_unexpected(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    if wants_page():
        return error_page(500)
    response = jsonify(error_body(500, "An unexpected error occurred; it has been logged"))
    response.status_code = 500
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DBAPIError, handle_database_unavailable)
    if not app.testing:
        app.register_error_handler(Exception, handle_unexpected)
