"""What a citizen may see: no staff names, the applicant's name masked."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import ValidationError, fields, validate, validates_schema

from tracker.dossiers.schemas import (
    DOSSIER_CODE_EXAMPLE,
    PHONE_EXAMPLE,
    ItemNumberField,
    RefOut,
)
from tracker.schemas import FullMatch, LoadSchema

# The lookup secret printed on the receipt: 10 symbols of Crockford's base32 (dossiers/codes.py).
SECRET_EXAMPLE = "7K3M9QXR2D"


class TrackArgs(LoadSchema):
    code = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"example": DOSSIER_CODE_EXAMPLE}
    )
    secret = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"example": SECRET_EXAMPLE}
    )
    item = ItemNumberField()
    phone_last4 = fields.String(
        validate=FullMatch("^[0-9]{4}$", error="must be 4 digits"),
        metadata={"example": PHONE_EXAMPLE[-4:]},
    )

    @validates_schema
    def _one_way_to_ask(self, data, **kwargs):
        by_code = "code" in data or "secret" in data
        by_item = "item" in data or "phone_last4" in data
        if by_code and by_item:
            raise ValidationError("give code and secret, or item and phone_last4, not both")
        needed = ("code", "secret") if by_code or not by_item else ("item", "phone_last4")
        missing = {name: ["required"] for name in needed if name not in data}
        if missing:
            raise ValidationError(missing)


class LabelOut(ma.Schema):
    code = fields.String()
    label_vi = fields.String()
    label_en = fields.String()


class StatusOut(LabelOut):
    national_code = fields.Integer(
        allow_none=True, metadata={"description": "national one-stop status code, where one fits"}
    )


class TimelineEntryOut(ma.Schema):
    status = fields.Nested(StatusOut)
    at = fields.DateTime()
    office = fields.String(
        allow_none=True, metadata={"description": "where it happened (never a staff name)"}
    )
    delivered_to = fields.Nested(
        LabelOut,
        allow_none=True,
        metadata={
            "description": "a delivered result: who received it, as a relation to the "
            "applicant (never a name); code applicant | authorised | family | organisation"
        },
    )
    failure_reason = fields.Nested(
        LabelOut,
        allow_none=True,
        metadata={
            "description": "a failed delivery: its coded reason (absent | wrong_address | "
            "refused | other) in words, never the postman's note"
        },
    )


class TrackOut(ma.Schema):
    code = fields.String(metadata={"example": DOSSIER_CODE_EXAMPLE})
    procedure = fields.Nested(RefOut)
    service_form = fields.Nested(LabelOut)
    status = fields.Nested(StatusOut)
    received_at = fields.DateTime()
    appointment_date = fields.Date(allow_none=True)
    due_date = fields.Date(
        allow_none=True, metadata={"description": "appointment pushed back by supplement days"}
    )
    timeliness = fields.String(
        metadata={
            "description": "early | on_time | late | on_track | paused | overdue | unknown | "
            "not_applicable"
        }
    )
    applicant_name = fields.String(metadata={"description": "masked"})
    timeline = fields.List(fields.Nested(TimelineEntryOut))
