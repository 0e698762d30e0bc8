"""Gateways for tests, chosen through NOTIFICATION_GATEWAY (in a worker's environment or the
test app's config). Each is built with the Flask config, like a real one."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tracker.notifications.gateways import (
    GatewayError,
    OutgoingMessage,
    PermanentGatewayError,
    RecordingGateway,
)

SLOW_SECONDS = 5.0


class AlwaysFailing:
    """An SMS centre that cannot be reached."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        del config

    def send(self, notification: OutgoingMessage) -> str:
        raise GatewayError(f"gateway unreachable (message {notification.id})")


class Refusing:
    """A gateway that refuses every recipient for good."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        del config

    def send(self, notification: OutgoingMessage) -> str:
        raise PermanentGatewayError(f"invalid recipient {notification.recipient}")


class Slow(RecordingGateway):
    """Records like the default, after SLOW_SECONDS; `<NOTIFICATION_LOG>.sending` tells the test
    that a message is in the gateway's hands."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.marker = Path(f"{self.path}.sending")

    def send(self, notification: OutgoingMessage) -> str:
        self.marker.touch()
        time.sleep(SLOW_SECONDS)
        return super().send(notification)


class Exploding:
    """Fails as soon as anything builds it: a request that did would answer 500."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        raise RuntimeError("a request must never build the notification gateway")
