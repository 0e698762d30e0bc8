"""The projected year end of a metric (DESIGN 4), with the method and why it was chosen.

- **seasonal**: the year to date x last year ÷ last year's same period, only when every month
  of last year from January to the same day has a figure of its own (records, a monthly
  baseline, or the go-live month's both): then last year's months carry a season. A yearly
  baseline spread by days carries none, and a series that starts with the go-live ramp would
  make the ramp look like a season;
- **linear** otherwise: the year to date's daily pace over the whole year.

Either way the projection is held between the year to date (the year cannot end lower) and the
year to date plus the best daily pace of any month this year times the days left, so on
31 December the projection is the year's figure itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from tracker.reports.figures import whole

# Why a method was chosen: codes the report carries, the pages and exports word them.
REASONS = (
    "last_year_by_month",  # seasonal: last year has its own figure for every month needed
    "no_last_year",  # linear: last year's figure is unknown
    "last_year_months_missing",  # linear: a month of last year is spread or unknown
    "no_same_period",  # linear: nothing in last year's same period to scale from
)
BOUNDS = ("year_to_date", "best_pace")


@dataclass(frozen=True)
class Projection:
    value: int | None
    method: str | None  # "seasonal" | "linear"
    reason: str | None  # one of REASONS
    bound: str | None  # one of BOUNDS when the projection was held at it


NONE = Projection(None, None, None, None)


def project(
    actual: Fraction | None,
    previous: Fraction | None,
    same: Fraction | None,
    *,
    seasonal_ok: bool,
    elapsed: int,
    days_left: int,
    best_rate: Fraction | None,
) -> Projection:
    """The year end of a metric from its year to date (`elapsed` days in), last year's whole
    figure and same period, whether last year's months carry a season (`seasonal_ok`) and the
    best daily pace of a month this year (`best_rate`)."""
    if actual is None:
        return NONE
    if previous is None:
        method, reason = "linear", "no_last_year"
    elif not seasonal_ok:
        method, reason = "linear", "last_year_months_missing"
    elif not same:
        method, reason = "linear", "no_same_period"
    else:
        method, reason = "seasonal", "last_year_by_month"
    if method == "seasonal":
        value = actual * previous / same
    else:
        value = actual * (elapsed + days_left) / elapsed
    bound = None
    ceiling = actual + (best_rate or 0) * days_left
    if value > ceiling:
        value, bound = ceiling, "best_pace"
    if value < actual:
        value, bound = actual, "year_to_date"
    # Rounded, the bounds still hold: never above the ceiling, never below the year to date
    # as shown (which may round up past a ceiling less than half a dossier above it).
    shown = max(min(whole(value), math.floor(ceiling)), whole(actual))
    return Projection(shown, method, reason, bound)
