"""Load schemas (what a client may send) and dump schemas (what it gets back), kept apart."""

from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import ValidationError, fields, post_load, validate

from tracker.catalogue.models import SERVICE_FORMS
from tracker.dossiers import s10
from tracker.dossiers.lifecycle import SERVICE_FORM_LABELS, STATUSES, allowed_next, status_label
from tracker.dossiers.models import DOCUMENT_KINDS
from tracker.schemas import Day, LoadSchema, Timestamp

# [0-9], not \d: \d also matches other scripts' digits, which no phone or ID number has.
_PHONE = re.compile(r"0[0-9]{9,10}")
_ID_NUMBER = re.compile(r"(?:[0-9]{9}|[0-9]{12})\Z")


def normalise_phone(value: str) -> str:
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits


class PhoneField(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        phone = normalise_phone(super()._deserialize(value, attr, data, **kwargs))
        if not _PHONE.fullmatch(phone):
            raise ValidationError("must be a Vietnamese phone number of 10 or 11 digits")
        return phone


class ItemNumberField(fields.String):
    """A UPU S10 identifier; the check digit is verified."""

    def _deserialize(self, value, attr, data, **kwargs):
        item = s10.normalise(super()._deserialize(value, attr, data, **kwargs))
        problem = s10.validate(item)
        if problem:
            raise ValidationError(problem)
        return item


def _text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class ApplicantSchema(LoadSchema):
    name = _text(200, required=True)
    phone = PhoneField(required=True)
    id_number = fields.String(
        validate=validate.Regexp(_ID_NUMBER, error="must be 9 or 12 digits"), allow_none=True
    )
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))


class DocumentSchema(LoadSchema):
    name = _text(300, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(DOCUMENT_KINDS))
    count = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1, max=1000))


class DossierCreateSchema(LoadSchema):
    service_form = fields.String(required=True, validate=validate.OneOf(SERVICE_FORMS))
    procedure_code = _text(40, required=True)
    office_code = _text(40, metadata={"description": "required for admins; clerks use their own"})
    applicant = fields.Nested(ApplicantSchema, required=True)
    delivery_address = fields.String(validate=validate.Length(max=500), allow_none=True)
    documents = fields.List(
        fields.Nested(DocumentSchema), load_default=list, validate=validate.Length(max=100)
    )
    postal_item_number = ItemNumberField(allow_none=True)
    fee_vnd = fields.Integer(
        strict=True, load_default=0, validate=validate.Range(min=0, max=1_000_000_000)
    )
    received_at = Timestamp()
    appointment_date = Day(allow_none=True)
    agency_reference = fields.String(validate=validate.Length(max=80), allow_none=True)
    note = fields.String(validate=validate.Length(max=2000), allow_none=True)


class ApplicantPatchSchema(ApplicantSchema):
    name = _text(200)
    phone = PhoneField()


class DossierPatchSchema(LoadSchema):
    version = fields.Integer(
        strict=True, required=True, metadata={"description": "the version you read"}
    )
    applicant = fields.Nested(ApplicantPatchSchema)
    delivery_address = fields.String(validate=validate.Length(max=500), allow_none=True)
    documents = fields.List(fields.Nested(DocumentSchema), validate=validate.Length(max=100))
    postal_item_number = ItemNumberField(allow_none=True)
    fee_vnd = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000_000))
    appointment_date = Day(allow_none=True)
    agency_reference = fields.String(validate=validate.Length(max=80), allow_none=True)
    note = fields.String(validate=validate.Length(max=2000), allow_none=True)


class EventCreateSchema(LoadSchema):
    status = fields.String(required=True, validate=validate.OneOf(list(STATUSES)))
    occurred_at = Timestamp(metadata={"description": "when it happened; default now"})
    note = fields.String(validate=validate.Length(max=2000), allow_none=True)
    source_event_id = fields.String(validate=validate.Length(min=1, max=120))
    appointment_date = Day()
    expected_version = fields.Integer(strict=True)


