"""Load and dump schemas of the sweeps' endpoints."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from tracker.dossiers.schemas import (
    DOSSIER_CODE_EXAMPLE,
    LABEL_DOC,
    OFFICE_EXAMPLE,
    StatusField,
)
from tracker.schemas import LoadSchema
from tracker.sweeps.checks import KINDS, kind_label


class AnomalyListArgs(LoadSchema):
    kind = fields.String(
        validate=validate.OneOf(list(KINDS)), metadata={"example": next(iter(KINDS))}
    )
    open = fields.Boolean(
        load_default=True, metadata={"description": "true: still open (default); false: resolved"}
    )
    office = fields.String(validate=validate.Length(max=40), metadata={"example": OFFICE_EXAMPLE})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=40))


class AnomalyOut(ma.Schema):
    dossier_code = fields.String(metadata={"example": DOSSIER_CODE_EXAMPLE})
    office = fields.String(attribute="office_code", metadata={"example": OFFICE_EXAMPLE})
    status = StatusField()
    kind = fields.Function(lambda row: kind_label(row.kind), metadata=LABEL_DOC)
    detail = fields.String(metadata={"description": "Vietnamese, with the facts found"})
    data = fields.Dict(
        allow_none=True, metadata={"description": "the same facts, machine-readable"}
    )
    found_at = fields.DateTime(metadata={"description": "first found, or found again"})
    resolved_at = fields.DateTime(allow_none=True)


class AnomalyPageOut(ma.Schema):
    items = fields.List(fields.Nested(AnomalyOut))
    next_cursor = fields.String(allow_none=True)
