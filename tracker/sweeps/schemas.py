"""Load and dump schemas of the sweeps' endpoints."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from tracker.dossiers.schemas import StatusField
from tracker.schemas import LoadSchema
from tracker.sweeps.checks import KINDS, kind_label


class AnomalyListArgs(LoadSchema):
    kind = fields.String(validate=validate.OneOf(list(KINDS)))
    open = fields.Boolean(
        load_default=True, metadata={"description": "true: still open (default); false: resolved"}
    )
    office = fields.String(validate=validate.Length(max=40))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=40))


class AnomalyOut(ma.Schema):
    dossier_code = fields.String()
    office = fields.String(attribute="office_code")
    status = StatusField()
    kind = fields.Function(lambda row: kind_label(row.kind))
    detail = fields.String(metadata={"description": "Vietnamese, with the facts found"})
    data = fields.Dict(metadata={"description": "the same facts, machine-readable"})
    found_at = fields.DateTime(metadata={"description": "first found, or found again"})
    resolved_at = fields.DateTime(allow_none=True)


class AnomalyPageOut(ma.Schema):
    items = fields.List(fields.Nested(AnomalyOut))
    next_cursor = fields.String(allow_none=True)
