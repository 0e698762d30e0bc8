"""Load schemas (what a client may send) and dump schemas (what it gets back), kept apart."""

from __future__ import annotations

import re
from collections.abc import Iterable

import marshmallow as ma
from marshmallow import ValidationError, fields, post_load, validate

from tracker.catalogue.models import SERVICE_FORMS
from tracker.catalogue.schemas import (
    AGENCY_EXAMPLE,
    CHANNEL_EXAMPLE,
    OFFICE_EXAMPLE,
    PROCEDURE_EXAMPLE,
    SECTOR_EXAMPLE,
)
from tracker.dossiers import s10
from tracker.dossiers.delivery import FAILURE_REASONS, RECEIVER_NAME_LENGTH, RECEIVER_RELATIONS
from tracker.dossiers.lifecycle import SERVICE_FORM_LABELS, STATUSES, allowed_next, status_label
from tracker.dossiers.models import DOCUMENT_KINDS
from tracker.schemas import Day, FullMatch, LoadSchema, Timestamp

# [0-9], not \d: \d also matches other scripts' digits, which no phone or ID number has.
_PHONE = re.compile(r"0[0-9]{9,10}")
# Anchored ^...$ and matched whole (FullMatch): the same in Python and in the OpenAPI document.
_ID_NUMBER = "^(?:[0-9]{9}|[0-9]{12})$"

# Examples of the OpenAPI document, taken from the test catalogue (tests/conftest.py): a client
# generated from the document, or the fuzz test, gets past the parser to the rules with them.
DOSSIER_CODE_EXAMPLE = f"{AGENCY_EXAMPLE}-250104-0001"  # <agency>-<YYMMDD>-<NNNN>
# S10 numbers with their check digit (s10.check_digit("12345678") == 5): one on the example
# dossier, one free for a new dossier.
ITEM_EXAMPLE = "EE123456785VN"
FREE_ITEM_EXAMPLE = "RA473124829VN"
PHONE_EXAMPLE = "0912345678"
RECEIVED_AT_EXAMPLE = "2025-01-04T09:30:00+07:00"
APPOINTMENT_EXAMPLE = "2025-01-20"
CODE_PARAMETER = {
    "in": "path",
    "name": "code",
    "description": "dossier code, `<agency>-<YYMMDD>-<NNNN>`",
    "example": DOSSIER_CODE_EXAMPLE,
}


def normalise_phone(value: str) -> str:
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits


class PhoneField(fields.String):
    """A Vietnamese phone number; spaces, dots, dashes and +84 are accepted and normalised."""

    def __init__(self, **kwargs):
        metadata = {
            # The form it is stored in; spaces, dots, dashes and +84 are accepted too.
            "pattern": "^0[0-9]{9,10}$",
            "description": "10 or 11 digits from 0; spaces, dots, dashes, +84 are normalised",
            "example": PHONE_EXAMPLE,
        }
        kwargs["metadata"] = {**metadata, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        phone = normalise_phone(super()._deserialize(value, attr, data, **kwargs))
        if not _PHONE.fullmatch(phone):
            raise ValidationError("must be a Vietnamese phone number of 10 or 11 digits")
        return phone


class ItemNumberField(fields.String):
    """A UPU S10 identifier; the check digit is verified."""

    def __init__(self, **kwargs):
        metadata = {
            # The form it is stored in; lower case and spaces are accepted too.
            "pattern": "^[A-Z]{2}[0-9]{9}[A-Z]{2}$",
            "description": "UPU S10: 2 letters, 8 digits, a check digit, the country (VN); "
            "lower case and spaces are normalised",
            "example": ITEM_EXAMPLE,
        }
        kwargs["metadata"] = {**metadata, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        item = s10.normalise(super()._deserialize(value, attr, data, **kwargs))
        problem = s10.validate(item)
        if problem:
            raise ValidationError(problem)
        return item


def _text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class ApplicantIn(LoadSchema):
    name = _text(200, required=True, metadata={"example": "Nguyễn Văn An"})
    phone = PhoneField(required=True)
    id_number = fields.String(
        validate=FullMatch(_ID_NUMBER, error="must be 9 or 12 digits"),
        allow_none=True,
        metadata={"example": "075190001234"},
    )
    email = fields.Email(
        allow_none=True, validate=validate.Length(max=200), metadata={"example": "an@example.vn"}
    )


class DocumentIn(LoadSchema):
    name = _text(300, required=True, metadata={"example": "Tờ khai cấp phiếu lý lịch tư pháp"})
    kind = fields.String(
        required=True, validate=validate.OneOf(DOCUMENT_KINDS), metadata={"example": "original"}
    )
    count = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1, max=1000))


