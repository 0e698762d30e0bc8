"""Time in Vietnam and working days.

Every day boundary (codes, deadlines, counts) is taken in Asia/Ho_Chi_Minh time. Working days skip
Saturdays, Sundays and the public holidays the `holidays` package knows for Vietnam (Tết and the
other lunar holidays move every year, so they are never hard-coded here), except the Saturdays
officially worked in exchange for a day off, which the package also knows.
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
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the day in Vietnam is ambiguous")
    return moment.astimezone(VN_TZ).date()


def today_vn() -> date:
    return local_date(utcnow())


@lru_cache(maxsize=64)
def _calendar_of(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """The year's public holidays, and its Saturdays worked to make up for a bridging day off
    (e.g. Saturday 26/4/2025 for Friday 2/5/2025): taking the day off without the make-up day
    would push deadlines a day too far."""
    vn = holidays.country_holidays("VN", years=year)
    return frozenset(vn), frozenset(day for day in vn.weekend_workdays if day.year == year)


def is_working_day(day: date) -> bool:
    days_off, make_up_days = _calendar_of(day.year)
    if day.weekday() >= 5:
        return day in make_up_days
    return day not in days_off


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
