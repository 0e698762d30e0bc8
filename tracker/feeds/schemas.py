"""What the feeds accept (one event at a time, so that a malformed event is refused alone) and
what they answer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError, fields, validate, validates, validates_schema

from tracker.calendar import utcnow
from tracker.catalogue.schemas import AGENCY_EXAMPLE
from tracker.dossiers.delivery import FAILURE_REASONS, RECEIVER_NAME_LENGTH, RECEIVER_RELATIONS
from tracker.dossiers.operations import FUTURE_TOLERANCE
from tracker.dossiers.schemas import (
    APPOINTMENT_EXAMPLE,
    DOSSIER_CODE_EXAMPLE,
    FAILURE_REASON_DOC,
    OFFICE_EXAMPLE,
    RELATION_DOC,
    ItemNumberField,
    coded,
)
from tracker.errors import flatten_messages
from tracker.feeds.models import EVENT_STATES, FEED_SOURCES
from tracker.schemas import Day, LoadSchema, Timestamp

# What an agency's one-stop system reports; the rest of the lifecycle happens at the post.
AGENCY_FEED_STATUSES = ("processing", "supplement_required", "rejected", "result_ready")


@dataclass(frozen=True)
class ItemError:
    """A refused event: its place in the batch (index, or line of a file), field and reason."""

    index: int
    field: str
    message: str


class _FeedEventIn(LoadSchema):
    event_id = fields.String(
        required=True, validate=validate.Length(min=1, max=120), metadata={"example": "evt-000123"}
    )
    occurred_at = Timestamp(required=True, metadata={"example": "2025-01-06T08:00:00+07:00"})
    note = fields.String(validate=validate.Length(max=2000), allow_none=True)

    @validates("occurred_at")
    def _not_future(self, value, **kwargs) -> None:
        if value > utcnow() + FUTURE_TOLERANCE:
            raise ValidationError("must not be in the future")


class PostalEventIn(_FeedEventIn):
    item_number = ItemNumberField(required=True)
    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=20),
        metadata={"description": "the post's event code", "example": "EMA"},
    )
    office_code = fields.String(
        validate=validate.Length(min=1, max=40),
        allow_none=True,
        metadata={"example": OFFICE_EXAMPLE},
    )
    # Proof of delivery, when the post gives it (tracker/feeds/codes.py: the defaults).
    receiver_name = fields.String(
        validate=validate.Length(min=1, max=RECEIVER_NAME_LENGTH),
        allow_none=True,
        metadata={"description": "who signed for a delivered item"},
    )
    receiver_relation = coded(
        RECEIVER_RELATIONS,
        f"{RELATION_DOC}; a delivery without it is to the applicant",
        "applicant",
        allow_none=True,
    )
    failure_reason = coded(
        FAILURE_REASONS,
        f"{FAILURE_REASON_DOC}; a failure without it is `other`, the note saying why",
        "absent",
        allow_none=True,
    )


class AgencyEventIn(_FeedEventIn):
    # The dossier: our code, or the agency's own code for it (a return registration is keyed by
    # it), of `agency_code`'s agency, else of the agency the sending account is tied to.
    dossier_code = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={
            "description": "our dossier code; or give `agency_reference` instead",
            "example": DOSSIER_CODE_EXAMPLE,
        },
    )
    agency_reference = fields.String(
        validate=validate.Length(min=1, max=80),
        metadata={
            "description": "the agency's own code for the dossier, instead of `dossier_code`",
            "example": "HS-2025-000123",
        },
    )
    agency_code = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={
            "description": "the agency of `agency_reference`; default: the sending account's",
            "example": AGENCY_EXAMPLE,
        },
    )
    status = fields.String(
        required=True,
        validate=validate.OneOf(AGENCY_FEED_STATUSES),
        metadata={"example": "processing"},
    )
    appointment_date = Day(allow_none=True, metadata={"example": APPOINTMENT_EXAMPLE})

    @validates_schema
    def _one_dossier(self, data, **kwargs) -> None:
        named = [key for key in ("dossier_code", "agency_reference") if data.get(key)]
        if len(named) != 1:
            raise ValidationError(
                "give either dossier_code or agency_reference", field_name="dossier_code"
            )
        if data.get("agency_code") and not data.get("agency_reference"):
            raise ValidationError("only with agency_reference", field_name="agency_code")


_SCHEMAS = {"postal": PostalEventIn(), "agency": AgencyEventIn()}


class PostalBatchIn(ma.Schema):
    """The body of a postal batch, for the OpenAPI document only: each event is loaded alone
    (PostalEventIn), so that a malformed one is refused by itself."""

    events = fields.List(fields.Nested(PostalEventIn), required=True)


class AgencyBatchIn(ma.Schema):
    """The body of an agency batch, for the OpenAPI document only: each event is loaded alone
    (AgencyEventIn)."""

    events = fields.List(fields.Nested(AgencyEventIn), required=True)


def check_events(
    source: str, events: Iterable[tuple[int, Any]]
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[ItemError]]:
    """Split (index, raw event) pairs into valid (loaded, raw) pairs and item errors."""
    schema = _SCHEMAS[source]
    valid: list[tuple[dict[str, Any], dict[str, Any]]] = []
    errors: list[ItemError] = []
    for index, raw in events:
        if not isinstance(raw, dict):
            errors.append(ItemError(index, "event", "must be an object"))
            continue
        try:
            valid.append((schema.load(raw), raw))
        except ValidationError as exc:
            for name, messages in flatten_messages(exc.messages).items():
                errors.extend(ItemError(index, name, message) for message in messages)
    return valid, errors


# ---- answers ------------------------------------------------------------------------------


class ItemErrorOut(ma.Schema):
    index = fields.Integer(metadata={"description": "position of the event in `events` (0-based)"})
    field = fields.String()
    message = fields.String()


class BatchAcceptedOut(ma.Schema):
    batch_id = fields.Integer()
    source = fields.String(validate=validate.OneOf(FEED_SOURCES))
    accepted = fields.Integer(metadata={"description": "events stored, to be applied"})
    refused = fields.Integer(metadata={"description": "malformed events, not stored"})
    errors = fields.List(fields.Nested(ItemErrorOut))
    duplicate = fields.Boolean(
        metadata={"description": "true: this message was received before; nothing new stored"}
    )
    status_url = fields.String()


class BatchOut(ma.Schema):
    id = fields.Integer()
    source = fields.String()
    message_id = fields.String(
        allow_none=True, metadata={"description": "the webhook-id it was sent with"}
    )
    received_at = fields.DateTime()
    processed_at = fields.DateTime(allow_none=True)
    event_count = fields.Integer()
    refused_count = fields.Integer()
    done = fields.Boolean(metadata={"description": "no event of the batch is pending"})
    counts = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "by state"}
    )


class FeedEventOut(ma.Schema):
    id = fields.Integer()
    batch_id = fields.Integer()
    source = fields.String()
    event_id = fields.String()
    item_number = fields.String(allow_none=True)
    dossier_code = fields.String(allow_none=True)
    agency_reference = fields.String(allow_none=True)
    raw_code = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    occurred_at = fields.DateTime()
    office_code = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    appointment_date = fields.Date(allow_none=True)
    receiver_name = fields.String(allow_none=True)
    receiver_relation = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    state = fields.String()
    error = fields.String(allow_none=True)
    processed_at = fields.DateTime(allow_none=True)


class FeedEventPageOut(ma.Schema):
    items = fields.List(fields.Nested(FeedEventOut))
    next_cursor = fields.String(allow_none=True)


class _PageArgs(LoadSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(validate=validate.Length(max=40))


class UnmatchedArgs(_PageArgs):
    item = ItemNumberField(metadata={"description": "only this postal item number"})
    office = fields.String(
        validate=validate.Length(max=40),
        metadata={"description": "office code of the scan", "example": OFFICE_EXAMPLE},
    )


class BatchEventsArgs(_PageArgs):
    state = fields.String(validate=validate.OneOf(EVENT_STATES), metadata={"example": "unmatched"})
