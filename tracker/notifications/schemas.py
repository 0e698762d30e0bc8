"""What staff see of a notification: everything, recipient unmasked (the view is audited)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from tracker.dossiers.schemas import StatusField


class NotificationOut(ma.Schema):
    id = fields.Integer()
    event_id = fields.Integer()
    channel = fields.String(metadata={"description": "sms or email"})
    recipient = fields.String()
    kind = StatusField(metadata={"description": "the status the message announces"})
    subject = fields.String(allow_none=True, metadata={"description": "e-mail only"})
    body = fields.String()
    state = fields.String(metadata={"description": "queued, sent or failed"})
    attempts = fields.Integer()
    next_attempt_at = fields.Function(
        lambda n: n.next_attempt_at.isoformat() if n.state == "queued" else None,
        metadata={
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "description": "when the next attempt is due (queued only)",
        },
    )
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    gateway_reference = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
