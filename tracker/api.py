"""The flask-smorest Api, answering errors in the project's JSON shape."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Api

from tracker.errors import handle_http_exception


class ErrorDetail(ma.Schema):
    code = ma.fields.String(metadata={"description": "stable error slug"})
    message = ma.fields.String()
    fields = ma.fields.Dict(metadata={"description": "field path -> messages"})


class ErrorOut(ma.Schema):
    error = ma.fields.Nested(ErrorDetail)


class TrackerApi(Api):
    ERROR_SCHEMA = ErrorOut

    def handle_http_exception(self, error):
        return handle_http_exception(error)


api = TrackerApi(
    spec_kwargs={
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
)
