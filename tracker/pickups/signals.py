"""What happens to pickup requests, told to whoever listens (as `tracker.dossiers.signals`).

- `pickup_scheduled(pickup, kind=...)`: the citizen is expecting a postman at `pickup.day` and
  `pickup.slot`, flushed: `kind` is "requested" (a new request) or "rescheduled" (a new day or
  slot). Notifications confirm the slot by SMS (`tracker.subscriptions`).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

pickup_scheduled = _signals.signal("pickup-scheduled")
