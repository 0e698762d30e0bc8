"""python -m bench.imports: a province-year of one-way results imported on PostgreSQL.

Starts a throwaway PostgreSQL (tests/servers.py, with shared_buffers and max_wal_size raised as a
production server would have them), builds the schema from the migrations and a province's
catalogue (bench/catalogue.py), writes a CSV file of N one-way results (default 1,100,000) and
one of N/4, and imports each with `flask import dossiers FILE` in a child process, into a fresh
copy of that database, timing it and reading its peak memory from the kernel (wait4).
Baselines measured in the same run: a raw `COPY` of the same file into a table of text columns,
and the database's own floor: the rows the import wrote, dumped and COPYed back into the real
tables (same indexes, same foreign keys).
Nothing is asserted; the exit status says whether the run completed and every row arrived.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench.catalogue import CHANNEL_WEIGHT, CatalogueRefs, build_catalogue
from bench.cpuwatch import _TICKS, CpuWatch, _descendants, _processes
from bench.dataset import FAMILY, GIVEN, MIDDLE, _address
from bench.services import ROOT, durability, environment, plain_url, start_postgres
from tracker.calendar import today_vn
from tracker.dossiers import s10

TARGET_SECONDS = 60.0
TARGET_ROWS = 1_100_000
# What a dedicated database server would be given; the rest is the test server's set-up.
SERVER_SETTINGS = {"shared_buffers": "2GB", "max_wal_size": "8GB"}
COLUMNS = (
    "agency_reference", "procedure_code", "applicant_name", "applicant_phone",
    "delivery_address", "postal_item_number", "received_at", "office_code", "appointment_date",
    "fee_vnd", "note",
)  # fmt: skip


@dataclass
class Result:
    label: str
    rows: int
    seconds: float
    peak_rss_mb: float | None = None
    cpu_seconds: float | None = None
    # CPU of the PostgreSQL server (postmaster and every backend) during the measurement, and
    # the cores other processes of the machine used meanwhile (a shared machine's noise).
    server_cpu_seconds: float | None = None
    others_cores: float | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    parser.add_argument("--rows", type=int, default=TARGET_ROWS, help="rows of the large file")
    parser.add_argument("--seed", type=int, default=20171231)
    parser.add_argument(
        "--again", action="store_true", help="import the large file a second time (all existing)"
    )
    parser.add_argument(
        "--json", type=Path, help="also write the figures here, for `bench.run`'s summary table"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-imports-")))
        url, postmaster = start_postgres(stack, SERVER_SETTINGS)
        meter = ServerMeter(postmaster)
        refs = prepare_database(url)
        print(f"writing {options.rows:,} rows ...", flush=True)
        big = write_results(work / "results.csv", options.rows, refs, options.seed)
        quarter = write_results(work / "quarter.csv", options.rows // 4, refs, options.seed + 1)
        results = []
        for path, rows in ((quarter, options.rows // 4), (big, options.rows)):
            run_url = fresh_database(url, f"bench_{path.stem}")
            env = child_env(run_url, work)
            with meter.measure() as measured:
                results.append(run_import(f"import {path.name}", path, rows, env, work))
            measured(results[-1])
            check_arrived(run_url, rows)
        if options.again:
            with meter.measure() as measured:
                results.append(run_import("same file again", big, options.rows, env, work))
            measured(results[-1])
            check_arrived(run_url, options.rows)
        with meter.measure() as measured:
            floor = copy_floor(run_url, work, options.rows)
        measured(floor)
        with meter.measure() as measured:
            raw = copy_raw(run_url, big, options.rows)
        measured(raw)
        print_table(results, floor, raw, big)
        if options.json:
            options.json.write_text(json.dumps(summary(results, floor, raw)))
    return 0


# Memory is flat when the large file's peak is within this of the quarter's.
FLAT_MEMORY = 1.25


def summary(results: list[Result], floor: Result, raw: Result) -> list[dict]:
    """`bench.run`'s rows: the large import beside the raw COPY of its rows into the tables (with
    their indexes and keys), and its peak memory beside the quarter-size import's."""
    small, large = results[0], results[1]
    seconds = large.seconds * TARGET_ROWS / large.rows
    floor_seconds = floor.seconds * TARGET_ROWS / floor.rows
    return [
        {
            "what": f"import of {TARGET_ROWS:,} one-way rows (`flask import dossiers`)",
            "figure": seconds,
            "unit": "s",
            "floor": floor_seconds,
            "floor_label": "raw COPY of the same rows into dossiers + status_events",
            "target": f"<= {TARGET_SECONDS:.0f} s",
            "met": seconds <= TARGET_SECONDS,
            "notes": [
                f"raw COPY of the file into a table of text columns: "
                f"{raw.seconds * TARGET_ROWS / raw.rows:.1f} s"
            ],
        },
        {
            "what": f"import peak memory, {large.rows:,} rows vs {small.rows:,}",
            "figure": large.peak_rss_mb,
            "unit": "MB",
            "floor": small.peak_rss_mb,
            "floor_label": f"the same import of {small.rows:,} rows",
            "target": f"flat (<= {FLAT_MEMORY:g} x the quarter's)",
            "met": large.peak_rss_mb <= FLAT_MEMORY * small.peak_rss_mb,
        },
    ]


