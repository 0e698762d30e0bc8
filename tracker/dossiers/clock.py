"""A dossier's clock: the appointment date, the supplement pause, the due date, and when the
result came and the dossier closed, as pure functions of the values it holds.

`record_event` moves it through `advance` (so the feeds' bulk writer writes what it computed),
`rows.new_dossier_row` starts it with `due_date`, and the benchmarks' generated histories walk it
the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

from tracker.calendar import add_working_days, local_date, working_days_between
from tracker.dossiers.lifecycle import TERMINAL

# The agency's answer, whether a result or a refusal: the moment it came is kept.
ANSWERS = frozenset({"result_ready", "rejected"})

# Counting working days walks the calendar day by day (tens of microseconds), and the same
# deadlines recur across dossiers: a bulk path or a generator counts each one once.
_add_working_days = lru_cache(maxsize=16_384)(add_working_days)
_working_days_between = lru_cache(maxsize=16_384)(working_days_between)


class Clock(NamedTuple):
    """The clock's columns of one dossier, as values."""

    appointment_date: date | None = None
    # Working days spent waiting for the citizen's supplement; they push the deadline back.
    supplement_days: int = 0
    supplement_since: datetime | None = None
    due_date: date | None = None
    result_at: datetime | None = None
    closed_at: datetime | None = None

    @classmethod
    def of(cls, holder: Any) -> Clock:
        """The clock of a dossier, or of anything with the clock's attributes."""
        return cls._make(_read_clock(holder))

    def columns(self) -> dict[str, Any]:
        return self._asdict()


# The dossier columns the clock holds.
CLOCK_COLUMNS = Clock._fields
_read_clock = attrgetter(*CLOCK_COLUMNS)


def due_date(appointment_date: date | None, supplement_days: int) -> date | None:
    """The appointment date pushed back by the working days paused for a supplement."""
    if appointment_date is None:
        return None
    return _add_working_days(appointment_date, supplement_days)


def advance(
    clock: Clock,
    from_status: str,
    to_status: str,
    occurred_at: datetime,
    *,
    appointment_date: date | None = None,
    working_days: Callable[[], int],
) -> Clock:
    """The clock after a transition from `from_status` to `to_status` at `occurred_at`.

    `appointment_date` is a date the agency gives with the event; `working_days` returns the
    procedure's statutory working days, asked only when the deadline has to be counted from
    the hand-over (a dossier's procedure may not be loaded: the feeds leave it so).
    """
    paused, since = clock.supplement_days, clock.supplement_since
    if from_status == "supplement_required" and since is not None:
        paused += _working_days_between(local_date(since), local_date(occurred_at))
        since = None
    if to_status == "supplement_required":
        since = occurred_at
    appointment = clock.appointment_date
    if appointment_date is not None:
        # A date the agency gives now is the date it commits to: earlier pauses are in it.
        appointment, paused = appointment_date, 0
    elif to_status == "forwarded" and appointment is None:
        # Statutory deadline counted from the hand-over until the agency gives its own date.
        appointment = _add_working_days(local_date(occurred_at), working_days())
    return Clock(
        appointment_date=appointment,
        supplement_days=paused,
        supplement_since=since,
        due_date=due_date(appointment, paused),
        result_at=occurred_at if to_status in ANSWERS else clock.result_at,
        closed_at=occurred_at if to_status in TERMINAL else clock.closed_at,
    )


def changes(before: Clock, after: Clock) -> dict[str, Any]:
    """The columns whose value `after` changes, with their new value."""
    return {
        name: new for name, old, new in zip(CLOCK_COLUMNS, before, after, strict=True) if old != new
    }
