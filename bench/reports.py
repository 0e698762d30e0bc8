"""python -m bench.reports: the growth report on N dossiers (default 1,000,000), beside the same
figures computed by a plain GROUP BY over the dossiers and their events.

Starts a throwaway PostgreSQL (tests/servers.py, with the memory a dedicated server would have),
builds the schema from the migrations, loads the demo catalogue and generates the dossiers and
their events (bench/reports_data.py, COPYed in by bench/reports_copy.py; the loading speed
is printed). Then:
1. fills the rollups with the full recompute (`recompute_all`), and runs it again (nothing to fix);
2. times `build_report(year, as_of)` for the current year of the data: the median, p90, min and
   max of --repeat calls after a warm-up; and the same filtered by one office, for information;
3. computes the same figures with a plain GROUP BY over the dossiers (and the events for the
   delivered counts), times it, and checks that every figure of the report equals it;
4. prints a table with the target (report <= 200 ms median with 10 million dossiers).
The exit status is 1 when a figure of the report differs from the GROUP BY's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import psycopg
from sqlalchemy import select, text

from bench import reports_copy, reports_data
from bench.cpuwatch import CpuWatch
from bench.services import ROOT, durability, environment, plain_url, start_postgres
from tracker.calendar import VN_TZ, local_date

TARGET_MS = 200.0
TARGET_DOSSIERS = 10_000_000
# What a dedicated database server would be given; durability as `bench.services.durable` says.
SERVER_SETTINGS = {
    "shared_buffers": "4GB",
    "max_wal_size": "16GB",
    "maintenance_work_mem": "1GB",
    "checkpoint_timeout": "30min",
}
METRIC_FORMS = {"two_way": ("two_way",), "one_way": ("return_only",), "send_only": ("send_only",)}
METRIC_FORMS["postal_total"] = ("two_way", "return_only", "send_only")
# The filtered call: the provincial centre's post counter, the busiest office of the demo data.
FILTER_OFFICE = "TTHCC"


@dataclass
class Timing:
    label: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p90(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]  # nearest rank


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dossiers", type=_at_least(1000), default=1_000_000, help="dossiers generated (1000000)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed report calls (20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed report calls first (3)")
    parser.add_argument("--group-by-runs", type=int, default=3, help="timed GROUP BY runs (3)")
    parser.add_argument("--seed", type=int, default=20180101, help="data generation seed")
    return parser.parse_args(argv)


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if int(text) < low:
            raise argparse.ArgumentTypeError(f"at least {low}")
        return int(text)

    return parse


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def timed(call: Callable[[], object], repeat: int, warmup: int = 0) -> tuple[list[float], object]:
    result = None
    for _ in range(warmup):
        result = call()
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - started)
    return seconds, result


# The plain GROUP BY ---------------------------------------------------------------------------

# Local (Vietnam) time of a timestamp; `to_date` says whether its day is on or before as_of's
# day of the year, i.e. in the year to date (this year) or the same period (last year).
_TAKEN = """
SELECT extract(year FROM l.at)::int AS year, extract(month FROM l.at)::int AS month,
       to_char(l.at, 'MM-DD') <= %(mmdd)s AS to_date, d.service_form,
       d.channel_id, d.office_id, p.sector_id, d.procedure_id, d.agency_id, count(*) AS taken
FROM dossiers d JOIN procedures p ON p.id = d.procedure_id
CROSS JOIN LATERAL (SELECT d.received_at AT TIME ZONE 'Asia/Ho_Chi_Minh' AS at) l
WHERE d.received_at >= %(start)s AND d.received_at < %(end)s
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
"""
# Delivered: applied events that put the result in the citizen's hands, on the day they
# occurred, judged against the dossier's due date.
_DELIVERED = """
SELECT extract(year FROM l.at)::int AS year, extract(month FROM l.at)::int AS month,
       to_char(l.at, 'MM-DD') <= %(mmdd)s AS to_date, d.service_form,
       d.channel_id, d.office_id, p.sector_id, d.procedure_id, d.agency_id, count(*) AS delivered,
       count(*) FILTER (WHERE l.at::date < d.due_date) AS early,
       count(*) FILTER (WHERE l.at::date = d.due_date) AS on_time,
       count(*) FILTER (WHERE l.at::date > d.due_date) AS late
