"""Status out: what the subscription, delivery and changes endpoints load and answer."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from tracker.dossiers.lifecycle import STATUSES
from tracker.schemas import LoadSchema, Timestamp
from tracker.status_out.models import DELIVERY_STATES

URL_EXAMPLE = "https://motcua.example.gov.vn/hooks/post"
STATUS_LIST = fields.List(
    fields.String(validate=validate.OneOf(list(STATUSES))),
    validate=validate.Length(max=len(STATUSES)),
    metadata={"description": "status codes to send; empty: every status", "example": []},
)
ID_PARAMETER = {"in": "path", "name": "subscription_id", "description": "subscription id"}
DELIVERY_PARAMETER = {"in": "path", "name": "delivery_id", "description": "delivery id"}


# ---- loads ---------------------------------------------------------------------------------


class SubscriptionIn(LoadSchema):
    agency_code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"example": "000.00.01.H19"},
    )
    url = fields.String(
        required=True, validate=validate.Length(min=8, max=500), metadata={"example": URL_EXAMPLE}
    )
    statuses = STATUS_LIST
    active = fields.Boolean(load_default=True)


class SubscriptionPatchIn(LoadSchema):
    url = fields.String(validate=validate.Length(min=8, max=500), metadata={"example": URL_EXAMPLE})
    statuses = STATUS_LIST
    active = fields.Boolean()


class SubscriptionArgs(LoadSchema):
    agency = fields.String(validate=validate.Length(max=40), metadata={"example": "000.00.01.H19"})


class DeliveryArgs(LoadSchema):
    subscription_id = fields.Integer(validate=validate.Range(min=1))
    state = fields.String(validate=validate.OneOf(DELIVERY_STATES))
    since = Timestamp(metadata={"description": "written at or after"})
    until = Timestamp(metadata={"description": "written before"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=60))


class ReplayIn(LoadSchema):
    subscription_id = fields.Integer(
        validate=validate.Range(min=1), metadata={"description": "one subscription; all if absent"}
    )
    since = Timestamp(required=True, metadata={"description": "written at or after"})
    until = Timestamp(required=True, metadata={"description": "written before"})

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise ma.ValidationError("must be after since", "until")


class ChangesArgs(LoadSchema):
    cursor = fields.String(
        validate=validate.Length(max=60),
        metadata={"description": "next_cursor of the previous page; none: from the start"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


# ---- dumps ---------------------------------------------------------------------------------


class SubscriptionOut(ma.Schema):
    id = fields.Integer()
    agency_code = fields.Function(lambda s: s.agency.code, metadata={"type": "string"})
    url = fields.String()
    statuses = fields.List(fields.String())
    active = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    secret_rotated_at = fields.DateTime(allow_none=True)


class SubscriptionSecretOut(SubscriptionOut):
    secret = fields.String(
        attribute="shown_secret",
        metadata={"description": "whsec_...: shown this once; verify signatures with it"},
    )


class DeliveryOut(ma.Schema):
    id = fields.Integer()
    subscription_id = fields.Integer()
    event_id = fields.Integer()
    message_id = fields.String(metadata={"description": "the webhook-id, the same on every try"})
    dossier_code = fields.Function(lambda d: d.payload["data"]["code"], metadata={"type": "string"})
    status = fields.Function(lambda d: d.payload["data"]["status"], metadata={"type": "string"})
    state = fields.String(metadata={"description": "pending, delivered, failed or cancelled"})
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    queued_at = fields.DateTime()
    next_attempt_at = fields.DateTime()
    give_up_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    latency_ms = fields.Integer(
        allow_none=True, metadata={"description": "from the status change (or replay) to delivery"}
    )


class DeliveryPageOut(ma.Schema):
    items = fields.List(fields.Nested(DeliveryOut))
    next_cursor = fields.String(allow_none=True)


class ReplayedOut(ma.Schema):
    queued = fields.Integer()


class ChangesOut(ma.Schema):
    items = fields.List(
        fields.Dict(),
        metadata={"description": "the webhook payloads: {type, timestamp, data}, oldest first"},
    )
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "pass it back for what follows"}
    )
    has_more = fields.Boolean()
