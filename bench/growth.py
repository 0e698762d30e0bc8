"""python -m bench.growth --dossiers N: the lookups and the postal feed on one database of N
dossiers, so that runs at 100,000 and at 10,000,000 show whether the cost of an operation grows
with the tables (`make bench-growth` runs both through `bench.run --growth`).

Starts PostgreSQL (durable unless BENCH_FSYNC=off) and Redis, loads N dossiers (`bench.dataset`:
past 200,000, copies made by the database) and the feed's own one-way dossiers, serves the tracker
with gunicorn (2 sync workers, production settings, the lookup limit never reached), then:

- `GET /api/v1/track`, the lookups' traffic (`loads.track_traffic`: Zipf over 100,000 dossiers
  sampled across the whole table, one in ten a miss), closed loop (wrk) and at a constant rate;
- the postal feed, HTTP batches applied by one worker (`bench.feeds.run_pass`).
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
from pathlib import Path

from sqlalchemy import create_engine

from bench import loads
from bench.cpuwatch import CpuWatch
from bench.endpoints import (
    LOOKUP_DOSSIERS,
    TRACK_REQUESTS,
    expected_misses,
    note_statuses,
    progress,
)
from bench.feeds import PASSES, run_pass, worker_env
from bench.feeds_data import prepare
from bench.openloop import run_open_loop
from bench.report import Row, render
from bench.services import (
    HUGE_RATE_LIMIT,
    Gunicorn,
    GunicornSettings,
    durability,
    start_postgres,
    start_redis,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=30_000, help="feed events")
    parser.add_argument("--batch", type=int, default=1_000, help="events per HTTP batch")
    parser.add_argument("--connections", type=int, default=2, help="feed batches posted at once")
    parser.add_argument("--duration", type=float, default=15, help="seconds of the closed loop")
    parser.add_argument("--open-duration", type=float, default=20, help="seconds at the rate")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rate", type=float, default=500, help="constant rate, req/s")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--json", type=Path, help="also write the figures here (bench.run)")
    options = parser.parse_args(argv)
    options.background, options.mix = options.dossiers, "moves"
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tracker-growth-")))
        progress("starting Redis and PostgreSQL")
        redis_url = start_redis(stack)
        database_url, postmaster = start_postgres(stack)
        env = {
            **worker_env(workdir, database_url, redis_url),
            "TRACK_RATE_LIMIT": HUGE_RATE_LIMIT,
        }
        run = PASSES[-1]
        progress(f"loading {options.dossiers:,} dossiers and the feed's own")
        feeds, token, dataset = prepare(options, env, [run.prefix], LOOKUP_DOSSIERS)
        progress(f"loaded in {dataset.seconds:.0f}s")
        full_env = {**os.environ, **env}
        settings = GunicornSettings(workers=2)
        traffic = loads.track_traffic(random.Random(options.seed), dataset.lookups, TRACK_REQUESTS)
        accept = expected_misses(traffic)
        path = loads.write_requests(workdir / "track.requests", traffic)
        engine = create_engine(database_url)
        with Gunicorn(
            "wsgi:app", settings, full_env, workdir / "gunicorn.log", "/readyz"
        ) as server:
            raw = [r.raw(f"127.0.0.1:{server.port}") for r in traffic]
            progress("GET /api/v1/track, closed loop")
            loads.run_wrk(server.port, path, seconds=options.warmup, connections=16, accept=accept)
            watch = CpuWatch()
            watch.roots.add(postmaster)
            watch.start()
            closed = loads.run_wrk(
                server.port, path, seconds=options.duration, connections=16, accept=accept
            )
            watch.stop()
            lookup_cpu_ms = watch.own_seconds * 1000 / closed.requests
            progress(f"GET /api/v1/track at {options.rate:g}/s")
            opened = run_open_loop(
                server.port, raw, rate=options.rate, seconds=options.open_duration, accept=accept
            )
            feed = run_pass(
                options, full_env, engine, server.port, feeds[run.prefix], run, token, workdir,
                postmaster,
            )  # fmt: skip
        engine.dispose()
    note_statuses(closed)
    note_statuses(opened)
    label, count, _, seconds, _, feed_cpu = feed
    size = f"{options.dossiers:,} dossiers"
    print(f"\n{size}; {durability()}\n")
    print(
        render(
            [
                Row(size, f"wrk c=16 {options.duration:g}s", "GET /api/v1/track", closed),
                Row(size, f"{options.rate:g}/s", "GET /api/v1/track", opened),
            ]
        )
    )
    print(f"\nGET /api/v1/track: {lookup_cpu_ms:.2f} ms of CPU per lookup (server, database, wrk)")
    print(f"postal feed, {label}: {count:,} events applied in {seconds:.1f}s, "
          f"{count / seconds:,.0f} events/s, {feed_cpu * 1000 / count:.2f} ms of CPU per event "
          "(gunicorn, worker, database, client)")  # fmt: skip
    if options.json:
        rows = [
            {"what": "GET /api/v1/track, wrk c=16", "figure": closed.rate, "unit": "req/s"},
            {"what": "GET /api/v1/track, CPU per lookup", "figure": lookup_cpu_ms, "unit": "ms"},
            {"what": "GET /api/v1/track p99 at 500/s", "figure": opened.p99, "unit": "ms p99"},
            {"what": f"postal feed ({label})", "figure": count / seconds, "unit": "events/s"},
            {"what": "postal feed, CPU per event", "figure": feed_cpu * 1000 / count, "unit": "ms"},
        ]
        options.json.write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