ADDRESS_EXAMPLE = "12 Đường 30/4, phường Trung Dũng, Biên Hòa, Đồng Nai"


class DossierCreateIn(LoadSchema):
    service_form = fields.String(
        required=True, validate=validate.OneOf(SERVICE_FORMS), metadata={"example": "two_way"}
    )
    procedure_code = _text(40, required=True, metadata={"example": PROCEDURE_EXAMPLE})
    office_code = _text(
        40,
        metadata={
            "description": "required for admins; clerks use their own",
            "example": OFFICE_EXAMPLE,
        },
    )
    applicant = fields.Nested(ApplicantIn, required=True)
    delivery_address = fields.String(
        validate=validate.Length(max=500), allow_none=True, metadata={"example": ADDRESS_EXAMPLE}
    )
    documents = fields.List(
        fields.Nested(DocumentIn), load_default=list, validate=validate.Length(max=100)
    )
    postal_item_number = ItemNumberField(allow_none=True, metadata={"example": FREE_ITEM_EXAMPLE})
    fee_vnd = fields.Integer(
        strict=True,
        load_default=0,
        validate=validate.Range(min=0, max=1_000_000_000),
        metadata={"example": 200000},
    )
    received_at = Timestamp(metadata={"example": RECEIVED_AT_EXAMPLE})
    appointment_date = Day(allow_none=True, metadata={"example": APPOINTMENT_EXAMPLE})
    agency_reference = fields.String(
        validate=validate.Length(max=80), allow_none=True, metadata={"example": "HS-2025-000123"}
    )
    note = fields.String(
        validate=validate.Length(max=2000), allow_none=True, metadata={"example": "Nộp thay"}
    )


class RegistrationCreateIn(LoadSchema):
    """A return registration: the result of a dossier filed at an agency's one-stop desk (or the
    PAC) is to be returned by post; keyed by the agency's own dossier code."""

    agency_code = _text(40, required=True, metadata={"example": AGENCY_EXAMPLE})
    agency_reference = _text(
        80,
        required=True,
        metadata={
            "description": "the agency's own code for the dossier (mã hồ sơ), unique per agency",
            "example": "HS-2025-000123",
        },
    )
    procedure_code = _text(40, required=True, metadata={"example": PROCEDURE_EXAMPLE})
    office_code = _text(
        40,
        metadata={
            "description": "the post office that fetches and returns the result; required for "
            "admins, clerks use their own",
            "example": OFFICE_EXAMPLE,
        },
    )
    applicant = fields.Nested(ApplicantIn, required=True)
    delivery_address = _text(500, required=True, metadata={"example": ADDRESS_EXAMPLE})
    fee_vnd = fields.Integer(
        strict=True,
        load_default=0,
        validate=validate.Range(min=0, max=1_000_000_000),
        metadata={"example": 30000},
    )
    appointment_date = Day(
        allow_none=True,
        metadata={
            "description": "the agency's appointment date, if known",
            "example": APPOINTMENT_EXAMPLE,
        },
    )
    note = fields.String(
        validate=validate.Length(max=2000),
        allow_none=True,
        metadata={"example": "Đăng ký tại TTHCC"},
    )


class ApplicantPatchIn(ApplicantIn):
    name = _text(200, metadata={"example": "Nguyễn Văn An"})
    phone = PhoneField()


class DossierPatchIn(LoadSchema):
    version = fields.Integer(
        strict=True, required=True, metadata={"description": "the version you read", "example": 1}
    )
    applicant = fields.Nested(ApplicantPatchIn)
    delivery_address = fields.String(
        validate=validate.Length(max=500), allow_none=True, metadata={"example": ADDRESS_EXAMPLE}
    )
    documents = fields.List(fields.Nested(DocumentIn), validate=validate.Length(max=100))
    postal_item_number = ItemNumberField(allow_none=True, metadata={"example": FREE_ITEM_EXAMPLE})
    fee_vnd = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=1_000_000_000), metadata={"example": 0}
    )
    appointment_date = Day(allow_none=True, metadata={"example": APPOINTMENT_EXAMPLE})
    agency_reference = fields.String(
        validate=validate.Length(max=80), allow_none=True, metadata={"example": "HS-2025-000123"}
    )
    note = fields.String(
        validate=validate.Length(max=2000),
        allow_none=True,
        metadata={"example": "Số điện thoại sửa theo CCCD"},
    )


