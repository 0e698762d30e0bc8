"""What happens to pickup requests, told to whoever listens (as `tracker.dossiers.signals`).

- `pickup_scheduled(pickup, kind=...)`: the citizen is expecting a postman at `pickup.day` and
  `pickup.slot`, flushed: `kind` is "requested" (a new request) or "rescheduled" (a new day or
  slot). Notifications confirm the slot by SMS (`tracker.subscriptions`).
- `pickup_collected(pickup, dossier=..., secret=...)`: the postman collected the dossier at the
  door and it was made (flushed, its first event too); `secret` is its lookup secret, in memory
  only. Notifications send the citizen the dossier's code, secret and lookup link by SMS in place
  of the usual "received" SMS (the citizen has no printed receipt yet).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

pickup_scheduled = _signals.signal("pickup-scheduled")
pickup_collected = _signals.signal("pickup-collected")
