"""Measurements and the printed results table."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Measurement:
    """One load against one endpoint. Latencies in milliseconds."""

    requests: int
    seconds: float
    errors: int
    p50: float
    p95: float
    p99: float
    max: float
    # Open loop only: the generator's own lateness sending (its p99), to show it kept up.
    send_lag_p99: float | None = None
    # Cores used meanwhile by processes this run did not start (see bench.cpuwatch).
    foreign_cores: float = 0.0
    notes: list[str] = field(default_factory=list)
    # Answers counted by HTTP status.
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Row:
    backend: str
    load: str
    endpoint: str
    measurement: Measurement
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    # Throughput compared with the bare app's (mean of its closed-loop runs).
    vs_bare: bool = False


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


_COLUMNS = (
    ("backend", 10, "<"),
    ("load", 20, "<"),
    ("endpoint", 30, "<"),
    ("req/s", 8, ">"),
    ("p50 ms", 7, ">"),
    ("p95 ms", 7, ">"),
    ("p99 ms", 7, ">"),
    ("max ms", 7, ">"),
    ("errors", 6, ">"),
    ("x bare", 6, ">"),
    ("target", 17, "<"),
    ("result", 6, "<"),
)


def render(rows: list[Row]) -> str:
    header = "  ".join(f"{name:{align}{width}}" for name, width, align in _COLUMNS)
    lines = [header, "-" * len(header)]
    for row in rows:
        m = row.measurement
        verdict = "" if row.passed is None else ("PASS" if row.passed else "MISS")
        cells = (
            row.backend,
            row.load,
            row.endpoint,
            f"{m.rate:.1f}",
            f"{m.p50:.1f}",
            f"{m.p95:.1f}",
            f"{m.p99:.1f}",
            f"{m.max:.1f}",
            str(m.errors),
            "" if row.ratio is None else f"{row.ratio:.2f}",
            row.target,
            verdict,
        )
        lines.append(
            "  ".join(
                f"{cell:{align}{width}}"
                for cell, (_, width, align) in zip(cells, _COLUMNS, strict=True)
            )
        )
        lines.extend(f"{'':12}note: {note}" for note in m.notes)
    return "\n".join(lines)
