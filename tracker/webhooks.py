"""Standard Webhooks (standardwebhooks.com): the one way messages between the tracker and other
systems are signed, for the feeds it receives and the webhooks it sends.

A message carries three headers: `webhook-id` (unique per message, the same on a retry),
`webhook-timestamp` (seconds since 1970, UTC) and `webhook-signature` (`v1,<base64 HMAC-SHA256>`
of `<id>.<timestamp>.<body>`, several space-separated when a secret is being rotated). Secrets
are `whsec_<base64 of 24+ random bytes>`; `new_secret()` makes one.

The `standardwebhooks` package computes the signature. It is not asked to verify: its tolerance
is fixed at 5 minutes, its error does not say which header is wrong, and a malformed header or
a body that is not UTF-8 makes it crash rather than refuse. Here a refusal names its header.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook

from tracker.calendar import utcnow
from tracker.errors import DomainError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
# The length of the column that remembers it (feed_batches.message_id); printable ASCII only.
MAX_ID_LENGTH = 120
_ID = re.compile(rf"[!-~]{{1,{MAX_ID_LENGTH}}}")
_TIMESTAMP = re.compile(r"\d{1,11}")


class BadSignature(DomainError):
    """A signed message refused: `fields` names the header at fault."""

    status = 401
    code = "bad_signature"


def new_secret() -> str:
    """A fresh secret, `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    """The three headers that sign `body` as message `message_id`, sent at `at` (now)."""
    at = (at or utcnow()).astimezone(UTC)
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(int(at.timestamp())),
        SIGNATURE_HEADER: Webhook(secret).sign(message_id, at, body.decode()),
    }


def message_id(headers: Mapping[str, str]) -> str | None:
    """The message's `webhook-id` when it has one (checked: it will be stored)."""
    value = headers.get(ID_HEADER)
    if value is None:
        return None
    if not _ID.fullmatch(value):
        raise BadSignature.field(
            ID_HEADER, f"1 to {MAX_ID_LENGTH} printable ASCII characters, no spaces"
        )
    return value


def verify(secret: str, body: bytes, headers: Mapping[str, str], tolerance: int) -> str:
    """The id of a message whose headers sign `body` under `secret` within `tolerance` seconds
    of now (either way); `BadSignature` naming the header at fault otherwise."""
    msg_id = message_id(headers)
    if msg_id is None:
        raise BadSignature.field(ID_HEADER, "required: the message's unique id")
    at = _timestamp(headers.get(TIMESTAMP_HEADER), tolerance)
    given = headers.get(SIGNATURE_HEADER)
    if not given:
        raise BadSignature.field(SIGNATURE_HEADER, "required: v1,<base64 HMAC-SHA256>")
    if not _matches(Webhook(secret), msg_id, at, body, given):
        raise BadSignature.field(
            SIGNATURE_HEADER,
            f"does not match: v1,<base64 HMAC-SHA256 of {ID_HEADER}.{TIMESTAMP_HEADER}.body>",
        )
    return msg_id


def _matches(webhook: Webhook, msg_id: str, at: datetime, body: bytes, given: str) -> bool:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return False  # no sender could have signed it
    expected = base64.b64decode(webhook.sign(msg_id, at, text).partition(",")[2])
    # A sender rotating its secret signs with both: any one of them may match.
    return any(hmac.compare_digest(_signature_bytes(v) or b"", expected) for v in given.split())


def _timestamp(value: str | None, tolerance: int) -> datetime:
    if not value:
        raise BadSignature.field(TIMESTAMP_HEADER, "required: seconds since 1970-01-01 UTC")
    if not _TIMESTAMP.fullmatch(value):
        raise BadSignature.field(TIMESTAMP_HEADER, "must be whole seconds since 1970-01-01 UTC")
    drift = int(value) - utcnow().timestamp()
    # Too old is a replay (or a sender's stale queue); too new, a clock far off or a message
    # signed ahead of time to be replayed later.
    if drift < -tolerance:
        raise BadSignature.field(TIMESTAMP_HEADER, f"more than {tolerance} seconds old")
    if drift > tolerance:
        raise BadSignature.field(TIMESTAMP_HEADER, f"more than {tolerance} seconds ahead")
    return datetime.fromtimestamp(int(value), tz=UTC)


def _signature_bytes(versioned: str) -> bytes | None:
    """The raw bytes of a `v1,<base64>` signature; None for another version or bad base64."""
    version, _, encoded = versioned.partition(",")
    if version != "v1":
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
