"""python -m bench.intake_cpu: what one `POST /api/v1/dossiers` costs, in process.

On a shared machine a wall-clock rate is noise; the CPU an intake costs is not. This starts a
throwaway PostgreSQL and Redis (`bench.services`), builds the schema from the migrations, loads
the catalogue and a few thousand dossiers (`bench.dataset`), makes the app in its production
shape (as `bench.run` serves it: TRACKER_ENV=production, the rate limiter on with limits never
reached), and POSTs generated intakes (`bench.loads.create_requests`) through Flask's test
client. It prints, per dossier: the CPU of this process (Flask, the operations, SQLAlchemy,
psycopg; `time.process_time`), the CPU of the PostgreSQL backends, the statements sent (round
trips, counted by a `before_cursor_execute` listener; an executemany counts once), which
statements they were, and a cProfile top 25 of a separate run.

`--against <other tree>` compares two versions of the code in the same conditions: one
PostgreSQL and Redis, then rounds in which each tree (this one and the other, e.g. a
`git archive` of the commit before a change) measures in a process of its own on a fresh
database, alternately; it prints each round and the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench import loads
from bench.dataset import load_dataset
from bench.services import ROOT, environment, production_env, start_postgres, start_redis

_TICKS = os.sysconf("SC_CLK_TCK")
CALLS_COUNTED = 100  # intakes whose Python calls are counted


def _children_cpu(parent: int) -> float:
    """CPU seconds (user + system) of the live processes whose parent is `parent`."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def _shape(statement: str) -> str:
    """A statement's first words, its literals left out: what kind of round trip it was."""
    words = re.sub(r"\s+", " ", statement).strip()
    return re.sub(r"%\(\w+\)s|\$\d+|'[^']*'|\d+", "?", words)[:90]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.intake_cpu", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=3000, help="dossiers loaded first")
    parser.add_argument("--requests", type=int, default=1000, help="intakes measured")
    parser.add_argument("--profiled", type=int, default=400, help="intakes under cProfile")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--against", type=Path, help="another tree to compare with, alternately")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of a comparison")
    # A comparison's measuring processes: the servers are the parent's.
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--postmaster", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.database_url:
        with environment(production_env(options.database_url, options.redis_url)):
            result = run(options, options.postmaster, quiet=True)
        print("RESULT " + json.dumps(result))
        return 0
    with contextlib.ExitStack() as stack:
        database_url, postmaster = start_postgres(stack)
        redis_url = start_redis(stack)
        if options.against:
            compare(options, database_url, redis_url, postmaster)
        else:
            with environment(production_env(database_url, redis_url)):
                run(options, postmaster)
    return 0


def compare(options: argparse.Namespace, database_url: str, redis_url: str, postmaster: int):
    """Each tree in a process of its own on a fresh database, alternately, `rounds` times."""
    import psycopg

    from bench.services import plain_url

    trees = {"this tree": ROOT, "other tree": options.against.resolve()}
    results: dict[str, list[dict]] = {name: [] for name in trees}
    for number in range(options.rounds):
        for name, tree in trees.items():
            database = f"round{number}_{'this' if tree == ROOT else 'other'}"
            with psycopg.connect(plain_url(database_url), autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {database}")
            url = database_url.rsplit("/", 1)[0] + "/" + database
            command = [
                sys.executable,
                "-m",
                "bench.intake_cpu",
                *("--database-url", url, "--redis-url", redis_url),
                *("--postmaster", str(postmaster)),
                *("--dossiers", str(options.dossiers), "--requests", str(options.requests)),
                *("--warmup", str(options.warmup), "--seed", str(options.seed)),
            ]
            env = {**os.environ, "PYTHONPATH": str(tree)}
            done = subprocess.run(
                command, cwd=tree, env=env, capture_output=True, text=True, check=False
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode or not lines:
                raise SystemExit(f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            result = json.loads(lines[-1][len("RESULT ") :])
            results[name].append(result)
            print(f"round {number + 1} {name:10} " + _line(result), flush=True)
    for name, rounds in results.items():
        medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        print(f"median     {name:10} " + _line(medians))


def _line(result: dict) -> str:
    return (
        f"worker CPU {result['cpu_ms']:5.2f} ms, PostgreSQL CPU {result['pg_ms']:5.2f} ms, "
        f"round trips {result['round_trips']:5.2f}, Python calls {result['calls']:7.0f} "
        f"per dossier"
    )


def run(options: argparse.Namespace, postmaster: int, *, quiet: bool = False) -> dict:
    from flask_migrate import upgrade
    from sqlalchemy import event

    from tracker import create_app
    from tracker.extensions import db

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        dataset = load_dataset(options.dossiers, options.seed)
        db.engine.dispose()
    rng = random.Random(options.seed)
    total = options.warmup + options.requests + CALLS_COUNTED + options.profiled
    requests = loads.create_requests(
        rng, dataset.catalogue, dataset.clerks, total, first_serial=30_000_000
    )
    client = app.test_client()

    def post(request: loads.Request) -> None:
        response = client.post(
            request.path,
            data=request.body.encode(),
            headers={
                "Authorization": f"Bearer {request.token}",
                "Content-Type": "application/json",
            },
        )
        if response.status_code != 201:
            raise SystemExit(f"{response.status_code}: {response.get_data(as_text=True)}")

    warm, measured = requests[: options.warmup], requests[options.warmup :]
    counted = measured[options.requests : options.requests + CALLS_COUNTED]
    profiled = measured[options.requests + CALLS_COUNTED :]
    measured = measured[: options.requests]
    for request in warm:
        post(request)

    statements: Counter[str] = Counter()
    with app.app_context():
        engine = db.engine

    def count(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        statements[_shape(statement)] += 1

    event.listen(engine, "before_cursor_execute", count)
    pg_before = _children_cpu(postmaster)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    for request in measured:
        post(request)
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    pg = _children_cpu(postmaster) - pg_before
    event.remove(engine, "before_cursor_execute", count)

    n = len(measured)
    calls = _calls(counted, post)
    result = {
        "cpu_ms": cpu / n * 1000,
        "pg_ms": pg / n * 1000,
        "round_trips": sum(statements.values()) / n,
        "calls": calls,
    }
    if quiet:
        return result
    print(f"intakes measured: {n} (after {len(warm)} warm-up), {options.dossiers:,} loaded")
    print(f"worker CPU per dossier:     {cpu / n * 1000:6.2f} ms")
    print(f"PostgreSQL CPU per dossier: {pg / n * 1000:6.2f} ms")
    print(f"wall per dossier:           {wall / n * 1000:6.2f} ms (noise on a shared machine)")
    print(f"round trips per dossier:    {sum(statements.values()) / n:6.2f}")
    print(f"Python calls per dossier:   {calls:6.0f}")
    for shape, times in statements.most_common():
        print(f"  {times / n:5.2f}  {shape}")

    # CPU time, not wall time: waits on the database are not this process's cost.
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for request in profiled:
        post(request)
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(r"tracker|flask_smorest|webargs", 25)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_callees(
        r"create_dossier|_check_intake|insert_dossier|allocate_code_checking"
    )
    print(f"cProfile over {len(profiled)} intakes:")
    print(out.getvalue())
    return result


def _calls(requests: list, post) -> float:
    """Python function calls per intake: a cost that the machine's load does not blur."""
    profile = cProfile.Profile()
    profile.enable()
    for request in requests:
        post(request)
    profile.disable()
    return pstats.Stats(profile).total_calls / len(requests)


if __name__ == "__main__":
    raise SystemExit(main())
