"""Time in Vietnam and working days.

Every day boundary (codes, deadlines, counts) is taken in Asia/Ho_Chi_Minh time. Working days skip
Saturdays, Sundays and the public holidays the `holidays` package knows for Vietnam (Tết and the
other lunar holidays move every year, so they are never hard-coded here).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_date(moment: datetime) -> date:
    """The calendar day in Vietnam of a tz-aware moment."""
    return moment.astimezone(VN_TZ).date()


def today_vn() -> date:
    return local_date(utcnow())


@lru_cache(maxsize=64)
def _holidays_of(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays_of(day.year)


def add_working_days(start: date, days: int) -> date:
    """The day that ends `days` working days after `start` (start itself is not counted)."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count