def coded(codes: Iterable[str], description: str, example: str, **kwargs) -> fields.String:
    """One code of a coded list (the proof of delivery's: tracker.dossiers.delivery)."""
    return fields.String(
        validate=validate.OneOf(list(codes)),
        metadata={"description": description, "example": example},
        **kwargs,
    )


RELATION_DOC = (
    "applicant, authorised (an authorised person), family (a family member), organisation "
    "(the organisation's staff)"
)
FAILURE_REASON_DOC = "absent, wrong_address, refused, other (`other` needs a `note`)"


class ReceiverIn(LoadSchema):
    """Who received a delivered result: both required when the status is `delivered`."""

    name = _text(RECEIVER_NAME_LENGTH, metadata={"example": "Trần Thị Bình"})
    relation = coded(RECEIVER_RELATIONS, RELATION_DOC, "authorised")


class EventCreateIn(LoadSchema):
    status = fields.String(
        required=True, validate=validate.OneOf(list(STATUSES)), metadata={"example": "forwarded"}
    )
    occurred_at = Timestamp(
        metadata={
            "description": "when it happened; default now",
            "example": "2025-01-06T08:00:00+07:00",
        }
    )
    note = fields.String(
        validate=validate.Length(max=2000),
        allow_none=True,
        metadata={"example": "Đã chuyển Sở Tư pháp"},
    )
    source_event_id = fields.String(
        validate=validate.Length(min=1, max=120), metadata={"example": "counter-810000-000123"}
    )
    appointment_date = Day(metadata={"example": APPOINTMENT_EXAMPLE})
    expected_version = fields.Integer(strict=True, metadata={"example": 1})
    receiver = fields.Nested(
        ReceiverIn, metadata={"description": "required for `delivered`, refused otherwise"}
    )
    failure_reason = coded(
        FAILURE_REASONS,
        f"required for `delivery_failed`, refused otherwise: {FAILURE_REASON_DOC}",
        "absent",
    )


class DossierListArgs(LoadSchema):
    status = fields.String(
        validate=validate.OneOf(list(STATUSES)), metadata={"example": "received"}
    )
    service_form = fields.String(
        validate=validate.OneOf(SERVICE_FORMS), metadata={"example": "two_way"}
    )
    office = fields.String(validate=validate.Length(max=40), metadata={"example": OFFICE_EXAMPLE})
    channel = fields.String(validate=validate.Length(max=40), metadata={"example": CHANNEL_EXAMPLE})
    procedure = fields.String(
        validate=validate.Length(max=40), metadata={"example": PROCEDURE_EXAMPLE}
    )
    sector = fields.String(validate=validate.Length(max=40), metadata={"example": SECTOR_EXAMPLE})
    received_from = Day(
        metadata={"description": "first day (Vietnam time), inclusive", "example": "2025-01-01"}
    )
    received_to = Day(
        metadata={"description": "last day (Vietnam time), inclusive", "example": "2025-01-31"}
    )
    overdue = fields.Boolean()
    stuck = fields.Boolean(metadata={"description": "marked stuck by the hourly sweep"})
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "code, phone, item number or part of the name", "example": "An"},
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
# `allow_none` wherever the value may be null, so the OpenAPI document says `nullable`.


def _object(**properties: dict) -> dict:
    """OpenAPI doc of a computed object (Function and custom fields document no type)."""
    return {"type": "object", "properties": properties}


_STRING = {"type": "string"}
REF_DOC = _object(code=_STRING, name=_STRING)
LABEL_DOC = _object(code=_STRING, label_vi=_STRING, label_en=_STRING)
STATUS_DOC = _object(
    code={**_STRING, "example": "received"},
    label_vi={**_STRING, "example": "Bưu điện đã tiếp nhận"},
    label_en={**_STRING, "example": "Received by the post"},
    national_code={"type": "integer", "nullable": True, "example": 1},
)


