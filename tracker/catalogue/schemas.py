"""Catalogue schemas."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from tracker.catalogue.models import SERVICE_FORMS
from tracker.schemas import LoadSchema


class ChannelOut(ma.Schema):
    code = fields.String()
    name_vi = fields.String()
    name_en = fields.String()
    national_code = fields.Integer()
    active_from = fields.Date()
    active_to = fields.Date()


class OfficeOut(ma.Schema):
    code = fields.String()
    name = fields.String()
    channel = fields.Function(lambda o: o.channel.code)
    commune = fields.String()
    district = fields.String()
    province = fields.String()
    address = fields.String()
    active_from = fields.Date()
    active_to = fields.Date()


class AgencyOut(ma.Schema):
    code = fields.String()
    name = fields.String()
    active_from = fields.Date()
    active_to = fields.Date()


class SectorOut(ma.Schema):
    code = fields.String()
    name_vi = fields.String()
    name_en = fields.String()


class ProcedureDocumentOut(ma.Schema):
    """One document of a procedure's checklist (what the intake form starts with)."""

    name = fields.String()
    kind = fields.String(metadata={"description": "original, certified_copy or copy"})
    count = fields.Integer()


class ProcedureOut(ma.Schema):
    code = fields.String()
    name = fields.String()
    sector = fields.Function(lambda p: p.sector.code)
    agency = fields.Function(lambda p: p.agency.code)
    working_days = fields.Integer()
    service_forms = fields.List(fields.String())
    fee_vnd = fields.Integer()
    documents = fields.List(
        fields.Nested(ProcedureDocumentOut),
        metadata={"description": "required documents, in order"},
    )
    active_from = fields.Date()
    active_to = fields.Date()


class ProcedureArgs(LoadSchema):
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "part of the code or name (accents ignored)"},
    )
    sector = fields.String(validate=validate.Length(max=40))
    agency = fields.String(validate=validate.Length(max=40))
    service_form = fields.String(validate=validate.OneOf(SERVICE_FORMS))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))


class OfficeArgs(LoadSchema):
    channel = fields.String(validate=validate.Length(max=40))
    active = fields.Boolean(metadata={"description": "only offices active today"})
