"""python -m bench.run (`make bench`): every performance target beside its floor, in one table.

Each benchmark runs in a child process that starts its own throwaway servers (PostgreSQL, Redis,
gunicorn, Celery workers) on loopback and stops them:

- `bench.endpoints`: `GET /api/v1/track` (Zipf-drawn codes, one lookup in ten a miss) and
  `POST /api/v1/dossiers`, beside a bare Flask endpoint under the same gunicorn;
- `bench.feeds`: the postal feed end to end with one worker, beside a raw executemany of the same
  status events;
- `bench.imports`: 1.1M one-way rows imported, beside a raw COPY of the same rows into the tables.

Each runs twice: with PostgreSQL's default durability (fsync and synchronous_commit on: the
headline figures) and with fsync off (BENCH_FSYNC=off), printed beside. The children's own tables
come first, then the summary: target, figure, floor, ratio, met or missed. Nothing is asserted:
the exit status says whether every benchmark completed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.services import DURABILITY_VARIABLE, ROOT

MODES = ("on", "off")


@dataclass(frozen=True)
class Child:
    name: str
    module: str
    args: tuple[str, ...]


def children(options: argparse.Namespace, dossiers: int, growth: bool = False) -> list[Child]:
    """The benchmarks of one run with `dossiers` in the database; `growth`: only the lookups and
    the feed (`bench.growth`, one database), whose cost per operation must not grow with it."""
    quick = options.quick
    shorter = ("--duration", "6", "--open-duration", "8", "--warmup", "2") if quick else ()
    events = "8000" if quick else "30000"
    if growth:
        grown = ("--dossiers", str(dossiers), "--events", events, *shorter)
        return [Child("growth", "bench.growth", grown)]
    endpoints = (
        "--backends", "postgresql", "--benchmarks", "track,create",
        "--dossiers", str(dossiers), *shorter,
    )  # fmt: skip
    feeds = (
        "--events", events, "--batch", "1000", "--background", str(min(dossiers, 50_000)),
    )  # fmt: skip
    imports = ("--rows", "220000" if quick else "1100000")
    every = [
        Child("endpoints", "bench.endpoints", endpoints),
        Child("feeds", "bench.feeds", feeds),
        Child("imports", "bench.imports", imports),
    ]
    return [child for child in every if child.name in options.only]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--fsync", default="on,off", help="PostgreSQL durability of the runs: on, off or on,off"
    )
    parser.add_argument(
        "--only", default="endpoints,feeds,imports", help="a subset of endpoints,feeds,imports"
    )
    parser.add_argument(
        "--dossiers", type=int, default=100_000, help="dossiers in the database for the lookups"
    )
    parser.add_argument(
        "--growth",
        help="comma-separated database sizes, e.g. 100000,10000000: only the lookups and the "
        "feed, at each size (first --fsync mode), printed side by side",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run (shorter loads, 8,000 feed events, 220,000 import rows: the import's "
        "figure is then projected to 1.1M rows)",
    )
    options = parser.parse_args(argv)
    options.fsync = tuple(m.strip() for m in options.fsync.split(",") if m.strip())
    options.only = tuple(m.strip() for m in options.only.split(",") if m.strip())
    if not options.fsync or set(options.fsync) - set(MODES):
        parser.error("--fsync: on, off or on,off")
    if not options.only or set(options.only) - {"endpoints", "feeds", "imports"}:
        parser.error("--only: a subset of endpoints,feeds,imports")
    try:
        options.growth = [int(n) for n in options.growth.split(",")] if options.growth else []
    except ValueError:
        parser.error("--growth: comma-separated numbers of dossiers")
    return options


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_child(child: Child, mode: str, workdir: Path) -> tuple[list[dict], str]:
    """Run one benchmark with PostgreSQL's durability `mode`: its summary rows and its output."""
    summary = workdir / f"{child.name}-{mode}-{time.monotonic_ns()}.json"
    output = summary.with_suffix(".txt")
    command = [sys.executable, "-m", child.module, *child.args, "--json", str(summary)]
    env = {**os.environ, DURABILITY_VARIABLE: mode, "PYTHONPATH": str(ROOT)}
    progress(f"fsync {mode}: {' '.join(command[1:])}")
    with output.open("wb") as handle:
        # Its progress lines (stderr) show as it goes; its tables (stdout) are printed after.
        completed = subprocess.run(command, cwd=ROOT, env=env, stdout=handle)
    text = output.read_text(errors="replace")
    if completed.returncode != 0 or not summary.exists():
        raise SystemExit(f"{child.module} failed ({completed.returncode}):\n{text[-3000:]}")
    return json.loads(summary.read_text()), text


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms":
        return f"{value:,.2f} {unit}"
    if unit in ("s", "ms p99"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f} {unit}"


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**missed**")


def render(results: dict[str, list[dict]], modes: tuple[str, ...]) -> str:
    """One markdown table: a row per target, the headline mode's columns first."""
    head = ["target", "what", "floor"]
    for mode in modes:
        head += [f"figure (fsync {mode})", f"floor (fsync {mode})", "ratio", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    first = results[modes[0]]
    notes = []
    for index, row in enumerate(first):
        cells = [row["target"], row["what"], row.get("floor_label", "")]
        for mode in modes:
            other = results[mode][index]
            floor = other.get("floor")
            ratio = other["figure"] / floor if floor else None
            cells += [
                _figure(other["figure"], other["unit"]),
                _figure(floor, other.get("floor_unit", other["unit"])),
                "" if ratio is None else f"{ratio:.2f}",
                _verdict(other.get("met")),
            ]
            notes += [f"fsync {mode}, {row['what']}: {note}" for note in other.get("notes", [])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *notes])


def render_growth(results: dict[int, list[dict]]) -> str:
    """One markdown table: a row per figure, a column per database size, last size / first."""
    sizes = list(results)
    head = ["what", *(f"{size:,} dossiers" for size in sizes), f"{sizes[-1]:,} / {sizes[0]:,}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for index, row in enumerate(results[sizes[0]]):
        figures = [results[size][index]["figure"] for size in sizes]
        cells = [row["what"], *(_figure(f, row["unit"]) for f in figures)]
        cells.append(f"{figures[-1] / figures[0]:.2f}" if figures[0] else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C: each child stops its own servers.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    results: dict[str, list[dict]] = {}
    grown: dict[int, list[dict]] = {}
    outputs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tracker-bench-suite-") as directory:
        workdir = Path(directory)
        for size in options.growth:
            grown[size] = []
            for child in children(options, size, growth=True):
                rows, text = run_child(child, options.fsync[0], workdir)
                grown[size] += rows
                outputs.append(f"==== {child.module}, {size:,} dossiers\n{text.strip()}")
        for mode in options.fsync if not options.growth else ():
            results[mode] = []
            for child in children(options, options.dossiers):
                rows, text = run_child(child, mode, workdir)
                results[mode] += rows
                outputs.append(f"==== {child.module}, fsync {mode}\n{text.strip()}")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print("\n\n".join(outputs))
    print()
    print(
        f"tracker performance, {time.strftime('%Y-%m-%d')}, commit {commit or '?'}, "
        f"{os.cpu_count()} CPU cores shared by every server and load generator; "
        f"ratio = figure / floor, both measured in the same run"
    )
    print()
    if grown:
        print(f"growth with the tables' size, fsync {options.fsync[0]}:\n")
        print(render_growth(grown))
    else:
        print(render(results, options.fsync))
    print(f"\n(total {time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
