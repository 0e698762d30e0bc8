"""python -m bench.lookup_cpu: the worker CPU of one GET /api/v1/track, before and after.

On a shared machine wall-clock figures are noise; the CPU a worker process spends per request is
not. This starts a throwaway PostgreSQL and Redis (tests/servers.py), loads `--dossiers` generated
dossiers (bench/dataset.py), then measures `time.process_time()` per request through the Flask
test client (no gunicorn, no sockets on the client side: what is left is the worker's own work)
for:

- the bare Flask JSON endpoint (bench/bare_app.py), the floor;
- the lookup of the code `--before` (a git ref, exported with `git archive` to a temporary
  directory), the same process shape;
- the lookup of this tree.

Each side runs in its own child process with the production shape of bench/run.py: TRACKER_ENV=
production, Redis as the rate-limit store, TRACK_RATE_LIMIT with a per-minute and a per-hour
window never reached. Lookups are (code, secret) pairs of the dataset, 10% with a wrong secret.
The three sides run in turn `--rounds` times, so that a drift of the machine hits them alike; the
median round of each is printed, in microseconds of CPU per request, with a cProfile (timed by
CPU) of this tree's lookup: top 20 by own time, top 40 by cumulative time.
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The code before the one-round-trip limiter and the leaner query.
DEFAULT_BEFORE = "20d1199"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lookup_cpu", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=3000, help="lookups measured per side")
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git ref of the code before")
    parser.add_argument(
        "--rounds", type=int, default=3, help="bare, before, after in turn, this many times"
    )
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: measure, print JSON
    return parser.parse_args(argv)


def cpu_per_request(client, paths: list[str], profile: bool = False) -> tuple[float, str]:
    """Microseconds of this process's CPU per GET of `paths` (after a warm-up), and a profile."""
    for path in paths[:200]:
        client.get(path)
    # Timed by CPU, not wall clock: waits on PostgreSQL and Redis are not the worker's work.
    profiler = cProfile.Profile(time.process_time) if profile else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    for path in paths:
        client.get(path)
    if profiler:
        profiler.disable()
    spent = time.process_time() - started
    text = ""
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(40)
        text = out.getvalue()
    return spent / len(paths) * 1e6, text


def child(spec: str) -> None:
    """Measure one side (run in a child process whose `tracker` is the side's code)."""
    task = json.loads(Path(spec).read_text())
    if task["side"] == "bare":
        sys.path.insert(0, str(ROOT / "bench"))
        from bare_app import app

        paths = ["/status"] * task["requests"]
    else:
        from tracker import create_app

        app = create_app()
        paths = task["paths"]
    client = app.test_client()
    with app.app_context():
        micros, _ = cpu_per_request(client, paths)
        statuses = sorted({client.get(path).status_code for path in paths[:50]})
        profile = cpu_per_request(client, paths, profile=True)[1] if task["profile"] else ""
    print(json.dumps({"micros": micros, "statuses": statuses, "profile": profile}))


def run_side(
    side: str, code_dir: Path, env: dict[str, str], paths: list[str], args, profile: bool
) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump(
            {"side": side, "paths": paths, "requests": args.requests, "profile": profile}, spec
        )
    child_env = {**os.environ, **env, "PYTHONPATH": str(code_dir)}
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "lookup_cpu.py"), "--child", spec.name],
            cwd=code_dir,
            env=child_env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(spec.name)
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def lookup_paths(lookups: list[tuple[str, str]], count: int, seed: int) -> list[str]:
    """`count` lookups of the sampled pairs, one in ten with a wrong secret."""
    from urllib.parse import urlencode

    rng = random.Random(seed)
    paths = []
    for _ in range(count):
        code, secret = rng.choice(lookups)
        if rng.random() < 0.1:
            secret = "AAAAA-AAAAA"
        paths.append("/api/v1/track?" + urlencode({"code": code, "secret": secret}))
    return paths


def median_round(done: list[dict]) -> dict:
    return sorted(done, key=lambda result: result["micros"])[len(done) // 2]


def export(ref: str, into: Path) -> Path:
    """The tree of `ref` in `into` (no worktree, no checkout: `git archive`)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    from flask_migrate import upgrade

    from bench.dataset import load_dataset
    from bench.services import environment, production_env, start_postgres, start_redis
    from tracker import create_app
    from tracker.extensions import db

    with contextlib.ExitStack() as stack:
        database_url, _ = start_postgres(stack)
        env = production_env(database_url, start_redis(stack))
        with environment(env):
            app = create_app()
            with app.app_context():
                upgrade(directory=str(ROOT / "migrations"))
                dataset = load_dataset(args.dossiers, args.seed)
                db.engine.dispose()
        print(f"{dataset.dossiers:,} dossiers, {dataset.events:,} events on PostgreSQL")
        paths = lookup_paths(dataset.lookups, args.requests, args.seed)
        before_dir = export(args.before, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        sides = {"bare": ROOT, "before": before_dir, "after": ROOT}
        rounds: dict[str, list[dict]] = {side: [] for side in sides}
        for number in range(args.rounds):
            for side, code_dir in sides.items():
                last = number == args.rounds - 1
                rounds[side].append(
                    run_side(side, code_dir, env, paths, args, last and side == "after")
                )
                print(f"round {number + 1}: {side} {rounds[side][-1]['micros']:.0f} us")
    results = {side: median_round(done) for side, done in rounds.items()}
    results["after"]["profile"] = rounds["after"][-1]["profile"]
    bare = results["bare"]["micros"]
    print(
        f"\nCPU per request, median of {args.rounds} rounds of {args.requests:,} requests "
        "(Flask test client, one process):"
    )
    for side, label in (
        ("bare", "bare Flask JSON endpoint"),
        ("before", f"GET /api/v1/track at {args.before}"),
        ("after", "GET /api/v1/track, this tree"),
    ):
        micros = results[side]["micros"]
        statuses = results[side]["statuses"]
        print(f"  {label:<40} {micros:8.0f} us  ({bare / micros:.2f} x bare)  statuses {statuses}")
    print("\ncProfile of this tree's lookup (top 20 by own time):")
    print(results["after"]["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
