"""The dashboard's monthly chart, drawn on the server as SVG geometry (no script, no library).

The chart is cumulative: for each month, the dossiers from 1 January to the end of that month,
for the report's year, for the previous year, and the target pace (the year's target spread
evenly: target x month / 12, so the pace line reaches the target in December). A running total
shows at a glance whether the year is ahead of last year and of the pace; the monthly figures
themselves are in the table beside the chart.

`monthly_chart` returns plain numbers and strings; `templates/reports/_chart.html` draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

# Drawing box in SVG user units; the SVG scales to its container (viewBox).
WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 78, 16, 28, 44
TICKS = 5  # about this many gridlines on the value axis


@dataclass(frozen=True)
class Point:
    month: int  # 0 is 1 January (the origin), 1..12 the end of a month
    value: float
    x: float
    y: float


@dataclass(frozen=True)
class Series:
    key: str  # "current" | "previous" | "pace": also the CSS class suffix
    points: list[Point] = field(default_factory=list)

    @property
    def polyline(self) -> str:
        """The `points` attribute of an SVG polyline."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def markers(self) -> list[Point]:
        """The months themselves (not the origin), where the chart puts a marker."""
        return [p for p in self.points if p.month]


@dataclass(frozen=True)
class Row:
    """One month of the data table under the chart (None: unknown)."""

    month: int
    current: int | None
    current_total: int | None
    previous: int | None
    previous_total: int | None
    pace: int | None


@dataclass(frozen=True)
class Chart:
    metric: str
    year: int
    series: list[Series]
    ticks: list[tuple[int, float]]  # (value, y)
    months: list[tuple[int, float]]  # (month, x)
    rows: list[Row]
    target: int | None
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not any(s.markers for s in self.series)

    def last_row_with(self, name: str) -> Row | None:
        """The last month that has a running total in `name` ("current_total", ...)."""
        known = [row for row in self.rows if getattr(row, name) is not None]
        return known[-1] if known else None


def monthly_chart(report: dict, metric: str) -> Chart:
    """The cumulative chart of `metric` from a `growth.build_report` result."""
    current = [_figure(entry["current"], metric) for entry in report["months"]]
    previous = [_figure(entry["previous"], metric) for entry in report["months"]]
    target = report["metrics"][metric]["target"]
    totals = {"current": _running(current), "previous": _running(previous)}
    pace = [None] * 12 if target is None else [_pace(target, m) for m in range(1, 13)]
    top_value = max([v for v in (*totals["current"], *totals["previous"], target) if v] or [0])
    step = _step(top_value)
    scale_max = step * max(1, math.ceil(top_value / step)) if top_value else step * TICKS
    to_y = _y_scale(scale_max)
    series = [
        _series("current", totals["current"], to_y),
        _series("previous", totals["previous"], to_y),
        _series("pace", [None if target is None else target * m / 12 for m in range(1, 13)], to_y),
    ]
    rows = [
        Row(m, current[m - 1], totals["current"][m - 1], previous[m - 1],
            totals["previous"][m - 1], pace[m - 1])
        for m in range(1, 13)
    ]  # fmt: skip
    return Chart(
        metric=metric,
        year=report["year"],
        series=series,
        ticks=[(value, to_y(value)) for value in range(0, scale_max + 1, step)],
        months=[(m, _x(m)) for m in range(1, 13)],
        rows=rows,
        target=target,
    )


def _figure(entry: dict | None, metric: str) -> int | None:
    return None if entry is None else entry.get(metric)


def _running(values: list[int | None]) -> list[int | None]:
    """Running totals; they stop at the first unknown month (a total past it is unknown)."""
    totals: list[int | None] = []
    total: int | None = 0
    for value in values:
        total = None if total is None or value is None else total + value
        totals.append(total)
    return totals


def _pace(target: int, month: int) -> int:
    return int((Decimal(target) * month / 12).to_integral_value(rounding=ROUND_HALF_UP))


def _step(top: float) -> int:
    """A round gridline step (1, 2 or 5 x 10^n) giving about TICKS lines up to `top`."""
    if top <= TICKS:
        return 1
    rough = top / TICKS
    power = 10 ** math.floor(math.log10(rough))
    for factor in (1, 2, 5, 10):
        if rough <= factor * power:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def _x(month: int) -> float:
    return LEFT + (WIDTH - RIGHT - LEFT) * month / 12


def _y_scale(scale_max: int):
    span = HEIGHT - BOTTOM - TOP

    def to_y(value: float) -> float:
        return HEIGHT - BOTTOM - span * value / scale_max

    return to_y


def _series(key: str, totals: list[float | None], to_y) -> Series:
    """A line from the origin (0 on 1 January) through each month with a known total."""
    points = []
    for month, value in enumerate(totals, start=1):
        if value is None:
            break
        points.append(Point(month, value, _x(month), to_y(value)))
    if points:
        points.insert(0, Point(0, 0, _x(0), to_y(0)))
    return Series(key, points)
