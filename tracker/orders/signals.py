"""What collection orders announce, told to whoever listens (as `tracker.dossiers.signals`).

- `order_created(dossier, event=..., secret=...)`: an agency's order made a new one-way dossier,
  flushed, now `result_ready` (`event`, its result-ready event); `secret` is its lookup secret, in
  memory only. Notifications send the citizen its code, secret and lookup link by SMS in place of
  the usual notices of its first events (nobody printed a receipt for it).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

order_created = _signals.signal("order-created")