FROM status_events e JOIN dossiers d ON d.id = e.dossier_id
JOIN procedures p ON p.id = d.procedure_id
CROSS JOIN LATERAL (SELECT e.occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh' AS at) l
WHERE e.applied AND e.to_status IN ('delivered', 'collected_in_person')
  AND e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
"""
DIMENSIONS = ("channel", "office", "sector", "procedure", "agency")


def group_by_rows(dsn: str, year: int, as_of: date) -> list[dict]:
    """Both statements, over last year and this year up to as_of: one dict per group."""
    params = {
        "mmdd": f"{as_of:%m-%d}",
        "start": datetime(year - 1, 1, 1, tzinfo=VN_TZ),
        "end": datetime(as_of.year, as_of.month, as_of.day, tzinfo=VN_TZ) + timedelta(days=1),
    }
    with psycopg.connect(dsn) as connection, connection.cursor(row_factory=dict_rows) as cursor:
        rows = cursor.execute(_TAKEN, params).fetchall()
        rows += cursor.execute(_DELIVERED, params).fetchall()
    return rows


def dict_rows(cursor):
    names = [column.name for column in cursor.description]
    return lambda values: dict(zip(names, values, strict=True))


def expected_figures(
    rows: list[dict], year: int, codes: dict, office_id: int | None = None
) -> dict[tuple, object]:
    """The report's figures from the GROUP BY rows, keyed as `report_figures` keys them;
    `codes[dimension][id]` is the catalogue code of an id."""
    counts: dict[tuple, int] = defaultdict(int)
    timeliness: dict[tuple, Counter] = defaultdict(Counter)
    for row in rows:
        if office_id is not None and row["office_id"] != office_id:
            continue
        current = row["year"] == year
        # This year to date, or last year up to the same day; else the rest of last year.
        period = "actual" if current else "same_period" if row["to_date"] else None
        taken, delivered = row.get("taken", 0), row.get("delivered", 0)
        keys = [(name, codes[name][row[f"{name}_id"]]) for name in DIMENSIONS]
        counts["month", row["year"], row["month"], "delivered"] += delivered
        for metric in (m for m, forms in METRIC_FORMS.items() if row["service_form"] in forms):
            counts["month", row["year"], row["month"], metric] += taken
            counts["metric", metric, "actual" if current else "previous_year"] += taken
            if period == "same_period":
                counts["metric", metric, "same_period"] += taken
            for key in keys if period else ():
                counts[(*key, metric, period)] += taken
            if current:
                counts["metric", metric, "delivered"] += delivered
        judged = {m: row.get(m, 0) for m in ("early", "on_time", "late")}
        for prefix in ([(period,)] if period else []) + (keys if current else []):
            timeliness[prefix].update(judged)
        for key in keys if current else ():
            counts[(*key, "delivered")] += delivered
    figures: dict[tuple, object] = dict(counts)
    for prefix, judged in timeliness.items():
        figures[(*prefix, "on_time_rate")] = _on_time_rate(judged)
    return figures


def _on_time_rate(judged: Counter) -> float | None:
    """(early + on time) / all judged, rounded as the report rounds it; None when none."""
    good = judged["early"] + judged["on_time"]
    if not good + judged["late"]:
        return None
    ratio = Decimal(good) / Decimal(good + judged["late"])
    return float(ratio.quantize(Decimal("0.0001"), ROUND_HALF_UP))


def report_figures(report: dict) -> dict[tuple, object]:
    """The figures of a `build_report` result that the GROUP BY can compute, flat."""
    year = report["year"]
    figures: dict[tuple, object] = {}
    for metric, block in report["metrics"].items():
        for name in ("actual", "delivered", "previous_year", "same_period"):
            figures["metric", metric, name] = block[name]
    for entry in report["months"]:
        for side, of_year in (("current", year), ("previous", year - 1)):
            for name, value in (entry[side] or {}).items():
                figures["month", of_year, entry["month"], name] = value
    for side, period in (("current", "actual"), ("same_period", "same_period")):
        figures[period, "on_time_rate"] = report["on_time_rate"][side]
    for dimension, rows in report["breakdowns"].items():
        for row in rows:
            for metric, values in row["metrics"].items():
                for name in ("actual", "same_period"):
                    figures[dimension, row["code"], metric, name] = values[name]
            figures[dimension, row["code"], "delivered"] = row["delivered"]
            figures[dimension, row["code"], "on_time_rate"] = row["on_time_rate"]
    return figures


def differences(report: dict[tuple, object], expected: dict[tuple, object]) -> list[str]:
    """Every figure that differs; a figure missing on one side is 0 (a rate: None)."""
    found = []
    for key in sorted(set(report) | set(expected), key=repr):
        missing = None if key[-1] == "on_time_rate" else 0
        mine, theirs = report.get(key, missing), expected.get(key, missing)
        if mine != theirs:
            found.append(f"{'/'.join(map(str, key))}: report {mine}, GROUP BY {theirs}")
    return found


# The run ----------------------------------------------------------------------------------------


@dataclass
class Results:
    dossiers: int = 0
    load: reports_copy.LoadStats | None = None
    recompute: list[Timing] | None = None
    rollup_rows: int = 0
    report: Timing | None = None
    filtered: Timing | None = None
    group_by: Timing | None = None
    report_data: dict | None = None
    filtered_data: dict | None = None
    office: tuple[int, str] | None = None
    mismatches: list[str] = field(default_factory=list)
    compared: int = 0
    foreign_cores: dict[str, float] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so that the ExitStack stops what was started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-reports-"))
        url, postmaster = start_postgres(stack, SERVER_SETTINGS)
        env = {"DATABASE_URL": url, "TRACKER_ENV": "development", "BROKER_DIR": work}
        with environment(env):
            from tracker import create_app

            app = create_app()
        watch = CpuWatch()
        watch.roots.add(postmaster)
        with app.app_context():
            results = run(options, plain_url(url), watch)
    print_table(options, results)
    return 1 if results.mismatches else 0


def run(options: argparse.Namespace, dsn: str, watch: CpuWatch) -> Results:
    from flask_migrate import upgrade

    from tracker.extensions import db

    results = Results(options.dossiers)
    upgrade(directory=str(ROOT / "migrations"))
    offices, procedures = reports_data.load_catalogue()
    db.engine.dispose()  # the generator forks: no connection may be shared with the child
    progress(f"generating {options.dossiers:,} dossiers with their events ...")
    watch.start()
    results.load = reports_copy.generate(dsn, offices, procedures, options.dossiers, options.seed)
    results.foreign_cores["load"] = watch.stop()
    progress(_load_line(results.load))
    as_of = local_date(reports_data.NOW)
    fill_rollups(results, watch)
    time_reports(options, results, watch, as_of)
    progress("plain GROUP BY over the dossiers and events ...")
    watch.start()
    seconds, rows = timed(lambda: group_by_rows(dsn, as_of.year, as_of), options.group_by_runs)
    results.foreign_cores["group_by"] = watch.stop()
    results.group_by = Timing("plain GROUP BY over dossiers + events", seconds)
    check_figures(results, rows, as_of)
    return results


def fill_rollups(results: Results, watch: CpuWatch) -> None:
    """The full recompute twice: the first fills the empty rollups, the second finds them right."""
    from tracker.extensions import db
    from tracker.reports.recompute import recompute_all

    results.recompute = []
    for run in ("first, fills the empty rollups", "second, on correct rollups"):
        progress(f"recompute_all(): {run} ...")
        watch.start()
        started = time.perf_counter()
        years = recompute_all()
        seconds = time.perf_counter() - started
        results.foreign_cores[f"recompute ({run.split(',')[0]})"] = watch.stop()
        db.session.remove()
        fixed = sum(year.fixed for year in years)
        label = f"recompute_all(), {run.split(',')[0]}: {fixed:,} rows fixed"
        results.recompute.append(Timing(label, [seconds]))
        progress(f"  {seconds:.1f} s, {fixed:,} rows fixed over {len(years)} years")
    tables = ("daily_counts", "monthly_counts", "daily_totals", "monthly_totals")
    counted = " + ".join(f"(SELECT count(*) FROM {table})" for table in tables)
    results.rollup_rows = db.session.execute(text(f"SELECT {counted}")).scalar_one()
    db.session.remove()


def time_reports(options: argparse.Namespace, results: Results, watch: CpuWatch, as_of) -> None:
    """build_report as a request would run it: a fresh session each call."""
    from tracker.catalogue.models import Office
    from tracker.extensions import db
    from tracker.reports.growth import ReportFilters, build_report

    def call(filters: ReportFilters | None = None) -> dict:
        try:
            return build_report(as_of.year, as_of=as_of, filters=filters)
        finally:
            db.session.remove()

    progress(f"build_report({as_of.year}, as_of={as_of}) x {options.repeat} ...")
    watch.start()
    seconds, results.report_data = timed(call, options.repeat, options.warmup)
    results.foreign_cores["report"] = watch.stop()
    results.report = Timing(f"build_report({as_of.year}, as_of={as_of})", seconds)
    office = db.session.scalar(select(Office).where(Office.code == FILTER_OFFICE))
    results.office = (office.id, office.code)
    db.session.remove()
    seconds, results.filtered_data = timed(lambda: call(ReportFilters(office_id=office.id)), 5, 1)
    results.filtered = Timing(f"build_report, office {FILTER_OFFICE}", seconds)


def check_figures(results: Results, rows: list[dict], as_of: date) -> None:
    """Every figure of both reports (whole province, one office) against the GROUP BY's."""
    from tracker.catalogue.models import Agency, Channel, Office, Procedure, Sector
    from tracker.extensions import db

    codes = {
        name: dict(db.session.execute(select(model.id, model.code)).all())
        for name, model in zip(
            DIMENSIONS, (Channel, Office, Sector, Procedure, Agency), strict=True
        )
    }
    db.session.remove()
    office_id, office_code = results.office
    for label, report, office in (
        ("province", results.report_data, None),
        (f"office {office_code}", results.filtered_data, office_id),
    ):
        found = report_figures(report)
        expected = expected_figures(rows, as_of.year, codes, office)
        results.compared += len(found)
        results.mismatches += [f"{label}: {line}" for line in differences(found, expected)]


# The table --------------------------------------------------------------------------------------


def _load_line(load: reports_copy.LoadStats) -> str:
    return (
        f"generator: {load.dossiers:,} dossiers, {load.events:,} status events and "
        f"{load.documents:,} documents COPYed in {load.copy_seconds:.1f} s "
        f"({load.dossiers / load.copy_seconds:,.0f} dossiers/s, "
        f"{load.events / load.copy_seconds:,.0f} events/s; the database wrote "
        f"{load.writing_seconds / load.copy_seconds:.0%} of that time, the rest it waited for "
        f"the generator); indexes and foreign keys built after it in {load.index_seconds:.1f} s; "
        f"VACUUM ANALYZE {load.vacuum_seconds:.1f} s; total {load.total_seconds:.1f} s "
        f"({load.dossiers / load.total_seconds:,.0f} dossiers/s)"
    )


def print_table(options: argparse.Namespace, results: Results) -> None:
    load = results.load
    as_of = local_date(reports_data.NOW)
    mix = ", ".join(f"{form} {n / load.dossiers:.1%}" for form, n in load.forms.most_common())
    print()
    print(
        f"Growth report, PostgreSQL, {os.cpu_count()} CPUs: {load.dossiers:,} dossiers "
        f"({mix}), {load.events:,} status events, {results.rollup_rows:,} rollup rows; "
        f"year {as_of.year} as of {as_of}"
    )
    print(f"server: {SERVER_SETTINGS}; {durability()}")
    print(_load_line(load))
    header = f"{'':58} {'runs':>5} {'median ms':>10} {'p90 ms':>8} {'min ms':>8} {'max ms':>9}"
    print(header + f" {'x report':>9}")
    print("-" * (len(header) + 10))
    report = results.report.median
    for timing in (results.report, results.filtered, results.group_by, *results.recompute):
        ms = [1000 * value for value in (timing.median, timing.p90, min(timing.seconds))]
        print(
            f"{timing.label:58} {len(timing.seconds):>5} {ms[0]:>10,.1f} {ms[1]:>8,.1f} "
            f"{ms[2]:>8,.1f} {1000 * max(timing.seconds):>9,.1f} {timing.median / report:>9,.1f}"
        )
    verdict = "MET" if report * 1000 <= TARGET_MS else "MISS"
    size = "" if load.dossiers >= TARGET_DOSSIERS else f" (measured with {load.dossiers:,})"
    print(
        f"\ntarget: growth report <= {TARGET_MS:.0f} ms median on PostgreSQL with "
        f"{TARGET_DOSSIERS:,} dossiers: {report * 1000:.1f} ms -> {verdict}{size}"
    )
    print(
        f"ratio: the plain GROUP BY takes {results.group_by.median / report:,.0f} x the report's "
        f"median ({results.group_by.median:.2f} s against {report * 1000:.1f} ms)"
    )
    _print_check(results)
    busy = ", ".join(f"{name} {cores:.2f}" for name, cores in results.foreign_cores.items())
    print(f"processes not started by this run used, of {os.cpu_count()} cores: {busy}")


def _print_check(results: Results) -> None:
    if not results.mismatches:
        print(
            f"figures: MATCH: all {results.compared:,} figures of the two reports (province, "
            f"office {results.office[1]}) equal the GROUP BY's"
        )
        return
    print(f"figures: MISMATCH: {len(results.mismatches):,} of {results.compared:,} differ")
    for line in results.mismatches[:30]:
        print(f"  {line}")


if __name__ == "__main__":
    sys.exit(main())
