"""What a citizen may see: no staff names, the applicant's name masked."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import ValidationError, fields, validate, validates_schema

from tracker.dossiers.schemas import ItemNumberField, RefSchema, ServiceFormField, StatusField
from tracker.dossiers.timeliness import timeliness
from tracker.schemas import LoadSchema
from tracker.text import mask_name


class TrackArgs(LoadSchema):
    code = fields.String(validate=validate.Length(min=1, max=40))
    secret = fields.String(validate=validate.Length(min=1, max=40))
    item = ItemNumberField()
    phone_last4 = fields.String(validate=validate.Regexp(r"^\d{4}$", error="must be 4 digits"))

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


class TimelineEntryOut(ma.Schema):
    status = StatusField(attribute="to_status")
    at = fields.DateTime(attribute="occurred_at")
    office = fields.Function(lambda e: e.office.name if e.office else None)


class TrackOut(ma.Schema):
    code = fields.String()
    procedure = fields.Nested(RefSchema)
    service_form = ServiceFormField()
    status = StatusField()
    received_at = fields.DateTime()
    appointment_date = fields.Date()
    due_date = fields.Date()
    timeliness = fields.Function(timeliness)
    applicant_name = fields.Function(lambda d: mask_name(d.applicant_name))
    timeline = fields.Function(lambda d: TimelineEntryOut(many=True).dump(d.events))
