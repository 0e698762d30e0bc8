"""python -m bench.endpoints: the HTTP endpoints' benchmark (see bench/README.md).

Starts Redis, a bare Flask baseline under gunicorn, then per backend a fresh database (PostgreSQL
started here, or an SQLite file), the schema from the migrations, N generated dossiers and the
tracker under the same gunicorn settings; runs the loads; prints one table; stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import loads
from bench.cpuwatch import CpuWatch
from bench.dataset import Dataset, load_dataset
from bench.openloop import run_open_loop
from bench.report import Measurement, Row, render
from bench.services import (
    ROOT,
    Gunicorn,
    GunicornSettings,
    environment,
    production_env,
    start_postgres,
    start_redis,
)

BENCHMARKS = ("track", "staff", "create")
# The lookups' traffic: codes drawn with a Zipf law over this many dossiers (`loads.track_traffic`).
LOOKUP_DOSSIERS = 100_000
TRACK_REQUESTS = 200_000
BACKENDS = ("postgresql", "sqlite")
THROUGHPUT_RATIO_TARGET = 0.5
P99_TARGET_MS = 25.0
CREATE_TARGET_PER_S = 300.0
# Other processes using this much CPU (in cores) during a measurement get a note in the table.
FOREIGN_CORES_NOTED = 0.1


@dataclass
class Options:
    dossiers: int
    seconds: float
    open_seconds: float
    warmup: float
    rate: float
    connections: int
    open_connections: int
    benchmarks: tuple[str, ...]
    backends: tuple[str, ...]
    gunicorn: GunicornSettings
    limiter: bool
    seed: int
    json: Path | None = None


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.endpoints", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=100_000, help="dossiers to generate")
    parser.add_argument(
        "--duration", type=float, default=15, help="seconds of each closed-loop (wrk) measurement"
    )
    parser.add_argument(
        "--open-duration", type=float, default=20, help="seconds of each constant-rate measurement"
    )
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before each")
    parser.add_argument("--rate", type=float, default=500, help="constant rate, requests/s")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--open-connections",
        type=int,
        default=64,
        help="connection pool of the constant-rate generator",
    )
    parser.add_argument(
        "--benchmarks",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {','.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"comma-separated subset of {','.join(BACKENDS)}",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--worker-class",
        default="sync",
        choices=("sync", "gthread"),
        help="sync (default): see bench/README.md for why",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads per gthread worker")
    parser.add_argument(
        "--no-limiter",
        action="store_true",
        help="RATELIMIT_ENABLED=0, which production refuses: the tracker then runs with "
        "TRACKER_ENV=development (default: production, limiter on with Redis storage and a "
        "limit never reached)",
    )
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument(
        "--json", type=Path, help="also write the rows here, for `bench.run`'s summary table"
    )
    args = parser.parse_args(argv)
    benchmarks = _subset(parser, "--benchmarks", args.benchmarks, BENCHMARKS)
    backends = _subset(parser, "--backends", args.backends, BACKENDS)
    return Options(
        args.dossiers,
        args.duration,
        args.open_duration,
        args.warmup,
        args.rate,
        args.connections,
        args.open_connections,
        benchmarks,
        backends,
        GunicornSettings(args.workers, args.worker_class, args.threads),
        not args.no_limiter,
        args.seed,
        args.json,
    )


def _subset(
    parser: argparse.ArgumentParser, flag: str, value: str, allowed: tuple[str, ...]
) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [part for part in chosen if part not in allowed]
    if unknown or not chosen:
        parser.error(f"{flag}: choose from {', '.join(allowed)}")
    return chosen


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Runner:
    """Runs the loads of one invocation and collects the table's rows."""

    def __init__(self, options: Options, workdir: Path, redis_url: str) -> None:
        self.options = options
        self.workdir = workdir
        self.redis_url = redis_url
        self.rows: list[Row] = []
        self.bare_closed: list[Measurement] = []
        self.rng = random.Random(options.seed)
        self.watch = CpuWatch()
        # Lines printed above the table: what was loaded where.
        self.context: list[str] = []

    # ---- loads ---------------------------------------------------------------------------

    def watched(self, load: Callable[[], Measurement]) -> Measurement:
        """Run `load`, noting how much CPU other processes on the machine took meanwhile."""
        self.watch.start()
        measured = load()
        measured.foreign_cores = self.watch.stop()
        if measured.foreign_cores >= FOREIGN_CORES_NOTED:
            measured.notes.append(
                f"processes not started by this run used {measured.foreign_cores:.2f} of "
                f"{os.cpu_count()} cores meanwhile: figures pessimistic"
            )
        return measured

    def closed(self, server: Gunicorn, name: str, requests: list[loads.Request]) -> Measurement:
        o = self.options
        path = loads.write_requests(self.workdir / f"{name}.requests", requests)
        accept = expected_misses(requests)
        if o.warmup:
            loads.run_wrk(
                server.port, path, seconds=o.warmup, connections=o.connections, accept=accept
            )
        return self.watched(
            lambda: loads.run_wrk(
                server.port, path, seconds=o.seconds, connections=o.connections, accept=accept
            )
        )

    def open(self, server: Gunicorn, requests: list[loads.Request]) -> Measurement:
        o = self.options
        raw = [r.raw(f"127.0.0.1:{server.port}") for r in requests]
        accept = expected_misses(requests)
        if o.warmup:
            run_open_loop(
                server.port,
                raw,
                rate=o.rate,
                seconds=o.warmup,
                connections=o.open_connections,
                accept=accept,
            )
        measured = self.watched(
            lambda: run_open_loop(
                server.port,
                raw,
                rate=o.rate,
                seconds=o.open_seconds,
                connections=o.open_connections,
                accept=accept,
            )
        )
        if measured.send_lag_p99 is not None and measured.send_lag_p99 > 5:
            measured.notes.append(
                f"requests went out late (send lag p99 "
                f"{measured.send_lag_p99:.1f} ms): counted in the latency"
            )
        return measured

    @property
    def closed_label(self) -> str:
        return f"wrk c={self.options.connections} {self.options.seconds:g}s"

    @property
    def open_label(self) -> str:
        return f"{self.options.rate:g}/s for {self.options.open_seconds:g}s"

    # ---- the baseline ----------------------------------------------------------------------

    def run_bare(self, *, again: bool = False) -> None:
        """The baseline: closed loop (and, the first time, the constant rate). Measured again at
        the end, so that a machine whose speed drifted during the run shows it; the ratios use
        the mean of the two closed-loop figures."""
        progress(f"bare Flask baseline under {self.options.gunicorn.describe()}")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        log = self.workdir / "gunicorn-bare.log"
        with Gunicorn("bench.bare_app:app", self.options.gunicorn, env, log, "/status") as server:
            requests = loads.bare_requests()
            closed = self.closed(server, "bare", requests)
            self.bare_closed.append(closed)
            label = "bare GET /status" + (" (again)" if again else "")
            self.rows.append(Row("-", self.closed_label, label, closed, vs_bare=True))
            if not again:
                self.rows.append(Row("-", self.open_label, label, self.open(server, requests)))

    def finish(self) -> None:
        """Ratios against the bare app, once its throughput is known."""
        if not self.bare_closed:
            return
        bare = sum(m.rate for m in self.bare_closed) / len(self.bare_closed)
        for row in self.rows:
            if row.vs_bare and bare:
                row.ratio = row.measurement.rate / bare
                if row.backend != "-":
                    row.passed = row.ratio >= THROUGHPUT_RATIO_TARGET

    # ---- one backend ---------------------------------------------------------------------

    def run_backend(self, backend: str) -> None:
        with contextlib.ExitStack() as stack:
            if backend == "postgresql":
                progress("starting PostgreSQL")
                database_url, postmaster = start_postgres(stack)
                self.watch.roots.add(postmaster)
            else:
                database_url = f"sqlite:///{self.workdir / 'bench.sqlite3'}"
            env = self.tracker_env(database_url)
            dataset = self.load(env, backend)
            server = stack.enter_context(
                Gunicorn(
                    "wsgi:app",
                    self.options.gunicorn,
                    {**os.environ, **env},
                    self.workdir / f"gunicorn-{backend}.log",
                    "/readyz",
                )
            )
            try:
                self.run_loads(backend, server, dataset)
            except Exception:
                progress(f"gunicorn log tail:\n{server.log_tail()}")
                raise

    def tracker_env(self, database_url: str) -> dict[str, str]:
        return production_env(database_url, self.redis_url, limiter=self.options.limiter)

    def load(self, env: dict[str, str], backend: str) -> Dataset:
        from flask_migrate import upgrade

        from tracker import create_app
        from tracker.extensions import db

        progress(f"{backend}: schema from the migrations, then {self.options.dossiers:,} dossiers")
        with environment(env):
            app = create_app()
            with app.app_context():
                upgrade(directory=str(ROOT / "migrations"))
                dataset = load_dataset(
                    self.options.dossiers, self.options.seed, lookup_samples=LOOKUP_DOSSIERS
                )
                db.engine.dispose()
        loaded = (
            f"{backend}: {dataset.dossiers:,} dossiers, {dataset.events:,} status events, "
            f"{dataset.documents:,} documents loaded in {dataset.seconds:.1f}s; "
            f"{len(dataset.lookups):,} (code, secret) pairs and "
            f"{len(dataset.staff_views):,} (clerk token, code) pairs queried"
        )
        progress(loaded)
        self.context.append(loaded)
        return dataset

    def run_loads(self, backend: str, server: Gunicorn, dataset: Dataset) -> None:
        benchmarks = self.options.benchmarks
        if "track" in benchmarks:
            progress(f"{backend}: GET /api/v1/track")
            traffic = loads.track_traffic(self.rng, dataset.lookups, TRACK_REQUESTS)
            self.compare(backend, server, "track", "GET /api/v1/track", traffic)
        if "staff" in benchmarks:
            progress(f"{backend}: GET /api/v1/dossiers/{{code}} (bearer token, audited)")
            self.compare(
                backend,
                server,
                "staff",
                "GET /api/v1/dossiers/{code}",
                loads.staff_view_requests(dataset.staff_views),
            )
        if "create" in benchmarks:
            progress(f"{backend}: POST /api/v1/dossiers")
            self.create(backend, server, dataset)

    def compare(
        self,
        backend: str,
        server: Gunicorn,
        name: str,
        endpoint: str,
        requests: list[loads.Request],
    ) -> None:
        """Throughput against the bare app's, then latency at the constant rate."""
        closed = self.closed(server, f"{backend}-{name}", requests)
        note_statuses(closed)
        target = f">= {THROUGHPUT_RATIO_TARGET:g} x bare"
        self.rows.append(
            Row(backend, self.closed_label, endpoint, closed, target=target, vs_bare=True)
        )
        opened = self.open(server, requests)
        note_statuses(opened)
        self.rows.append(
            Row(
                backend,
                self.open_label,
                endpoint,
                opened,
                target=f"p99 <= {P99_TARGET_MS:g} ms",
                passed=opened.p99 <= P99_TARGET_MS and opened.errors == 0,
            )
        )

    def create(self, backend: str, server: Gunicorn, dataset: Dataset) -> None:
        o = self.options
        # Enough unique bodies for any plausible rate: a repeated postal item would answer 409.
        count = int(2000 * (o.seconds + o.warmup))
        requests = loads.create_requests(
            self.rng, dataset.catalogue, dataset.clerks, count, first_serial=30_000_000
        )
        half = len(requests) * o.warmup // (o.seconds + o.warmup) if o.warmup else 0
        warm = loads.write_requests(self.workdir / "create-warmup.requests", requests[: int(half)])
        path = loads.write_requests(self.workdir / "create.requests", requests[int(half) :])
        if o.warmup:
            loads.run_wrk(server.port, warm, seconds=o.warmup, connections=o.connections)
        measured = self.watched(
            lambda: loads.run_wrk(server.port, path, seconds=o.seconds, connections=o.connections)
        )
        self.rows.append(
            Row(
                backend,
                self.closed_label,
                "POST /api/v1/dossiers",
                measured,
                target=f">= {CREATE_TARGET_PER_S:g} created/s",
                passed=measured.rate >= CREATE_TARGET_PER_S,
            )
        )


