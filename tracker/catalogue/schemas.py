"""Catalogue schemas."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from tracker.catalogue.models import SERVICE_FORMS
from tracker.schemas import LoadSchema

# The test catalogue's codes (tests/conftest.py), as examples of the OpenAPI document.
AGENCY_EXAMPLE = "000.00.01.H19"  # Sở Tư pháp tỉnh Đồng Nai
CHANNEL_EXAMPLE = "post_l1"
OFFICE_EXAMPLE = "810000"  # Bưu cục Biên Hòa
PROCEDURE_EXAMPLE = "1.001234"  # Cấp phiếu lý lịch tư pháp, two-way
SECTOR_EXAMPLE = "TP"


# Null `active_from` / `active_to`: open since always / until further notice.


class ChannelOut(ma.Schema):
    code = fields.String(metadata={"example": CHANNEL_EXAMPLE})
    name_vi = fields.String()
    name_en = fields.String()
    national_code = fields.Integer(allow_none=True)
    active_from = fields.Date(allow_none=True)
    active_to = fields.Date(allow_none=True)


class OfficeOut(ma.Schema):
    code = fields.String(metadata={"example": OFFICE_EXAMPLE})
    name = fields.String()
    channel = fields.Function(
        lambda o: o.channel.code, metadata={"type": "string", "example": CHANNEL_EXAMPLE}
    )
    commune = fields.String(allow_none=True)
    district = fields.String(allow_none=True)
    province = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    active_from = fields.Date(allow_none=True)
    active_to = fields.Date(allow_none=True)


class AgencyOut(ma.Schema):
    code = fields.String(metadata={"example": AGENCY_EXAMPLE})
    name = fields.String()
    active_from = fields.Date(allow_none=True)
    active_to = fields.Date(allow_none=True)


class SectorOut(ma.Schema):
    code = fields.String(metadata={"example": SECTOR_EXAMPLE})
    name_vi = fields.String()
    name_en = fields.String()


class ProcedureDocumentOut(ma.Schema):
    """One document of a procedure's checklist (what the intake form starts with)."""

    name = fields.String()
    kind = fields.String(metadata={"description": "original, certified_copy or copy"})
    count = fields.Integer()


class ProcedureOut(ma.Schema):
    code = fields.String(metadata={"example": PROCEDURE_EXAMPLE})
    name = fields.String()
    sector = fields.Function(
        lambda p: p.sector.code, metadata={"type": "string", "example": SECTOR_EXAMPLE}
    )
    agency = fields.Function(
        lambda p: p.agency.code, metadata={"type": "string", "example": AGENCY_EXAMPLE}
    )
    working_days = fields.Integer()
    service_forms = fields.List(fields.String())
    fee_vnd = fields.Integer(allow_none=True)
    documents = fields.List(
        fields.Nested(ProcedureDocumentOut),
        metadata={"description": "required documents, in order"},
    )
    active_from = fields.Date(allow_none=True)
    active_to = fields.Date(allow_none=True)


class ProcedureArgs(LoadSchema):
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "part of the code or name (accents ignored)",
            "example": "ly lich",
        },
    )
    sector = fields.String(validate=validate.Length(max=40), metadata={"example": SECTOR_EXAMPLE})
    agency = fields.String(validate=validate.Length(max=40), metadata={"example": AGENCY_EXAMPLE})
    service_form = fields.String(
        validate=validate.OneOf(SERVICE_FORMS), metadata={"example": "two_way"}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))


class OfficeArgs(LoadSchema):
    channel = fields.String(validate=validate.Length(max=40), metadata={"example": CHANNEL_EXAMPLE})
    active = fields.Boolean(metadata={"description": "only offices active today"})
