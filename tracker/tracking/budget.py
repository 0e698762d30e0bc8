"""The daily budget of misses of one postal item number.

Only 10,000 phone endings exist, so a lookup by item number and phone digits could be walked
through from many addresses. Each item number may miss `TRACK_ITEM_MISSES_PER_DAY` times per day
(in Vietnam), whoever asks: at 10 a day, finding an ending takes 500 days on average, past the
item's 12 months. Once spent, lookups of that item answer 429 until the day ends; lookups by code
and secret do not use the budget, so the citizen's receipt keeps working.

The counts live in the rate-limit store shared by every worker (the limiter's storage: Redis when
REDIS_URL is set, in-process memory otherwise), one key per item and day that expires at the
day's end. The page and the API share them.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from typing import Any

from flask import current_app

from tracker import counters
from tracker.calendar import VN_TZ, local_date, utcnow
from tracker.errors import RateLimited
from tracker.extensions import limiter
from tracker.i18n import N_
from tracker.tracking import queries

PAUSED_MESSAGE = N_(
    "Too many lookups of this postal item number were made with a wrong phone number today: "
    "lookups with it are paused until tomorrow. The code and secret on the receipt still work."
)
PAUSED_REASON = "item_misses_per_day"


class ItemLookupsPaused(RateLimited):
    """The item's misses for the day are spent; `retry_after`: seconds to the day's end."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(PAUSED_MESSAGE, retry_after=retry_after, extra={"reason": PAUSED_REASON})


def seconds_left_today(now: datetime) -> int:
    """Seconds from `now` to the end of its day in Vietnam (at least 1)."""
    tomorrow = datetime.combine(local_date(now) + timedelta(days=1), time(), tzinfo=VN_TZ)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


def misses_key(item: str, now: datetime) -> str:
    """The store's key of `item`'s misses on the Vietnam day of `now` (item normalised)."""
    return counters.counter_key("track-item-misses", local_date(now).isoformat(), item)


def find_by_item_and_phone(
    item: str, phone_last4: str, *, now: datetime | None = None
) -> dict[str, Any] | None:
    """`queries.find_by_item_and_phone` within the item's budget of misses of the day (`now`'s
    day in Vietnam; the clock by default). Raises ItemLookupsPaused once the budget is spent.

    A try is counted before the query, by one atomic increment, so that parallel guesses cannot
    all pass a check made before any of them is counted; it is given back when the query finds
    the dossier (a citizen's right answer never uses the budget) and when the try is refused.
    What stays counted is the misses, and never more than the budget of them are answered."""
    if not limiter.enabled:  # RATELIMIT_ENABLED=0, development only: no store to count in
        return queries.find_by_item_and_phone(item, phone_last4)
    now = now or utcnow()
    key, seconds_left = misses_key(item, now), seconds_left_today(now)
    # Counted under the key of the day: the count expires when the day ends.
    tries = counters.incr(key, seconds_left)
    try:
        if tries > current_app.config["TRACK_ITEM_MISSES_PER_DAY"]:
            raise ItemLookupsPaused(seconds_left)
        found = queries.find_by_item_and_phone(item, phone_last4)
    except BaseException:
        counters.incr(key, seconds_left, -1)
        raise
    if found is not None:
        counters.incr(key, seconds_left, -1)
    return found