class StatusField(fields.Field):
    def __init__(self, **kwargs):
        kwargs["metadata"] = {**STATUS_DOC, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else status_label(value)


class ServiceFormField(fields.Field):
    def __init__(self, **kwargs):
        kwargs["metadata"] = {**LABEL_DOC, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        label_vi, label_en = SERVICE_FORM_LABELS[value]
        return {"code": value, "label_vi": label_vi, "label_en": label_en}


class RefOut(ma.Schema):
    code = fields.String()
    name = fields.String()


class DocumentOut(ma.Schema):
    name = fields.String()
    kind = fields.String()
    count = fields.Integer()


class DossierSummaryOut(ma.Schema):
    code = fields.String(metadata={"example": DOSSIER_CODE_EXAMPLE})
    service_form = ServiceFormField()
    status = StatusField()
    procedure = fields.Nested(RefOut)
    office = fields.Nested(RefOut)
    applicant_name = fields.String()
    postal_item_number = fields.String(allow_none=True, metadata={"example": ITEM_EXAMPLE})
    received_at = fields.DateTime()
    appointment_date = fields.Date(allow_none=True)
    due_date = fields.Date(allow_none=True)
    overdue = fields.Function(lambda d: d.is_overdue(), metadata={"type": "boolean"})
    # Set by the hourly sweep: when it first found the dossier overdue / without an event for
    # STUCK_AFTER_DAYS working days; null when it is not (or not yet seen by the sweep).
    overdue_since = fields.DateTime(allow_none=True)
    stuck_since = fields.DateTime(allow_none=True)
    version = fields.Integer()


class DossierOut(DossierSummaryOut):
    channel = fields.Function(
        lambda d: {"code": d.channel.code, "name": d.channel.name_vi}, metadata=REF_DOC
    )
    agency = fields.Nested(RefOut)
    sector = fields.Function(
        lambda d: {"code": d.procedure.sector.code, "name": d.procedure.sector.name_vi},
        metadata=REF_DOC,
    )
    agency_reference = fields.String(allow_none=True)
    applicant = fields.Function(
        lambda d: {
            "name": d.applicant_name,
            "phone": d.applicant_phone,
            "id_number": d.applicant_id_number,
            "email": d.applicant_email,
        },
        metadata=_object(
            name=_STRING,
            phone=_STRING,
            id_number={**_STRING, "nullable": True},
            email={**_STRING, "nullable": True},
        ),
    )
    delivery_address = fields.String(allow_none=True)
    documents = fields.List(fields.Nested(DocumentOut))
    fee_vnd = fields.Integer()
    note = fields.String(allow_none=True)
    supplement_days = fields.Integer()
    status_changed_at = fields.DateTime()
    result_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    allowed_next = fields.Function(
        lambda d: allowed_next(d.service_form, d.status),
        metadata={"type": "array", "items": _STRING, "description": "statuses that may follow"},
    )


class DossierCreatedOut(DossierOut):
    lookup_secret = fields.String(metadata={"description": "shown once; print it on the receipt"})


class DossierPageOut(ma.Schema):
    items = fields.List(fields.Nested(DossierSummaryOut))
    next_cursor = fields.String(allow_none=True)


class EventOut(ma.Schema):
    id = fields.Integer()
    from_status = StatusField(allow_none=True)
    to_status = StatusField()
    applied = fields.Boolean()
    occurred_at = fields.DateTime()
    recorded_at = fields.DateTime()
    source = fields.String()
    source_event_id = fields.String(allow_none=True)
    raw_code = fields.String(allow_none=True)
    office = fields.Function(
        lambda e: e.office.code if e.office else None, metadata={**_STRING, "nullable": True}
    )
    actor_id = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)
    receiver = fields.Function(
        lambda e: (
            {"name": e.receiver_name, "relation": e.receiver_relation}
            if e.receiver_relation
            else None
        ),
        metadata={
            **_object(name={**_STRING, "nullable": True}, relation=_STRING),
            "nullable": True,
            "description": "who received a delivered result (the postal feed may give no name)",
        },
    )
    failure_reason = fields.String(allow_none=True)


class EventRecordedOut(EventOut):
    duplicate = fields.Boolean()
    dossier = fields.Nested(DossierOut)


class ReceiptOut(ma.Schema):
    code = fields.String(metadata={"example": DOSSIER_CODE_EXAMPLE})
    lookup_secret = fields.String()