def note_statuses(measured: Measurement) -> None:
    """Say how many answers were the 404s the traffic asked for."""
    misses = measured.statuses.get(404, 0)
    if misses:
        total = sum(measured.statuses.values())
        measured.notes.append(f"{misses:,} of {total:,} answers were 404 ({misses / total:.1%})")


def expected_misses(requests: list[loads.Request]) -> frozenset[int]:
    """The error statuses the traffic asks for (a lookup of an unknown code expects its 404)."""
    return frozenset(r.expect for r in requests if r.expect >= 400)


def header(options: Options) -> str:
    if options.limiter:
        mode = (
            "TRACKER_ENV=production (random 64-char SECRET_KEY); rate limiter ON, Redis "
            "storage, TRACK_RATE_LIMIT huge (its cost measured, never reached)"
        )
    else:
        mode = "TRACKER_ENV=development; rate limiter OFF (RATELIMIT_ENABLED=0)"
    return "\n".join(
        (
            f"tracker benchmark: {options.dossiers:,} dossiers per backend; "
            f"{os.cpu_count()} CPU cores shared by server, databases and load generators",
            f"server: {options.gunicorn.describe()} on 127.0.0.1, {mode}",
            f"closed loop = wrk, {options.connections} keep-alive connections, back to back "
            f"(max throughput; its latencies are those of a saturated server)",
            f"open loop = constant {options.rate:g} req/s, latency from each request's due time "
            f"(no coordinated omission), pool of {options.open_connections} connections",
        )
    )