class ServerMeter:
    """The PostgreSQL server's CPU (its postmaster's descendants, with the backends they reaped)
    and the machine's other load, around a measurement."""

    def __init__(self, postmaster: int) -> None:
        self.postmaster = postmaster

    def _server_ticks(self) -> int:
        processes = _processes()
        return sum(processes[pid][1] for pid in _descendants(processes, [self.postmaster]))

    @contextlib.contextmanager
    def measure(self):
        watch = CpuWatch()
        watch.roots.add(self.postmaster)
        before = self._server_ticks()
        watch.start()
        found: dict[str, float] = {}

        def record(result: Result) -> None:
            result.server_cpu_seconds = found["server"]
            result.others_cores = found["others"]

        yield record
        found["others"] = watch.stop()
        found["server"] = (self._server_ticks() - before) / _TICKS


def prepare_database(url: str) -> CatalogueRefs:
    """The schema from the migrations and a province's catalogue: the template of each run's
    database (`fresh_database`)."""
    with environment({"DATABASE_URL": url, "TRACKER_ENV": "development"}):
        from flask_migrate import upgrade

        from tracker import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            refs = build_catalogue(random.Random(1))
            from tracker.extensions import db

            db.engine.dispose()
    return refs


def write_results(path: Path, count: int, refs: CatalogueRefs, seed: int) -> Path:
    """An agency's year of results handed to the post, in date order, as a CSV export."""
    rng = random.Random(seed)
    procedures = [p for p in refs.procedures if "return_only" in p.service_forms]
    picked = rng.choices(procedures, [1 / (r + 1) for r in range(len(procedures))], k=count)
    offices = rng.choices(
        refs.offices, [CHANNEL_WEIGHT[o.channel_code] for o in refs.offices], k=count
    )
    first = today_vn() - timedelta(days=366)
    days = [first + timedelta(days=i) for i in range(365) if (first + timedelta(i)).weekday() != 6]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(count):
            day = days[i * len(days) // count]
            writer.writerow(_row(rng, seed, i, picked[i], offices[i].code, day))
    return path


def _row(rng: random.Random, seed: int, i: int, procedure, office: str, day: date) -> list:
    serial = f"{(seed % 50) * 1_000_000 + i:08d}"
    minute = rng.randrange(7 * 60, 17 * 60 + 30)
    appointment = day + timedelta(days=rng.randrange(3)) if rng.random() < 0.3 else ""
    return [
        f"{procedure.agency_code}/{seed % 100:02d}-{i:07d}",
        procedure.code,
        f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
        f"09{rng.randrange(10**8):08d}",
        _address(rng),
        f"RR{serial}{s10.check_digit(serial)}VN",
        f"{day} {minute // 60:02d}:{minute % 60:02d}:{rng.randrange(60):02d}",
        office,
        appointment,
        rng.choice(("0", "0", "20000", "50.000", "100000")),
        "" if rng.random() < 0.9 else "Trả tận nhà, gọi trước khi giao",
    ]


def child_env(url: str, work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "TRACKER_ENV": "development",
        "BROKER_DIR": str(work / "broker"),
        "PYTHONUNBUFFERED": "1",
    }


def run_import(label: str, path: Path, rows: int, env: dict[str, str], work: Path) -> Result:
    """`flask import dossiers FILE` in a child process: wall time, peak RSS and CPU from wait4."""
    log_path = work / f"{path.stem}-{int(time.time())}.log"
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "import", "dossiers", str(path)]
    print(f"{label}: {' '.join(command[1:])}", flush=True)
    with log_path.open("wb") as log:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    output = log_path.read_text(errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{label} failed ({child.returncode}):\n{output[-3000:]}")
    print("  " + output.strip().splitlines()[-1], flush=True)
    return Result(label, rows, seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def fresh_database(template_url: str, name: str) -> str:
    """A new database `name`, a copy of the prepared one (schema and catalogue): each import
    starts from the same state. Emptying the tables instead cannot reset a run: the audit
    entries are append-only (a trigger refuses TRUNCATE on PostgreSQL)."""
    template = make_url(template_url)
    maintenance = template.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(plain_url(maintenance), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
    url = template.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(plain_url(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return url


def check_arrived(url: str, rows: int) -> None:
    with psycopg.connect(plain_url(url)) as connection:
        dossiers = connection.execute("SELECT count(*) FROM dossiers").fetchone()[0]
        events = connection.execute("SELECT count(*) FROM status_events").fetchone()[0]
    if dossiers != rows or events != rows:
        raise SystemExit(f"expected {rows} dossiers and events, found {dossiers} and {events}")


def copy_floor(url: str, work: Path, rows: int) -> Result:
    """The rows the import wrote, dumped, then COPYed back into the emptied real tables."""
    dumps = {table: work / f"{table}.copy" for table in ("dossiers", "status_events")}
    with psycopg.connect(plain_url(url)) as connection:
        for table, dump in dumps.items():
            with (
                dump.open("wb") as handle,
                connection.cursor().copy(f"COPY {table} TO STDOUT (FORMAT BINARY)") as copy,
            ):
                for block in copy:
                    handle.write(block)
        connection.execute(
            "TRUNCATE status_events, dossiers CASCADE"
        )  # nothing else refers to them here
        connection.commit()
        started = time.perf_counter()
        for table, dump in dumps.items():
            _copy_in(connection, f"COPY {table} FROM STDIN (FORMAT BINARY)", dump)
        connection.commit()
        seconds = time.perf_counter() - started
    return Result("raw COPY of the same rows into dossiers + status_events", rows, seconds)


def copy_raw(url: str, path: Path, rows: int) -> Result:
    """The brief's baseline: the file itself, COPYed into a table of text columns."""
    columns = ", ".join(f"{name} text" for name in COLUMNS)
    with psycopg.connect(plain_url(url)) as connection:
        connection.execute(f"CREATE TABLE raw_results ({columns})")
        connection.commit()
        started = time.perf_counter()
        _copy_in(connection, "COPY raw_results FROM STDIN (FORMAT CSV, HEADER true)", path)
        connection.commit()
        seconds = time.perf_counter() - started
    return Result("raw COPY of the file into a scratch table", rows, seconds)


def _copy_in(connection: psycopg.Connection, statement: str, path: Path) -> None:
    with connection.cursor().copy(statement) as copy, path.open("rb") as handle:
        while block := handle.read(1 << 20):
            copy.write(block)


def print_table(results: list[Result], floor: Result, raw: Result, big: Path) -> None:
    size_mb = big.stat().st_size / 1e6
    print()
    print(f"Import of one-way results, PostgreSQL, {os.cpu_count()} CPUs; file {size_mb:.0f} MB")
    print(f"server: {SERVER_SETTINGS}; {durability()}")
    header = (
        f"{'':58} {'rows':>10} {'s':>7} {'rows/s':>9} {'x raw':>6} {'RSS MB':>7} {'CPU s':>6}"
        f" {'db CPU s':>8} {'others':>6}"
    )
    print(header)
    print("-" * len(header))
    for result in (raw, floor, *results):
        rss = f"{result.peak_rss_mb:7.0f}" if result.peak_rss_mb else " " * 7
        cpu = f"{result.cpu_seconds:6.1f}" if result.cpu_seconds else " " * 6
        server = f"{result.server_cpu_seconds or 0:8.1f}"
        print(
            f"{result.label:58} {result.rows:>10,} {result.seconds:7.1f} {result.rate:>9,.0f} "
            f"{result.seconds / raw.seconds * raw.rows / result.rows:6.1f} {rss} {cpu} {server}"
            f" {result.others_cores or 0:6.2f}"
        )
    print(
        "CPU s: the importing process; db CPU s: the PostgreSQL server; others: cores used by "
        "other processes of the machine meanwhile (a shared machine's noise)"
    )
    largest = results[1]
    projected = largest.seconds * TARGET_ROWS / largest.rows
    verdict = "met" if projected <= TARGET_SECONDS else "NOT met"
    print(
        f"\ntarget: {TARGET_ROWS:,} rows in <= {TARGET_SECONDS:.0f} s: {projected:.1f} s "
        f"(at this run's rate) -> {verdict}; the database's own floor for these rows is "
        f"{floor.seconds * TARGET_ROWS / floor.rows:.1f} s"
    )
    small, large = results[0], results[1]
    print(
        f"peak memory: {small.peak_rss_mb:.0f} MB for {small.rows:,} rows, "
        f"{large.peak_rss_mb:.0f} MB for {large.rows:,} rows"
    )


if __name__ == "__main__":
    sys.exit(main())
