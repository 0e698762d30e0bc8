"""The one payload of a status change sent to an agency's one-stop system, pushed (webhooks) or
pulled (`GET /api/v1/changes`), and the one table mapping our statuses to the national codes.

Envelope (Standard Webhooks' recommended shape)::

    {"type": "dossier.status_changed", "timestamp": <occurred_at, UTC ISO 8601>, "data": {...}}

`data` carries our fields: `event_id`, `code`, `agency` (its national code), `service_form`,
`status`, `previous_status`, `occurred_at`, `office` (the office that recorded the event, else
the receiving office), `channel`, `postal_item_number`, `appointment_date`,
`receiver_relation` (who took a delivered result: applicant, authorised, family, staff; the
receiver's *name* is personal data and never leaves) and `failure_reason` (a failed delivery's
coded reason); and the national one-stop fields:

- `MaHoSo`: the agency's own dossier code (`agency_reference`), null when it has none;
- `TrangThaiHoSo`: the national status code, by the table below;
- `NgayHenTra`: the appointment date, `YYYY-MM-DD`, null when none was given yet (a pushed
  message carries the date known when it was written; a pulled one, the dossier's date now);
- `NgayTra`: when the result reached the citizen (`delivered`, `collected_in_person`), ISO 8601
  in Vietnam time (+07:00); null on every other status;
- `KenhThucHien`: 3, the public postal service.

National status (`TrangThaiHoSo`) by our status:

| our status            | code | note                                                          |
|-----------------------|------|---------------------------------------------------------------|
| received              | 1    | newly registered                                              |
| forwarded             | 2    | handed to the agency                                          |
| processing            | 4    |                                                               |
| supplement_required   | 5    |                                                               |
| rejected              | 3/9  | 3 straight after hand-over (from `forwarded`: not accepted);  |
|                       |      | 9 after the agency took it up (from `processing` or           |
|                       |      | `supplement_required`): a finished dossier, refusal result    |
| result_ready          | 9    | processed                                                     |
| delivered             | 10   | result returned                                               |
| collected_in_person   | 10   | result returned (at the agency)                               |
| withdrawn             | 7    |                                                               |
| registered            | =    | carries the dossier's last national code (null: none yet)     |
| result_collected      | =/9  | carries the last code; 9 when there is none (an imported      |
|                       |      | one-way result: the post only collects a result that exists)  |
| out_for_delivery      | =    | carries the last code                                         |
| delivery_failed       | =    | carries the last code                                         |
| returned_to_agency    | =    | carries the last code (the result never reached the citizen)  |

"Carries" means: a status of the post's own (the courier on the way) does not move the
agency's dossier, so the payload repeats the code the one-stop system already has, rather than
omitting the field: a receiver can always set `TrangThaiHoSo` from the latest message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import Any

from sqlalchemy import select

from tracker.calendar import VN_TZ
from tracker.dossiers.lifecycle import STATUSES
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.extensions import db

EVENT_TYPE = "dossier.status_changed"
# KenhThucHien: the dossier goes through the public postal service.
POSTAL_CHANNEL = 3

# Our status -> its own national code: the lifecycle's table (DESIGN.md section 3), one place.
# A status without one carries the last code; `rejected` is 9 after processing (national_code).
NATIONAL_CODES: dict[str, int] = {
    code: status.national_code
    for code, status in STATUSES.items()
    if status.national_code is not None
}
# A refusal from one of these is a finished dossier whose result is a refusal, not "not accepted".
REFUSED_AFTER_PROCESSING = frozenset({"processing", "supplement_required"})
PROCESSED = 9
RETURNED_STATUSES = frozenset({"delivered", "collected_in_person"})


def national_code(to_status: str, from_status: str | None, carried: int | None) -> int | None:
    """`TrangThaiHoSo` of an event moving a dossier from `from_status` to `to_status`, the
    dossier's last national code being `carried` (the table in this module's docstring)."""
    if to_status == "rejected" and from_status in REFUSED_AFTER_PROCESSING:
        return PROCESSED
    own = NATIONAL_CODES.get(to_status)
    if own is not None:
        return own
    if to_status == "result_collected" and carried is None:
        return PROCESSED
    return carried


def carried_codes(events: Iterable[StatusEvent]) -> dict[int, int | None]:
    """The national code each of `events` carries in (the dossier's code before it), by event id.

    One query for all their dossiers' applied events up to the latest one asked for; events
    whose status has a code of its own need no history and are answered without it.
    """
    wanted = [e for e in events if e.to_status not in NATIONAL_CODES]
    if not wanted:
        return {}
    dossier_ids = {e.dossier_id for e in wanted}
    last_id = max(e.id for e in wanted)
    history = db.session.execute(
        select(StatusEvent.id, StatusEvent.dossier_id, StatusEvent.from_status,
               StatusEvent.to_status)
        .where(StatusEvent.dossier_id.in_(dossier_ids), StatusEvent.applied.is_(True),
               StatusEvent.id <= last_id)
        .order_by(StatusEvent.id)
    ).all()  # fmt: skip
    current: dict[int, int | None] = {}
    before: dict[int, int | None] = {}
    for row in history:
        carried = current.get(row.dossier_id)
        before[row.id] = carried
        current[row.dossier_id] = national_code(row.to_status, row.from_status, carried)
    return {e.id: before.get(e.id) for e in wanted}


def build_payload(dossier: Dossier, event: StatusEvent, carried: int | None) -> dict[str, Any]:
    """The message for `event` of `dossier` (the module docstring says every field)."""
    occurred = event.occurred_at.astimezone(UTC)
    office = event.office or dossier.office
    appointment = dossier.appointment_date
    returned = event.to_status in RETURNED_STATUSES
    data = {
        "event_id": event.id,
        "code": dossier.code,
        "agency": dossier.agency.code,
        "service_form": dossier.service_form,
        "status": event.to_status,
        "previous_status": event.from_status,
        "occurred_at": occurred.isoformat(),
        "office": office.code,
        "channel": dossier.channel.code,
        "postal_item_number": dossier.postal_item_number,
        "appointment_date": appointment.isoformat() if appointment else None,
        "receiver_relation": event.receiver_relation,
        "failure_reason": event.failure_reason,
        "MaHoSo": dossier.agency_reference,
        "TrangThaiHoSo": national_code(event.to_status, event.from_status, carried),
        "NgayHenTra": appointment.isoformat() if appointment else None,
        "NgayTra": occurred.astimezone(VN_TZ).isoformat() if returned else None,
        "KenhThucHien": POSTAL_CHANNEL,
    }
    return {"type": EVENT_TYPE, "timestamp": occurred.isoformat(), "data": data}
