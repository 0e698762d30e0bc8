"""Failed sign-ins, counted so that a stranger can slow down only themselves.

Three buckets, each a ladder of fixed windows (growing delays: a few tries a minute, fewer an
hour, fewer a day), never a lock on a user name alone:

- per (user name, client address): someone guessing one password from one place;
- per client address: one place guessing many names;
- per user name, only from addresses that never signed in as that user: many places guessing
  one password. The real user's own addresses (a sign-in in the last 90 days) skip it, so
  strangers cannot lock them out.

Every attempt is counted *before* the password is checked (one atomic increment per window), so
parallel attempts cannot pass a limit together; a refused or successful attempt gets its counts
back, so only wrong passwords count (an impatient user does not climb the ladder by retrying
during a wait).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, request
from limits import RateLimitItem, parse_many
from sqlalchemy import func, select

from tracker import counters
from tracker.accounts.models import StaffSession, User
from tracker.calendar import utcnow
from tracker.extensions import db

FAMILIAR_FOR = timedelta(days=90)


@dataclass
class Attempt:
    """One sign-in attempt's place in the counts."""

    counted: list[tuple[str, int]] = field(default_factory=list)
    retry_after: int = 0
    # The first refusal in its window: the one worth an audit entry.
    first_refusal: bool = False

    @property
    def refused(self) -> bool:
        return self.retry_after > 0


def count_attempt(username: str) -> Attempt:
    """Count a sign-in attempt for `username` from this client; refused (with the seconds to
    wait) when any window is spent."""
    name = username.strip().lower()
    address = request.remote_addr or "-"
    config = current_app.config
    buckets = [
        ("pair", (name, address), config["LOGIN_RATE_LIMIT"]),
        ("address", (address,), config["LOGIN_IP_RATE_LIMIT"]),
    ]
    if name and not _familiar(name, address):
        buckets.append(("name", (name,), config["LOGIN_NAME_RATE_LIMIT"]))
    attempt = Attempt()
    for bucket, parts, limits in buckets:
        for item in parse_many(limits):
            _count(attempt, bucket, parts, item)
    if attempt.refused:
        refund(attempt)  # a refused attempt checks no password: it is not a failure either
    return attempt


def refund(attempt: Attempt) -> None:
    """An attempt that was refused, or succeeded, is no failure: give its counts back."""
    for key, window in attempt.counted:
        counters.incr(key, window, -1)
    attempt.counted.clear()


def _count(attempt: Attempt, bucket: str, parts: tuple[str, ...], item: RateLimitItem) -> None:
    window = item.get_expiry()
    key = counters.counter_key(f"sign-in-{bucket}-{item.amount}-{window}", *parts)
    count = counters.incr(key, window)
    attempt.counted.append((key, window))
    if count > item.amount:
        attempt.retry_after = max(attempt.retry_after, counters.seconds_left(key))
        # The window's first refusal is the one worth an audit entry.
        refusals = counters.incr(key + "/refused", counters.seconds_left(key))
        attempt.first_refusal = attempt.first_refusal or refusals == 1


def _familiar(name: str, address: str) -> bool:
    """Whether `name` signed in from `address` lately (the real user's own place)."""
    if "\x00" in name:  # no user name holds one (and PostgreSQL refuses it in text)
        return False
    since = utcnow() - FAMILIAR_FOR
    found = db.session.scalar(
        select(StaffSession.id)
        .join(User, User.id == StaffSession.user_id)
        .where(
            func.lower(User.username) == name,
            StaffSession.remote_addr == address,
            StaffSession.started_at > since,
        )
        .limit(1)
    )
    return found is not None
