"""What happens to dossiers, told to whoever listens.

The dossier operations send these signals after the change is flushed; they do not know who
listens. The consumers (rollups, notifications, feeds) connect in `tracker.subscriptions`, where
the app is made. A receiver only notes what it needs in the session: what it writes is written by
its commit hooks, in the order `tracker.subscriptions` gives.

- `dossier_received(dossier, event=first_event)`: a dossier taken in one by one (counter,
  page, API), its ids set.
- `dossiers_received(rows)`: dossiers taken in by Core inserts (imports); `rows` are
  `ReceivedRow`s, no ORM objects.
- `status_changed(dossier, event=event)`: an applied event moved the dossier; its clock fields
  already reflect it. Late events, kept in the history without moving the status, send nothing.
- `item_number_set(item_number)`: a dossier now carries this postal item number.
- `batch_scanned(user, status=, dossiers=, batch_id=)`: a batch scan recorded `status` for
  `dossiers` (now, or when the same batch was sent before). A receiver may return the papers it
  made for the batch (hand-over records: objects with a `number`): the scan page links to each
  (`handover_pages.record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from blinker import Namespace

_signals = Namespace()

dossier_received = _signals.signal("dossier-received")
dossiers_received = _signals.signal("dossiers-received")
status_changed = _signals.signal("status-changed")
item_number_set = _signals.signal("item-number-set")
batch_scanned = _signals.signal("batch-scanned")


@dataclass(frozen=True, slots=True)
class ReceivedRow:
    """A dossier taken in by a bulk insert: what its consumers need of it."""

    day: date  # the local day the post took charge of it
    office_id: int
    channel_id: int
    procedure_id: int
    agency_id: int
    service_form: str
    item_number: str | None
    dossier_id: int
    status: str  # its first status
