"""Pickup request schemas: what a hotline operator sends (In, Args) and what staff read (Out)."""

from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import ValidationError, fields, validate

from tracker.catalogue.schemas import OFFICE_EXAMPLE, PROCEDURE_EXAMPLE
from tracker.dossiers.schemas import (
    ADDRESS_EXAMPLE,
    FREE_ITEM_EXAMPLE,
    LABEL_DOC,
    PHONE_EXAMPLE,
    ApplicantPatchIn,
    DocumentIn,
    ItemNumberField,
    PhoneField,
    RefOut,
    ServiceFormField,
)
from tracker.pickups.lifecycle import (
    REASONS,
    SERVICE_FORMS,
    SLOTS,
    STATES,
    VISIT_OUTCOMES,
    allowed_next,
    reason_label,
    slot_label,
    state_label,
)
from tracker.schemas import Day, LoadSchema, Timestamp

REF_EXAMPLE = "TG-7K3M-Q9XD"
COMMUNE_EXAMPLE = "26041"  # Phường Trấn Biên, served by office 810000 (tests/test_pickups.py)
DAY_EXAMPLE = "2026-12-07"
STREET_EXAMPLE = "12 Đường 30/4, khu phố 3"
REF_PARAMETER = {
    "in": "path",
    "name": "ref",
    "description": "pickup reference, `TG-XXXX-XXXX` (case, dashes, O/0 and I/L/1 forgiven)",
    "example": REF_EXAMPLE,
}
# A mobile number since 2018: 10 digits, 03x, 05x, 07x, 08x or 09x (landlines start 02).
_MOBILE = re.compile(r"0[35789][0-9]{8}")
MOBILE_RULE = "must be a Vietnamese mobile number (10 digits from 03, 05, 07, 08 or 09)"


class MobileField(PhoneField):
    """The dossier applicant's phone field, narrowed to a mobile: the slot is confirmed by SMS."""

    def __init__(self, **kwargs):
        metadata = {
            "pattern": "^0[35789][0-9]{8}$",
            "description": "a mobile number (the SMS goes there): 10 digits from 03, 05, 07, "
            "08 or 09; spaces, dots, dashes, +84 are normalised",
        }
        kwargs["metadata"] = {**metadata, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            phone = super()._deserialize(value, attr, data, **kwargs)
        except ValidationError:
            phone = ""
        if not _MOBILE.fullmatch(phone):
            raise ValidationError(MOBILE_RULE)
        return phone


def _text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


def _note(**kwargs) -> fields.String:
    return fields.String(
        validate=validate.Length(max=2000),
        allow_none=True,
        metadata={"example": "Gọi trước 15 phút; nhà trong hẻm"},
        **kwargs,
    )


class AddressIn(LoadSchema):
    street = _text(
        300,
        required=True,
        metadata={"description": "house number, street, hamlet", "example": STREET_EXAMPLE},
    )
    commune_code = _text(
        10,
        required=True,
        metadata={"description": "a commune of the catalogue", "example": COMMUNE_EXAMPLE},
    )


class PickupCreateIn(LoadSchema):
    caller_name = _text(200, required=True, metadata={"example": "Nguyễn Văn An"})
    phone = MobileField(required=True)
    address = fields.Nested(AddressIn, required=True)
    service_form = fields.String(
        required=True, validate=validate.OneOf(SERVICE_FORMS), metadata={"example": "two_way"}
    )
    procedure_code = _text(
        40, allow_none=True, metadata={"description": "when known", "example": PROCEDURE_EXAMPLE}
    )
    day = Day(
        required=True,
        metadata={"description": "a working day, today or later", "example": DAY_EXAMPLE},
    )
    slot = fields.String(
        required=True, validate=validate.OneOf(list(SLOTS)), metadata={"example": "morning"}
    )
    note = _note()


class PickupPatchIn(LoadSchema):
    """A change of an open request: a new day or slot (SMS again), a new address (re-routed to
    the office that serves it), other details, or `state: cancelled`."""

    version = fields.Integer(
        strict=True, required=True, metadata={"description": "the version you read", "example": 1}
    )
    caller_name = _text(200, metadata={"example": "Nguyễn Văn An"})
    phone = MobileField()
    address = fields.Nested(AddressIn)
    service_form = fields.String(
        validate=validate.OneOf(SERVICE_FORMS), metadata={"example": "send_only"}
    )
    procedure_code = _text(40, allow_none=True, metadata={"example": PROCEDURE_EXAMPLE})
    day = Day(metadata={"example": DAY_EXAMPLE})
    slot = fields.String(validate=validate.OneOf(list(SLOTS)), metadata={"example": "afternoon"})
    note = _note()
    state = fields.String(
        validate=validate.OneOf(["cancelled"]),
        metadata={"description": "cancelled: the citizen no longer wants the visit"},
    )


class PostmanIn(LoadSchema):
    """Who is to go: a postman of the request's office, or null (back on the office's list)."""

    postman = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Length(min=1, max=80),
        metadata={"description": "a postman's username, or null to unassign", "example": "an.bt"},
    )
    version = fields.Integer(
        strict=True, required=True, metadata={"description": "the version you read", "example": 1}
    )


