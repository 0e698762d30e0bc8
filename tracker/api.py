"""The flask-smorest Api, answering errors in the project's JSON shape."""

from __future__ import annotations

import json
from http import HTTPStatus

import flask_smorest
import marshmallow as ma
from flask_smorest import Api
from webargs.flaskparser import FlaskParser

from tracker.errors import handle_http_exception


class ErrorItemOut(ma.Schema):
    index = ma.fields.Integer(metadata={"description": "position of the event in `events`"})
    field = ma.fields.String()
    message = ma.fields.String()


class ErrorDetailOut(ma.Schema):
    code = ma.fields.String(
        required=True,
        metadata={"description": "stable error slug", "example": "validation_failed"},
    )
    message = ma.fields.String(
        required=True, metadata={"example": "Some fields are not valid: applicant.phone"}
    )
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        required=True,
        metadata={
            "description": "field path -> messages",
            "example": {"applicant.phone": ["must be a Vietnamese phone number"]},
        },
    )
    # What some errors add (DomainError.extra), so that a client need not parse the message.
    current_status = ma.fields.String(metadata={"description": "409 on a transition"})
    allowed = ma.fields.List(
        ma.fields.String(), metadata={"description": "409 on a transition: what may follow"}
    )
    current_version = ma.fields.Integer(metadata={"description": "409 on a stale version"})
    required_scopes = ma.fields.List(
        ma.fields.String(), metadata={"description": "403: the scopes the token lacks"}
    )
    errors = ma.fields.List(
        ma.fields.Nested(ErrorItemOut), metadata={"description": "422 on a feed batch"}
    )
    reason = ma.fields.String(metadata={"description": "429: which budget is spent"})
    batch_id = ma.fields.Integer(metadata={"description": "409 on a feed: the first batch"})


class ErrorOut(ma.Schema):
    error = ma.fields.Nested(ErrorDetailOut, required=True)


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


# Every operation may answer these: the database unavailable for a moment (503, Retry-After).
ALWAYS = (503,)
# Every operation that reads a body may answer these: not JSON (400), too large (413).
WITH_A_BODY = (400, 413)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def errors(self, *statuses: int):
        """Document error answers of an operation, each with the error body (ErrorOut):
        `@blp.errors(401, 403, 404)`. 422 comes with `@blp.arguments`; ALWAYS and, with a body,
        WITH_A_BODY are added to every operation."""

        def decorator(func):
            for status in statuses:
                func = self.alt_response(status, response=HTTPStatus(status).name)(func)
            return func

        return decorator

    @staticmethod
    def _prepare_response_doc(doc, doc_info, *, api, spec, **kwargs):
        # Runs after the arguments' callback: a parsed body has put `requestBody` in `doc`.
        responses = doc_info.setdefault("response", {}).setdefault("responses", {})
        manual = doc_info.get("manual_doc", {})
        statuses = ALWAYS + (WITH_A_BODY if "requestBody" in doc or "requestBody" in manual else ())
        for status in statuses:
            responses.setdefault(status, []).append(HTTPStatus(status).name)
        return flask_smorest.Blueprint._prepare_response_doc(
            doc, doc_info, api=api, spec=spec, **kwargs
        )


class TrackerApi(Api):
    ERROR_SCHEMA = ErrorOut
    # No catch-all `default` answer: each operation names the statuses it answers (see
    # Blueprint.errors), so a generated client, and the fuzz test's status check, can trust them.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error):
        return handle_http_exception(error)


api = TrackerApi(
    spec_kwargs={
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
)