class DossierListArgs(LoadSchema):
    status = fields.String(validate=validate.OneOf(list(STATUSES)))
    service_form = fields.String(validate=validate.OneOf(SERVICE_FORMS))
    office = fields.String(validate=validate.Length(max=40))
    channel = fields.String(validate=validate.Length(max=40))
    procedure = fields.String(validate=validate.Length(max=40))
    sector = fields.String(validate=validate.Length(max=40))
    received_from = Day(metadata={"description": "first day (Vietnam time), inclusive"})
    received_to = Day(metadata={"description": "last day (Vietnam time), inclusive"})
    overdue = fields.Boolean()
    stuck = fields.Boolean(metadata={"description": "marked stuck by the hourly sweep"})
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "code, phone, item number or part of the name"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=40))

    @post_load
    def _check_range(self, data, **kwargs):
        if (
            data.get("received_from")
            and data.get("received_to")
            and data["received_from"] > data["received_to"]
        ):
            raise ValidationError("must not be after received_to", "received_from")
        return data


# ---- dumps ------------------------------------------------------------------------------


class StatusField(fields.Field):
    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else status_label(value)


class ServiceFormField(fields.Field):
    def _serialize(self, value, attr, obj, **kwargs):
        label_vi, label_en = SERVICE_FORM_LABELS[value]
        return {"code": value, "label_vi": label_vi, "label_en": label_en}


class RefSchema(ma.Schema):
    code = fields.String()
    name = fields.String()


class DocumentOut(ma.Schema):
    name = fields.String()
    kind = fields.String()
    count = fields.Integer()


class DossierSummaryOut(ma.Schema):
    code = fields.String()
    service_form = ServiceFormField()
    status = StatusField()
    procedure = fields.Nested(RefSchema)
    office = fields.Nested(RefSchema)
    applicant_name = fields.String()
    postal_item_number = fields.String()
    received_at = fields.DateTime()
    appointment_date = fields.Date()
    due_date = fields.Date()
    overdue = fields.Function(lambda d: d.is_overdue())
    # Set by the hourly sweep: when it first found the dossier overdue / without an event for
    # STUCK_AFTER_DAYS working days; null when it is not (or not yet seen by the sweep).
    overdue_since = fields.DateTime()
    stuck_since = fields.DateTime()
    version = fields.Integer()


class DossierOut(DossierSummaryOut):
    channel = fields.Function(lambda d: {"code": d.channel.code, "name": d.channel.name_vi})
    agency = fields.Nested(RefSchema)
    sector = fields.Function(
        lambda d: {"code": d.procedure.sector.code, "name": d.procedure.sector.name_vi}
    )
    agency_reference = fields.String()
    applicant = fields.Function(
        lambda d: {
            "name": d.applicant_name,
            "phone": d.applicant_phone,
            "id_number": d.applicant_id_number,
            "email": d.applicant_email,
        }
    )
    delivery_address = fields.String()
    documents = fields.List(fields.Nested(DocumentOut))
    fee_vnd = fields.Integer()
    note = fields.String()
    supplement_days = fields.Integer()
    status_changed_at = fields.DateTime()
    result_at = fields.DateTime()
    closed_at = fields.DateTime()
    allowed_next = fields.Function(lambda d: allowed_next(d.service_form, d.status))


class DossierCreatedOut(DossierOut):
    lookup_secret = fields.String(metadata={"description": "shown once; print it on the receipt"})


class DossierPageOut(ma.Schema):
    items = fields.List(fields.Nested(DossierSummaryOut))
    next_cursor = fields.String(allow_none=True)


class EventOut(ma.Schema):
    id = fields.Integer()
    from_status = StatusField()
    to_status = StatusField()
    applied = fields.Boolean()
    occurred_at = fields.DateTime()
    recorded_at = fields.DateTime()
    source = fields.String()
    source_event_id = fields.String()
    raw_code = fields.String()
    office = fields.Function(lambda e: e.office.code if e.office else None)
    actor_id = fields.Integer()
    note = fields.String()


class EventRecordedOut(EventOut):
    duplicate = fields.Boolean()
    dossier = fields.Nested(DossierOut)


class ReceiptOut(ma.Schema):
    code = fields.String()
    lookup_secret = fields.String()