class VisitIntakeIn(LoadSchema):
    """The intake at the door (as `POST /api/v1/dossiers`'s); what is left out is taken from the
    request: the caller as applicant, the address as delivery address (two-way), the procedure,
    the service form, the procedure's checklist as the documents."""

    service_form = fields.String(
        validate=validate.OneOf(SERVICE_FORMS), metadata={"example": "two_way"}
    )
    procedure_code = _text(40, metadata={"example": PROCEDURE_EXAMPLE})
    applicant = fields.Nested(ApplicantPatchIn)
    delivery_address = fields.String(
        validate=validate.Length(max=500), allow_none=True, metadata={"example": ADDRESS_EXAMPLE}
    )
    documents = fields.List(fields.Nested(DocumentIn), validate=validate.Length(max=100))
    postal_item_number = ItemNumberField(allow_none=True, metadata={"example": FREE_ITEM_EXAMPLE})
    fee_vnd = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=1_000_000_000),
        metadata={"example": 200000},
    )
    note = fields.String(validate=validate.Length(max=2000), allow_none=True)


class VisitIn(LoadSchema):
    """A postman's visit: `collected` (with the `intake`) or `not_collected` (with a `reason`,
    and a new `day` + `slot` or none: the request is closed)."""

    outcome = fields.String(
        required=True, validate=validate.OneOf(VISIT_OUTCOMES), metadata={"example": "collected"}
    )
    visit_key = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "your own key of this visit: sent again, it answers the first",
            "example": "9f1c2e7a-5b1d-4c6e-8a57-0d3b8f6e2a41",
        },
    )
    visited_at = Timestamp(metadata={"description": "when, at the door (default: now)"})
    intake = fields.Nested(VisitIntakeIn)
    reason = fields.String(validate=validate.OneOf(list(REASONS)), metadata={"example": "absent"})
    note = _note()
    day = Day(metadata={"description": "a new day agreed (with `slot`)", "example": DAY_EXAMPLE})
    slot = fields.String(validate=validate.OneOf(list(SLOTS)), metadata={"example": "afternoon"})


class PickupListArgs(LoadSchema):
    office = fields.String(validate=validate.Length(max=40), metadata={"example": OFFICE_EXAMPLE})
    postman = fields.String(
        validate=validate.Length(min=1, max=80),
        metadata={
            "description": "a postman's username; `me` for your own; `none` for unassigned",
            "example": "me",
        },
    )
    day = Day(metadata={"example": DAY_EXAMPLE})
    state = fields.String(validate=validate.OneOf(list(STATES)), metadata={"example": "requested"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=40))


# ---- dumps --------------------------------------------------------------------------------

_STRING = {"type": "string"}
_USER_DOC = {"type": "object", "properties": {"username": _STRING, "full_name": _STRING}}


def _user(user) -> dict[str, str] | None:
    return None if user is None else {"username": user.username, "full_name": user.full_name}


class PickupOut(ma.Schema):
    reference = fields.String(metadata={"example": REF_EXAMPLE})
    state = fields.Function(lambda p: state_label(p.state), metadata=LABEL_DOC)
    caller_name = fields.String()
    phone = fields.String(metadata={"example": PHONE_EXAMPLE})
    address = fields.Function(
        lambda p: {
            "street": p.street,
            "commune": {"code": p.commune.code, "name": p.commune.name},
        },
        metadata={
            "type": "object",
            "properties": {
                "street": {**_STRING, "example": STREET_EXAMPLE},
                "commune": {
                    "type": "object",
                    "properties": {"code": _STRING, "name": _STRING},
                },
            },
        },
    )
    office = fields.Nested(RefOut, metadata={"description": "the office that serves the commune"})
    service_form = ServiceFormField()
    procedure = fields.Nested(RefOut, allow_none=True)
    day = fields.Date()
    slot = fields.Function(lambda p: slot_label(p.slot), metadata=LABEL_DOC)
    note = fields.String(allow_none=True)
    postman = fields.Function(
        lambda p: _user(p.postman),
        metadata={**_USER_DOC, "nullable": True, "description": "the assigned postman"},
    )
    dossier = fields.Function(
        lambda p: {"code": p.dossier.code} if p.dossier else None,
        metadata={
            "type": "object",
            "nullable": True,
            "properties": {"code": _STRING},
            "description": "the dossier made at the door",
        },
    )
    collected_at = fields.DateTime(allow_none=True)
    allowed_next = fields.Function(
        lambda p: allowed_next(p.state),
        metadata={"type": "array", "items": _STRING, "description": "states that may follow"},
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    state_changed_at = fields.DateTime()
    version = fields.Integer()


class VisitOut(ma.Schema):
    id = fields.Integer()
    outcome = fields.String(metadata={"description": "collected or not_collected"})
    reason = fields.Function(
        lambda v: reason_label(v.reason), metadata={**LABEL_DOC, "nullable": True}
    )
    note = fields.String(allow_none=True)
    new_day = fields.Date(allow_none=True)
    new_slot = fields.Function(
        lambda v: slot_label(v.new_slot) if v.new_slot else None,
        metadata={**LABEL_DOC, "nullable": True},
    )
    visited_at = fields.DateTime()
    recorded_at = fields.DateTime()
    recorded_by = fields.Function(
        lambda v: _user(v.actor), metadata={**_USER_DOC, "nullable": True}
    )
    dossier = fields.Function(
        lambda v: v.dossier.code if v.dossier else None,
        metadata={"type": "string", "nullable": True, "description": "the dossier's code"},
    )
    visit_key = fields.String(allow_none=True)


class VisitRecordedOut(ma.Schema):
    visit = fields.Nested(VisitOut)
    created = fields.Boolean(metadata={"description": "false: the visit was already recorded"})
    dossier_code = fields.String(allow_none=True)
    lookup_secret = fields.String(
        allow_none=True,
        metadata={"description": "shown once, when the dossier is made; null on a repeat"},
    )
    pickup = fields.Nested(PickupOut)


class PickupPageOut(ma.Schema):
    items = fields.List(fields.Nested(PickupOut))
    next_cursor = fields.String(allow_none=True)
