"""What the import endpoints accept and answer."""

from __future__ import annotations

import marshmallow as ma
from flask import url_for
from flask_smorest.fields import Upload
from marshmallow import fields

from tracker.schemas import LoadSchema


class UploadIn(LoadSchema):
    file = Upload(
        required=True,
        metadata={"description": "CSV (UTF-8, with or without BOM) or XLSX; columns in README"},
    )


class ImportJobOut(ma.Schema):
    id = fields.Integer()
    state = fields.String(metadata={"description": "queued, running, done or failed"})
    filename = fields.String()
    format = fields.String(attribute="file_format")
    size_bytes = fields.Integer()
    sha256 = fields.String()
    agency = fields.Function(
        lambda job: job.agency.code if job.agency else None,
        metadata={"type": "string", "nullable": True, "example": "000.00.01.H19"},
    )
    office = fields.Function(
        lambda job: job.office.code if job.office else None,
        metadata={"type": "string", "nullable": True, "example": "810000"},
    )
    total_rows = fields.Integer(
        allow_none=True,
        metadata={"description": "lines after the header, estimated on upload; exact when done"},
    )
    rows_done = fields.Integer()
    created = fields.Integer(attribute="created_count")
    existing = fields.Integer(
        attribute="existing_count",
        metadata={"description": "rows whose agency reference or item number was imported"},
    )
    errors = fields.Integer(attribute="error_count", metadata={"description": "rows refused"})
    message = fields.String(
        allow_none=True, metadata={"description": "why it failed, or ignored columns"}
    )
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    heartbeat_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    errors_url = fields.Function(
        lambda job: url_for("imports.import_errors", job_id=job.id, _external=False),
        metadata={"type": "string"},
    )
