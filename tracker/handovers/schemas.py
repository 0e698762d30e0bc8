"""Load and dump schemas of hand-over records (`/api/v1/handovers`)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import ValidationError, fields, validate, validates

from tracker.catalogue.schemas import AGENCY_EXAMPLE, OFFICE_EXAMPLE
from tracker.dossiers.lifecycle import status_label
from tracker.dossiers.schemas import (
    APPOINTMENT_EXAMPLE,
    DOSSIER_CODE_EXAMPLE,
    STATUS_DOC,
    DocumentOut,
    RefOut,
)
from tracker.handovers.models import KINDS, NUMBER_LENGTH
from tracker.schemas import Day, FullMatch, LoadSchema

MAX_CODES = 500
NUMBER_EXAMPLE = f"BB-{OFFICE_EXAMPLE}-2025-00001"
NUMBER_PARAMETER = {
    "in": "path",
    "name": "number",
    "description": "record number, `BB-<office code>-<YYYY>-<NNNNN>`",
    "example": NUMBER_EXAMPLE,
}


class HandoverCreateIn(LoadSchema):
    agency_code = fields.String(
        required=True, validate=validate.Length(min=1, max=40), metadata={"example": AGENCY_EXAMPLE}
    )
    dossier_codes = fields.List(
        fields.String(validate=validate.Length(min=1, max=40)),
        required=True,
        validate=validate.Length(min=1, max=MAX_CODES),
        metadata={
            "description": "dossier codes or postal item numbers, forwarded one by one",
            "example": [DOSSIER_CODE_EXAMPLE],
        },
    )
    batch_key = fields.String(
        validate=FullMatch("^[A-Za-z0-9_-]{8,64}$"),
        metadata={
            "description": "the client's key of this batch: sent again, the same records answer; "
            "sent again with more codes, those get a record of their own",
            "example": "2025-01-06-morning-run",
        },
    )


class HandoverListArgs(LoadSchema):
    q = fields.String(
        validate=validate.Length(min=1, max=NUMBER_LENGTH),
        metadata={"description": "part of a record number, or a dossier code on it"},
    )
    agency = fields.String(validate=validate.Length(max=40), metadata={"example": AGENCY_EXAMPLE})
    day = Day(metadata={"description": "day made (Vietnam time)", "example": "2025-01-06"})
    kind = fields.String(validate=validate.OneOf(KINDS), metadata={"example": "forward"})
    unconfirmed = fields.Boolean(metadata={"description": "forward records not yet confirmed"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=40))


class DatesByCode(fields.Dict):
    """Dates by dossier code. A bad entry is named by its code, `appointment_dates.<code>`, the
    field the page's form and the API's 422 both show (marshmallow would add `.key`/`.value`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as exc:
            if not isinstance(exc.messages, dict):
                raise
            raise ValidationError(
                {
                    code: [m for part in errors.values() for m in part]
                    if isinstance(errors, dict)
                    else errors
                    for code, errors in exc.messages.items()
                }
            ) from exc


class ConfirmationIn(LoadSchema):
    appointment_dates = DatesByCode(
        keys=fields.String(validate=validate.Length(min=1, max=40)),
        values=Day(),
        load_default=dict,
        metadata={
            "description": "appointment date by dossier code; a dossier left out gets the "
            "procedure's statutory working days counted from the hand-over",
            "example": {DOSSIER_CODE_EXAMPLE: APPOINTMENT_EXAMPLE},
        },
    )

    @validates("appointment_dates")
    def _not_too_many(self, value, **kwargs):
        if len(value) > MAX_CODES:
            raise ValidationError(f"at most {MAX_CODES} dossiers")


class HandoverLineOut(ma.Schema):
    dossier_code = fields.Function(
        lambda line: line.dossier.code,
        metadata={"type": "string", "example": DOSSIER_CODE_EXAMPLE},
    )
    procedure = fields.Function(
        lambda line: {"code": line.dossier.procedure.code, "name": line.dossier.procedure.name},
        metadata={
            "type": "object",
            "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
        },
    )
    status = fields.Function(lambda line: status_label(line.dossier.status), metadata=STATUS_DOC)
    documents = fields.List(fields.Nested(DocumentOut))
    fee_vnd = fields.Integer()
    accepted_at = fields.DateTime(allow_none=True)
    appointment_date = fields.Date(allow_none=True)


class HandoverOut(ma.Schema):
    number = fields.String(metadata={"example": NUMBER_EXAMPLE})
    kind = fields.String(
        metadata={"description": "forward: post to agency; result: agency to post"}
    )
    office = fields.Nested(RefOut)
    agency = fields.Nested(RefOut)
    created_at = fields.DateTime()
    created_by = fields.Function(
        lambda r: r.created_by.username if r.created_by else None,
        metadata={"type": "string", "nullable": True},
    )
    confirmed_at = fields.DateTime(allow_none=True)
    confirmed_by = fields.Function(
        lambda r: r.confirmed_by.username if r.confirmed_by else None,
        metadata={"type": "string", "nullable": True},
    )
    lines = fields.List(fields.Nested(HandoverLineOut))
    total_dossiers = fields.Function(lambda r: len(r.lines), metadata={"type": "integer"})
    total_fee_vnd = fields.Integer()
    total_documents = fields.Function(
        lambda r: r.document_totals(),
        metadata={
            "type": "object",
            "properties": {
                "original": {"type": "integer"},
                "certified_copy": {"type": "integer"},
                "copy": {"type": "integer"},
            },
        },
    )


class HandoverSummaryOut(ma.Schema):
    number = fields.String(metadata={"example": NUMBER_EXAMPLE})
    kind = fields.String()
    office = fields.Nested(RefOut)
    agency = fields.Nested(RefOut)
    created_at = fields.DateTime()
    confirmed_at = fields.DateTime(allow_none=True)
    total_dossiers = fields.Function(lambda r: len(r.lines), metadata={"type": "integer"})
    total_fee_vnd = fields.Integer()


class HandoverPageOut(ma.Schema):
    items = fields.List(fields.Nested(HandoverSummaryOut))
    next_cursor = fields.String(allow_none=True)


class RefusedCodeOut(ma.Schema):
    index = fields.Integer()
    code = fields.String()
    field = fields.String(metadata={"example": "dossier_codes.0"})
    message = fields.String()


class HandoverCreatedOut(ma.Schema):
    record = fields.Nested(
        HandoverOut,
        allow_none=True,
        metadata={
            "description": "the batch's first record (the only one unless `records` says otherwise)"
        },
    )
    records = fields.List(
        fields.Nested(HandoverOut),
        metadata={
            "description": "every record of the batch, oldest first: a `batch_key` sent again "
            "with more codes adds a record of the new ones (a signed record never changes)"
        },
    )
    refused = fields.List(fields.Nested(RefusedCodeOut))


class ConfirmedOut(HandoverOut):
    repeated = fields.Boolean(
        metadata={"description": "true: the record was confirmed before; this is that answer"}
    )
