"""The flask-smorest Api, answering errors in the project's JSON shape."""

from __future__ import annotations

import json

import flask_smorest
import marshmallow as ma
from flask_smorest import Api
from webargs.flaskparser import FlaskParser

from tracker.errors import handle_http_exception


class ErrorDetail(ma.Schema):
    code = ma.fields.String(metadata={"description": "stable error slug"})
    message = ma.fields.String()
    fields = ma.fields.Dict(metadata={"description": "field path -> messages"})


class ErrorOut(ma.Schema):
    error = ma.fields.Nested(ErrorDetail)


class StrictParser(FlaskParser):
    """Unknown query parameters are errors too: a misspelt filter must not list everything."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except RecursionError as exc:
            # json.loads gives up on very deep nesting with RecursionError, not a decode error:
            # answer it as the malformed body it is (400), not as a crash.
            raise json.JSONDecodeError("JSON nested too deeply", doc="(body)", pos=0) from exc


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()


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
