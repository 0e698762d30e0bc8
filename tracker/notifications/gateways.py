"""Gateways that carry notifications to citizens, and the one the configuration names.

A gateway is any class `NOTIFICATION_GATEWAY = "module:Class"` names: built at the start of
each deliver run with the Flask config (`Class(config)`), then `send(notification) -> reference`
for each message. `send` raises `GatewayError` for a failure worth trying again (network,
gateway busy, quota) and `PermanentGatewayError` for a message the gateway will never take
(invalid number); any other exception counts as temporary. Gateways never touch the database:
the deliver task records the outcome. A message may be handed over twice after a worker crash
(at least once): `notification.id` is a stable idempotency key for a gateway that takes a
client reference.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from werkzeug.utils import import_string

from tracker.calendar import utcnow
from tracker.notifications.messages import sms_size


class GatewayError(Exception):
    """A temporary failure: the message is tried again later, with backoff."""


class PermanentGatewayError(Exception):
    """The gateway will never take this message: it is marked failed at once."""


@dataclass(frozen=True)
class OutgoingMessage:
    """What a gateway gets: a notification's fields, detached from the database."""

    id: int
    channel: str
    recipient: str
    subject: str | None
    body: str
    kind: str
    attempt: int


class Gateway(Protocol):
    def send(self, notification: OutgoingMessage) -> str: ...


class RecordingGateway:
    """The default: sends nothing, appends one JSON line per message to NOTIFICATION_LOG.

    The notifications table holds the full record (recipient, body, state, reference); the log
    masks the recipient, so that a file copied around for a demo or a bug report carries no
    phone number or address. Each line is written with a single append, so that lines of several
    worker processes never interleave.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.path = Path(config["NOTIFICATION_LOG"])
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, notification: OutgoingMessage) -> str:
        reference = f"log-{notification.id}"
        line = {
            "at": utcnow().isoformat(),
            "reference": reference,
            **asdict(notification),
            "recipient": mask_recipient(notification.channel, notification.recipient),
        }
        if notification.channel == "sms":
            size = sms_size(notification.body)
            line.update(encoding=size.encoding, segments=size.segments)
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise GatewayError(f"cannot open {self.path}: {exc}") from exc
        try:
            os.write(descriptor, data)
        except OSError as exc:
            raise GatewayError(f"cannot write {self.path}: {exc}") from exc
        finally:
            os.close(descriptor)
        return reference


def mask_recipient(channel: str, recipient: str) -> str:
    """ "0912345678" -> "091*****78"; "an.nguyen@example.vn" -> "a*********@example.vn"."""
    if channel == "email":
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}{'*' * (len(local) - 1)}@{domain}"
    # The last 4 digits are a lookup factor (with the item number): 2 are shown, no more.
    return recipient[:3] + "*" * max(len(recipient) - 5, 0) + recipient[-2:]


def load_gateway() -> Gateway:
    """A new instance of the configured gateway (each deliver run builds its own)."""
    # import_string reads "module:Class" and raises ImportStringError naming what is missing.
    return import_string(current_app.config["NOTIFICATION_GATEWAY"])(current_app.config)
