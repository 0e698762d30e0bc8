"""Collection orders: what an agency's system sends (`OrderIn`, one order of a batch) and what
it gets back (`OrderBatchOut`). The batch's envelope is read by `tracker.schemas.read_batch` so that
each order is checked, and refused, on its own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError, fields, validate

from tracker.catalogue.schemas import OFFICE_EXAMPLE, PROCEDURE_EXAMPLE
from tracker.dossiers.schemas import ADDRESS_EXAMPLE, DOSSIER_CODE_EXAMPLE
from tracker.errors import flatten_messages
from tracker.pickups.schemas import MobileField
from tracker.schemas import LoadSchema, Timestamp

# An agency's batch: one HTTP request, one transaction, at most this many orders.
MAX_ORDERS = 1000
OUTCOMES = ("created", "existing", "moved")
REFERENCE_EXAMPLE = "HS-2025-000123"


def _text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class RecipientIn(LoadSchema):
    name = _text(200, required=True, metadata={"example": "Nguyễn Văn An"})
    phone = MobileField(required=True)


class OrderIn(LoadSchema):
    """One result ready at the agency's desk, for the post to collect and deliver."""

    agency_reference = _text(
        80,
        required=True,
        metadata={
            "description": "the agency's own code for the dossier (mã hồ sơ): the order's key",
            "example": REFERENCE_EXAMPLE,
        },
    )
    procedure_code = _text(
        40,
        required=True,
        metadata={
            "description": "national code of a procedure of the agency allowing return by post",
            "example": PROCEDURE_EXAMPLE,
        },
    )
    office_code = _text(
        40,
        required=True,
        metadata={
            "description": "the post office that collects the result at the agency's desk",
            "example": OFFICE_EXAMPLE,
        },
    )
    recipient = fields.Nested(RecipientIn, required=True)
    delivery_address = _text(500, required=True, metadata={"example": ADDRESS_EXAMPLE})
    fee_vnd = fields.Integer(
        strict=True,
        load_default=0,
        validate=validate.Range(min=0, max=1_000_000_000),
        metadata={
            "description": "whole dong the post collects from the recipient on delivery (fee, "
            "cash on delivery); 0 when nothing",
            "example": 30000,
        },
    )
    ready_at = Timestamp(
        required=True,
        metadata={
            "description": "when the result was ready at the agency's desk (not in the future); "
            "without an offset, Vietnam time",
            "example": "2025-01-04T10:00:00+07:00",
        },
    )
    note = fields.String(
        validate=validate.Length(max=2000),
        allow_none=True,
        metadata={"example": "Giao giờ hành chính"},
    )


class OrderBatchIn(ma.Schema):
    """OpenAPI only: the body is read order by order (`check_orders`)."""

    orders = fields.List(
        fields.Nested(OrderIn),
        required=True,
        validate=validate.Length(min=1, max=MAX_ORDERS),
        metadata={"description": f"1 to {MAX_ORDERS} orders"},
    )


@dataclass(frozen=True)
class OrderError:
    """A refused order: its place in `orders`, the field and the reason."""

    index: int
    field: str
    message: str
    agency_reference: str | None = None


def reference_of(raw: Any) -> str | None:
    """The order's agency reference as sent, when it is a readable one (for the answer)."""
    if isinstance(raw, dict):
        value = raw.get("agency_reference")
        if isinstance(value, str) and 0 < len(value) <= 80 and "\x00" not in value:
            return value.strip()
    return None


def check_orders(
    orders: Iterable[tuple[int, Any]],
) -> tuple[list[tuple[int, dict[str, Any]]], list[OrderError]]:
    """Split (index, raw order) pairs into loaded orders and the errors of the others."""
    schema = OrderIn()
    valid: list[tuple[int, dict[str, Any]]] = []
    errors: list[OrderError] = []
    for index, raw in orders:
        if not isinstance(raw, dict):
            errors.append(OrderError(index, "order", "must be an object"))
            continue
        try:
            valid.append((index, schema.load(raw)))
        except ValidationError as exc:
            reference = reference_of(raw)
            for name, messages in flatten_messages(exc.messages).items():
                errors.extend(OrderError(index, name, str(m), reference) for m in messages)
    return valid, errors


# ---- answers ------------------------------------------------------------------------------


class OrderAcceptedOut(ma.Schema):
    index = fields.Integer(metadata={"description": "position of the order in `orders` (0-based)"})
    agency_reference = fields.String(metadata={"example": REFERENCE_EXAMPLE})
    code = fields.String(
        metadata={"description": "our dossier code", "example": DOSSIER_CODE_EXAMPLE}
    )
    outcome = fields.String(
        validate=validate.OneOf(OUTCOMES),
        metadata={
            "description": "created (a new one-way dossier awaiting collection), moved (the "
            "agency's return registration, now result_ready) or existing (ordered before: "
            "nothing changed)",
            "example": "created",
        },
    )
    status = fields.String(
        metadata={"description": "the dossier's status now", "example": "result_ready"}
    )
    changed = fields.List(
        fields.String(),
        metadata={
            "description": "fields of this order that differ from the dossier already known "
            "(not applied: the dossier keeps what the post has)",
            "example": [],
        },
    )


class OrderErrorOut(ma.Schema):
    index = fields.Integer(metadata={"description": "position of the order in `orders` (0-based)"})
    agency_reference = fields.String(allow_none=True, metadata={"example": REFERENCE_EXAMPLE})
    field = fields.String(metadata={"example": "recipient.phone"})
    message = fields.String()


class OrderCountsOut(ma.Schema):
    created = fields.Integer()
    moved = fields.Integer()
    existing = fields.Integer()
    refused = fields.Integer(metadata={"description": "orders refused (one or more errors each)"})


class OrderBatchOut(ma.Schema):
    counts = fields.Nested(OrderCountsOut)
    accepted = fields.List(fields.Nested(OrderAcceptedOut))
    refused = fields.List(
        fields.Nested(OrderErrorOut), metadata={"description": "one entry per error"}
    )
