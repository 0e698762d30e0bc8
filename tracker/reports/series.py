"""The stitched series of a year (DESIGN 4: baselines stand in for missing records, month by
month). Pure arithmetic over what `figures` read; nothing here touches the database.

Where each day's figure comes from:
- records from the first day the records hold (`records_start`): the go-live date, or
  1 January of a year after it. Without a go-live date, a year with any records is all records
  and a year without is all baseline (the rule before go-live dates existed);
- the baseline for the days before: a month's own figure, or, when the month has none, its part
  of the year's figure: what the year's figure leaves once the months given are taken away,
  spread over the other months by their days (a 31-day month gets 31/365 of it). When every
  month has its own figure, the months are the year. A month cut short (as_of, the go-live day)
  takes its share of the month's days;
- the go-live month adds the two: the baseline of the days before go-live and the records of
  the days from it.

A figure narrowed by a filter (or a breakdown row) takes `share` of a baseline part, the
baselines being province-wide. The postal total of a baseline is the sum of the forms it knows
(the 2017 seed has no send-only figure, yet its postal total is two-way + one-way).

Figures are exact fractions until they are shown (`whole`), so parts always add up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from tracker.reports.figures import FORM_OF, METRICS, Tally, Window, next_month, per_metric
from tracker.reports.models import Baseline

Rows = Mapping[int, Baseline]  # a year's baseline rows by month, 0 = the year
Shares = Mapping[str, Fraction | None]
ONE_DAY = timedelta(days=1)
# The sources of a month's figure, per metric: "go_live" is the month the records start in.
SOURCES = ("records", "baseline", "baseline_year", "go_live", "none")
# Sources a seasonal projection can follow: a month whose figure is its own.
SEASONAL_SOURCES = frozenset({"records", "baseline", "go_live"})


def records_start(year: int, go_live: date | None, recorded: bool) -> date | None:
    """The first day of `year` that the records stand for; None: none (all baseline).
    `recorded`: the year has rollup rows (only asked when no go-live date is set)."""
    if go_live is None:
        return date(year, 1, 1) if recorded else None
    if go_live.year > year:
        return None
    return max(go_live, date(year, 1, 1))


def window(end: date, start: date | None) -> Window:
    """1 January to `end`, read from the rollups from `start` (see `records_start`) on."""
    return Window(end, None if start is None or start > end else start)


# The baselines ---------------------------------------------------------------------------


def _days(month: date) -> int:
    return (next_month(month) - month).days


def month_baseline(rows: Rows, name: str, month: date) -> tuple[Fraction | None, str]:
    """The baseline figure `name` of a whole month and its source: "baseline" (its own),
    "baseline_year" (its part of what the year's figure leaves), or (None, "none")."""
    own = rows.get(month.month)
    if own is not None and getattr(own, name) is not None:
        return Fraction(getattr(own, name)), "baseline"
    annual = rows.get(0)
    if annual is None or getattr(annual, name) is None:
        return None, "none"
    given, rest_days = 0, 0
    for number in range(1, 13):
        row = rows.get(number)
        if row is not None and getattr(row, name) is not None:
            given += getattr(row, name)
        else:
            rest_days += _days(date(month.year, number, 1))
    left = max(getattr(annual, name) - given, 0)  # the months may not add up to more
    return Fraction(left * _days(month), rest_days), "baseline_year"


def baseline_between(rows: Rows, name: str, start: date, end: date) -> Fraction | None:
    """A baseline figure over start..end (one year); None when a month needed has none."""
    total = Fraction(0)
    month = start.replace(day=1)
    while month <= end:
        value, _source = month_baseline(rows, name, month)
        if value is None:
            return None
        first, last = max(start, month), min(end, next_month(month) - ONE_DAY)
        total += value * ((last - first).days + 1) / _days(month)
        month = next_month(month)
    return total


def baseline_part(rows: Rows, metric: str, start: date, end: date, first: date | None):
    """The baseline of the days of start..end before the records start (`first`): 0 when the
    records hold every one of them; None when a figure needed is unknown."""
    last = end if first is None else min(end, first - ONE_DAY)
    if last < start:
        return Fraction(0)
    if metric != "postal_total":
        return baseline_between(rows, metric, start, last)
    known = [baseline_between(rows, m, start, last) for m in FORM_OF]
    known = [value for value in known if value is not None]
    return sum(known, Fraction(0)) if known else None


def all_tthc(rows: Rows, start: date, end: date) -> Fraction | None:
    """All TTHC dossiers of the province over start..end: always a baseline figure."""
    return baseline_between(rows, "all_tthc", start, end)


# Stitching -------------------------------------------------------------------------------


def combined(records: int, part: Fraction | None, share: Fraction | None) -> Fraction | None:
    """Records plus `share` of a baseline part; unknown when the part (or a share it needs)
    is."""
    if part == 0:
        return Fraction(records)
    if part is None or share is None:
        return None
    return records + share * part


def stitched(
    start: date, end: date, first: date | None, records: Tally, rows: Rows, shares: Shares
) -> dict[str, Fraction | None]:
    """Per metric, the figure of start..end: its records (`first` None: none) and its share
    of the baseline of the days before them."""
    counted = per_metric(records, "taken")
    return {
        metric: combined(
            counted[metric] if first is not None else 0,
            baseline_part(rows, metric, start, end, first),
            shares.get(metric, Fraction(1)),
        )
        for metric in METRICS
    }


def shares_of(part: Mapping[str, Tally], whole: Mapping[str, Tally]) -> dict[str, Fraction | None]:
    """Per metric, the share of `part` (a filter, a breakdown row) in `whole` (the province,
    the report) by their records: of last year's ("last_year") when the whole has any, else of
    this year's ("current"); None when neither has one."""
    shares: dict[str, Fraction | None] = {}
    for metric in METRICS:
        shares[metric] = None
        for period in ("last_year", "current"):
            of = per_metric(whole.get(period) or {}, "taken")[metric]
            if of:
                shares[metric] = Fraction(per_metric(part.get(period) or {}, "taken")[metric], of)
                break
    return shares


def part_of(records: int, share: Fraction | None, figure: int | None, of_records: int):
    """A part's figure in a period: its records, and its share of the baseline in the whole's
    figure as shown (`figure` less the whole's records `of_records`), so the parts add up to
    the whole's figure exactly."""
    return combined(records, None if figure is None else Fraction(figure - of_records), share)


@dataclass(frozen=True)
class YearSeries:
    """The twelve months of a year up to a window's end, per metric: their figures (None:
    unknown, or after the end) and sources (None after the end)."""

    values: dict[str, list[Fraction | None]]
    sources: dict[str, list[str | None]]

    def best_daily_rate(self, metric: str, end: date) -> Fraction | None:
        """The fastest pace of any month up to `end` (the month of `end` over its days so far)."""
        rates = []
        for index, value in enumerate(self.values[metric][: end.month]):
            month = date(end.year, index + 1, 1)
            days = (end - month).days + 1 if index + 1 == end.month else _days(month)
            if value is not None:
                rates.append(value / days)
        return max(rates, default=None)

    def seasonal_until(self, metric: str, month: int) -> bool:
        """Whether every month from January to `month` has a figure of its own."""
        return all(source in SEASONAL_SOURCES for source in self.sources[metric][:month])


def year_series(
    period: Window, months: Mapping[date, Tally], rows: Rows, shares: Shares
) -> YearSeries:
    """The months of `period`'s year, stitched: `months` holds the records per month."""
    values: dict[str, list] = {metric: [] for metric in METRICS}
    sources: dict[str, list] = {metric: [] for metric in METRICS}
    for number in range(1, 13):
        month = date(period.end.year, number, 1)
        if month > period.end:
            for metric in METRICS:
                values[metric].append(None)
                sources[metric].append(None)
            continue
        last = min(next_month(month) - ONE_DAY, period.end)
        first = period.first if period.first is not None and period.first <= last else None
        figures = stitched(month, last, first, months.get(month) or {}, rows, shares)
        for metric in METRICS:
            values[metric].append(figures[metric])
            sources[metric].append(_source(rows, metric, month, first, figures[metric]))
    return YearSeries(values, sources)


def _source(rows: Rows, metric: str, month: date, first: date | None, value) -> str:
    if first is not None and first <= month:
        return "records"
    if value is None:
        return "none"
    if first is not None:
        return "go_live"
    names = FORM_OF if metric == "postal_total" else (metric,)
    kinds = {month_baseline(rows, name, month)[1] for name in names}
    return "baseline" if "baseline" in kinds else "baseline_year"