def summary(runner: Runner) -> list[dict]:
    """The rows `bench.run`'s table keeps: each target's figure beside its floor (the bare app)."""
    bare = runner.bare_closed and sum(m.rate for m in runner.bare_closed) / len(runner.bare_closed)
    out = []
    for row in runner.rows:
        if row.backend == "-" or not row.target:
            continue
        m = row.measurement
        entry = {
            "backend": row.backend,
            "what": f"{row.endpoint} ({row.load})",
            "target": row.target,
            "met": row.passed,
            "errors": m.errors,
            "notes": m.notes,
        }
        if row.target.startswith("p99"):
            entry.update(figure=m.p99, unit="ms p99", floor=None, floor_label="")
        else:
            entry.update(
                figure=m.rate,
                unit="req/s" if row.vs_bare else "created/s",
                floor=bare or None,
                floor_unit="req/s",
                floor_label="bare Flask GET /status, same gunicorn",
            )
        out.append(entry)
    return out


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    loads.find_wrk()
    # A SIGTERM unwinds like Ctrl-C, so that the ExitStack stops what was started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tracker-bench-")))
        progress("starting Redis")
        runner = Runner(options, workdir, start_redis(stack))
        try:
            runner.run_bare()
            for backend in options.backends:
                runner.run_backend(backend)
            runner.run_bare(again=True)
        except KeyboardInterrupt:
            progress("interrupted: stopping what was started")
            return 130
        finally:
            runner.finish()
            if runner.rows:
                print()
                print(header(options))
                print("\n".join(runner.context))
                print()
                print(render(runner.rows))
                print(f"\n(total {time.monotonic() - started:.0f}s)")
                if options.json:
                    options.json.write_text(json.dumps(summary(runner)))
    # A MISS is a finding, not a failed run: the exit status only says whether the run completed.
    return 0


if __name__ == "__main__":
    sys.exit(main())
