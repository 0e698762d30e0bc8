"""Vietnam time and working days (pure functions: explicit dates, never today's)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tracker.calendar import (
    VN_TZ,
    add_working_days,
    is_working_day,
    local_date,
    working_days_between,
)

# ---- local_date -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        # 16:30 UTC is 23:30 in Vietnam (UTC+7): still New Year's Eve.
        (datetime(2025, 12, 31, 16, 30, tzinfo=UTC), date(2025, 12, 31)),
        (datetime(2025, 12, 31, 16, 59, 59, tzinfo=UTC), date(2025, 12, 31)),
        # 17:00 UTC is midnight in Vietnam: the new year has begun there.
        (datetime(2025, 12, 31, 17, 0, tzinfo=UTC), date(2026, 1, 1)),
        (datetime(2025, 12, 31, 17, 30, tzinfo=UTC), date(2026, 1, 1)),
        # Early morning in Vietnam is still the previous day in UTC.
        (datetime(2026, 2, 16, 23, 30, tzinfo=UTC), date(2026, 2, 17)),
        (datetime(2026, 2, 16, 0, 0, tzinfo=UTC), date(2026, 2, 16)),
        # Any aware moment works, whatever its zone.
        (datetime(2026, 1, 1, 0, 30, tzinfo=VN_TZ), date(2026, 1, 1)),
        (datetime(2025, 12, 31, 12, 0, tzinfo=timezone(timedelta(hours=-5))), date(2026, 1, 1)),
    ],
)
def test_local_date(moment, day):
    assert local_date(moment) == day


def test_vietnam_has_no_daylight_saving():
    for month in range(1, 13):
        moment = datetime(2026, month, 15, 12, tzinfo=UTC)
        assert moment.astimezone(VN_TZ).utcoffset() == timedelta(hours=7)


# ---- is_working_day ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 2, 13), True),  # Friday before Tết
        (date(2026, 2, 14), False),  # Saturday
        (date(2026, 2, 15), False),  # Sunday
        (date(2026, 2, 16), False),  # Tết 2026: Lunar New Year's Eve (Monday)
        (date(2026, 2, 17), False),  # Tết: first day of the lunar year
        (date(2026, 2, 18), False),
        (date(2026, 2, 19), False),
        (date(2026, 2, 20), False),  # Tết: fourth day (Friday)
        (date(2026, 2, 23), True),  # back to work
        (date(2025, 1, 29), False),  # Tết 2025 (a Wednesday): the holiday moves every year
        (date(2026, 1, 29), True),  # ... so the same day a year later is a working day
        (date(2026, 1, 1), False),  # New Year's Day (Thursday)
        (date(2026, 4, 30), False),  # Reunification Day (Thursday)
        (date(2026, 5, 1), False),  # Labour Day (Friday)
        (date(2026, 9, 2), False),  # National Day (Wednesday)
        (date(2026, 9, 1), False),  # the day joined to National Day
        (date(2026, 9, 3), True),
        (date(2025, 5, 2), False),  # Friday 2/5/2025 given off in exchange for Saturday 26/4
        # Saturdays officially worked to make up for a bridging day off (the `holidays` package
        # knows them as weekend workdays): 26/4/2025 for 2/5/2025, 22/8/2026 for 31/8/2026.
        (date(2025, 4, 26), True),
        (date(2026, 8, 22), True),
        (date(2026, 8, 31), False),
        (date(2025, 4, 19), False),  # an ordinary Saturday of that month
    ],
)
def test_is_working_day(day, working):
    assert is_working_day(day) is working


# ---- add_working_days -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "end"),
    [
        (date(2025, 6, 2), 0, date(2025, 6, 2)),  # Monday, nothing to add
        (date(2025, 6, 2), 1, date(2025, 6, 3)),
        (date(2025, 6, 2), 4, date(2025, 6, 6)),  # Mon + 4 = Fri
        (date(2025, 6, 6), 1, date(2025, 6, 9)),  # Fri + 1 = Mon, the weekend skipped
        (date(2025, 6, 7), 1, date(2025, 6, 9)),  # from a Saturday: Monday
        (date(2025, 6, 8), 1, date(2025, 6, 9)),  # from a Sunday: Monday
        (date(2025, 6, 2), 10, date(2025, 6, 16)),  # two full weeks
        # Tết 2026, Mon 16 - Fri 20 February.
        (date(2026, 2, 13), 1, date(2026, 2, 23)),  # Fri before Tết + 1 = Mon after Tết
        (date(2026, 2, 12), 3, date(2026, 2, 24)),  # Thu: Fri 13, Mon 23, Tue 24
        (date(2026, 2, 9), 10, date(2026, 3, 2)),  # 10, 11, 12, 13, 23, 24, 25, 26, 27, 2/3
        (date(2026, 2, 17), 1, date(2026, 2, 23)),  # from inside Tết
        # Tết 2025, Mon 27 January - Sat 1 February.
        (date(2025, 1, 24), 1, date(2025, 2, 3)),
        # 30/4 and 1/5 2026 are Thursday and Friday; Hung Kings (observed) Monday 27/4.
        (date(2026, 4, 29), 1, date(2026, 5, 4)),
        (date(2026, 4, 24), 1, date(2026, 4, 28)),
        (date(2026, 4, 24), 3, date(2026, 5, 4)),  # Tue 28, Wed 29, Mon 4/5
        # National Day 2026: Mon 31/8 (day off), Tue 1/9, Wed 2/9.
        (date(2026, 8, 28), 1, date(2026, 9, 3)),
        # Across the year end: 1/1/2026 is a holiday.
        (date(2025, 12, 31), 1, date(2026, 1, 2)),
        (date(2025, 12, 30), 2, date(2026, 1, 2)),
        # 30/4, 1/5, 2/5 2025 are Wed-Fri off; Saturday 26/4 is worked to make up for 2/5.
        (date(2025, 4, 25), 1, date(2025, 4, 26)),
        (date(2025, 4, 29), 1, date(2025, 5, 5)),
    ],
)
def test_add_working_days(start, days, end):
    assert add_working_days(start, days) == end


def test_add_zero_working_days_from_a_holiday_is_the_holiday():
    assert add_working_days(date(2026, 2, 17), 0) == date(2026, 2, 17)


def test_add_negative_working_days_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        add_working_days(date(2026, 2, 12), -1)


# ---- working_days_between ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        (date(2025, 6, 2), date(2025, 6, 2), 0),
        (date(2025, 6, 3), date(2025, 6, 2), 0),  # end before start
        (date(2025, 6, 2), date(2025, 6, 3), 1),  # start not counted, end counted
        (date(2025, 6, 2), date(2025, 6, 9), 5),  # Mon to next Mon
        (date(2025, 6, 6), date(2025, 6, 8), 0),  # Fri to Sun
        (date(2026, 2, 13), date(2026, 2, 22), 0),  # the whole of Tết and two weekends
        (date(2026, 2, 13), date(2026, 2, 23), 1),
        (date(2026, 2, 9), date(2026, 2, 27), 9),  # 10-13 (4) + Tết (0) + 23-27 (5)
        (date(2026, 4, 28), date(2026, 5, 4), 2),  # Wed 29, Mon 4/5 (30/4 and 1/5 off)
        (date(2025, 12, 31), date(2026, 1, 2), 1),  # 1/1 off, Fri 2/1 counts
    ],
)
def test_working_days_between(start, end, count):
    assert working_days_between(start, end) == count


def test_working_days_between_inverts_add_working_days():
    # Every start day over two years (Tết 2025 and 2026 included), 0 to 25 working days later.
    start = date(2025, 1, 1)
    while start < date(2027, 1, 1):
        for days in range(26):
            end = add_working_days(start, days)
            assert working_days_between(start, end) == days, (start, days)
            if days:
                assert is_working_day(end), (start, days)
        start += timedelta(days=1)
