"""A plausible status history for a generated dossier, walked through the real transition table.

Each dossier starts in its form's initial status and moves on with weighted random choices among
`lifecycle.allowed_next` (the happy path is likely, refusals and failed deliveries are rare) until
the next event would lie in the future or a terminal status is reached. The clock fields are
moved by `tracker.dossiers.clock`, as `record_event` moves them: the statutory appointment date is
set at the hand-over, supplement waits push the due date back, result and closing times are kept.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tracker.dossiers import lifecycle, s10
from tracker.dossiers.clock import Clock, advance

# Relative weight of each next status; 1.0 when not listed (the happy path).
_WEIGHTS = {
    "withdrawn": 0.01,
    "rejected": 0.04,
    "supplement_required": 0.08,
    "delivery_failed": 0.07,
    "returned_to_agency": 0.15,
    "delivered": 0.25,  # straight from result_collected: the citizen fetched it at the counter
}
# After a failed delivery or out for delivery, delivering is the normal outcome.
_DELIVERY_WEIGHTS = {"delivered": 1.0}
# Mean delay (hours) before reaching a status.
_MEAN_HOURS = {
    "forwarded": 12,
    "processing": 30,
    "supplement_required": 72,
    "rejected": 48,
    "result_collected": 24,
    "out_for_delivery": 10,
    "delivered": 8,
    "delivery_failed": 8,
    "returned_to_agency": 72,
    "collected_in_person": 60,
    "withdrawn": 48,
}
# Which side records a status: the agency's one-stop system, the postal feed, or the counter.
_AGENCY = frozenset({"processing", "supplement_required", "rejected", "result_ready"})
_POSTAL_FEED = frozenset({"out_for_delivery", "delivered", "delivery_failed", "returned_to_agency"})


@dataclass
class Event:
    from_status: str | None
    to_status: str
    occurred_at: datetime
    source: str


@dataclass
class History:
    status: str
    events: list[Event] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)

    @property
    def status_changed_at(self) -> datetime:
        return self.events[-1].occurred_at

    def columns(self) -> dict[str, Any]:
        """The dossier columns the walk moved: its status, when it changed, its clock."""
        moved = {"status": self.status, "status_changed_at": self.status_changed_at}
        return moved | self.clock.columns()


class ItemNumbers:
    """S10 item numbers (valid check digit) for the results that went out for delivery, from a
    running serial."""

    def __init__(self, first_serial: int) -> None:
        self.serial = first_serial

    def next_for(self, walk: History) -> str | None:
        if not any(e.to_status == "out_for_delivery" for e in walk.events):
            return None
        self.serial += 1
        serial = f"{self.serial:08d}"
        return f"EE{serial}{s10.check_digit(serial)}VN"


def simulate(
    rng: random.Random, service_form: str, received_at: datetime, working_days: int, now: datetime
) -> History:
    """The history of one dossier received at `received_at`, as it stands at `now`."""
    status = lifecycle.INITIAL_STATUS[service_form]
    history = History(status=status, events=[Event(None, status, received_at, _source(status))])
    moment = received_at
    while status not in lifecycle.TERMINAL:
        following = lifecycle.allowed_next(service_form, status)
        if not following:
            break
        overrides = _DELIVERY_WEIGHTS if status == "out_for_delivery" else {}
        weights = [overrides.get(s, _WEIGHTS.get(s, 1.0)) for s in following]
        nxt = rng.choices(following, weights)[0]
        moment = moment + timedelta(hours=_delay_hours(rng, nxt, working_days))
        if moment > now:
            break
        _apply_clock(history, nxt, moment, working_days)
        history.events.append(Event(status, nxt, moment, _source(nxt)))
        history.status = status = nxt
    return history


def _delay_hours(rng: random.Random, status: str, working_days: int) -> float:
    if status == "result_ready":
        # Agencies mostly finish near the statutory deadline (calendar days ~ 1.4 x working days).
        return working_days * 24 * 1.4 * rng.uniform(0.5, 1.2)
    return rng.expovariate(1 / _MEAN_HOURS.get(status, 24)) + 0.1


def _apply_clock(history: History, to_status: str, moment: datetime, working_days: int) -> None:
    # The simulated agencies give no date of their own: the statutory deadline holds.
    history.clock = advance(
        history.clock, history.status, to_status, moment, working_days=lambda: working_days
    )


def _source(status: str) -> str:
    if status in _AGENCY:
        return "agency"
    return "postal_feed" if status in _POSTAL_FEED else "counter"
