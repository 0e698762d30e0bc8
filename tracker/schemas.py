"""Base for every load schema: unknown fields, NUL characters and absurd dates are errors that
name the field, never a crash further down.

Schema classes are named by their role, which is also their OpenAPI component's name: `...In`
for what the API loads from a request body, `...Out` for what it answers, `...Args` for query
arguments; a nested schema takes the role of the one that holds it. `LoadSchema` is the base of
the `In` and `Args` schemas (and of the page forms, `...Form`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError, fields, pre_load, validate

from tracker.calendar import VN_TZ
from tracker.errors import DomainError, ValidationFailed

# Far enough for any real dossier, near enough that date arithmetic cannot overflow.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


# No request of this API nests deeper than a few levels; deeper input is refused, not walked.
MAX_DEPTH = 16


def _check_text(value, path: str, errors: dict, depth: int = 0) -> object:
    if isinstance(value, str):
        if "\x00" in value:
            errors[path] = ["must not contain NUL characters"]
            return value
        return value.strip()
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        errors[path or "body"] = ["nested too deeply"]
        return value
    if isinstance(value, dict):
        return {
            k: _check_text(v, f"{path}.{k}" if path else str(k), errors, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_check_text(v, f"{path}.{i}", errors, depth + 1) for i, v in enumerate(value)]
    return value


class LoadSchema(ma.Schema):
    """Strict input: unknown fields are refused by name; strings are stripped."""

    class Meta:
        unknown = ma.RAISE

    @pre_load
    def _clean_text(self, data, **kwargs):
        if not isinstance(data, Mapping):
            return data
        errors: dict[str, list[str]] = {}
        cleaned = _check_text(dict(data), "", errors)
        if errors:
            raise ValidationError(errors)
        return cleaned


def Timestamp(**kwargs) -> fields.AwareDateTime:
    """A moment; one written without an offset is read as Vietnam time, as a clerk means it."""
    return fields.AwareDateTime(
        default_timezone=VN_TZ,
        validate=validate.Range(
            min=datetime(2000, 1, 1, tzinfo=UTC), max=datetime(2100, 12, 31, tzinfo=UTC)
        ),
        **kwargs,
    )


def Day(**kwargs) -> fields.Date:
    return fields.Date(validate=validate.Range(min=EARLIEST, max=LATEST), **kwargs)


class FullMatch(validate.Regexp):
    """The whole value must match `pattern`, written `^...$` in the dialect Python's `re` and
    ECMA-262 (OpenAPI's `pattern`) read alike: no `\\Z`, `\\A` or `(?P<...>)`.

    `validate.Regexp` uses `re.match`, where `$` also matches before a trailing newline; here
    `re.fullmatch` leaves no room for one, as an ECMA `$` (no multiline flag) does not either.
    """

    def __init__(self, pattern: str, *, error: str | None = None) -> None:
        if not (pattern.startswith("^") and pattern.endswith("$")):
            raise ValueError(f"write the pattern anchored, ^...$: {pattern!r}")
        super().__init__(pattern, error=error)

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def read_batch(body: bytes, key: str, max_items: int) -> list[Any]:
    """The list under `key` of a batch body `{"<key>": [...]}` (feed events, collection
    orders), 1 to `max_items` items, each left to be checked on its own so that a bad item is
    refused alone. A body that is not JSON is a 400; any other envelope a 422 naming the field."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON and bytes that are not UTF-8.
        raise DomainError(
            "The request body is not valid JSON", fields={"body": ["not valid JSON"]}
        ) from exc
    if not isinstance(data, dict):
        raise ValidationFailed.field("body", f'must be an object {{"{key}": [...]}}')
    unknown = sorted(str(name) for name in set(data) - {key})
    if unknown:
        raise ValidationFailed(
            f"unknown field {', '.join(unknown)}",
            fields={name: ["Unknown field."] for name in unknown},
        )
    items = data.get(key)
    one = key.removesuffix("s")
    if not isinstance(items, list):
        raise ValidationFailed.field(key, f"required: a list of {key}")
    if not items:
        raise ValidationFailed.field(key, f"must hold at least one {one}")
    if len(items) > max_items:
        raise ValidationFailed.field(
            key, f"at most {max_items} {key} per batch (split it), not {len(items)}"
        )
    return items
