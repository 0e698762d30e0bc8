"""python -m bench.feeds: postal feed throughput end to end, on PostgreSQL.

Starts PostgreSQL and Redis, loads a province's catalogue and background dossiers
(`bench.dataset`), then one-way dossiers carrying item numbers (`bench.feeds_data`); serves the
tracker with gunicorn and runs ONE Celery worker process (solo pool). The feed's batches go in
over HTTP; the clock stops when the worker has applied every event in the database. Two runs,
on dossiers of their own: the worker consuming every queue, so that it also delivers the SMS
the feed causes (as `make run`'s worker), then consuming `tracker` only (as `make worker`: the
notices wait on their own queue for `make worker-deliveries`). The status events of the second
run are then inserted again raw, in one executemany into `status_events` itself (rolled back),
for the ratio. One table is printed.

`--profile` skips HTTP and the worker: the task's body runs in this process under cProfile.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import json
import os
import pstats
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData, Table, create_engine, insert, text

from bench.cpuwatch import CpuWatch
from bench.feeds_data import prepare
from bench.services import (
    ROOT,
    Gunicorn,
    GunicornSettings,
    durability,
    environment,
    start_postgres,
    start_redis,
)
from tracker import webhooks

TARGET_PER_S = 5000.0
TARGET_RATIO = 0.25


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.feeds", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="feed events in all")
    parser.add_argument("--batch", type=int, default=5_000, help="events per HTTP batch")
    parser.add_argument("--connections", type=int, default=2, help="batches posted at once")
    parser.add_argument(
        "--background", type=int, default=50_000, help="other dossiers already in the database"
    )
    parser.add_argument(
        "--mix",
        choices=("moves", "tracking"),
        default="moves",
        help="moves: every event moves a dossier (out for delivery, delivered); tracking: an "
        "item's full scan history (4 informational scans, out for delivery, delivered)",
    )
    parser.add_argument("--profile", action="store_true", help="apply in-process under cProfile")
    parser.add_argument("--keep-logs", type=Path, help="copy the worker's and gunicorn's logs here")
    parser.add_argument(
        "--json", type=Path, help="also write the figures here, for `bench.run`'s summary table"
    )
    parser.add_argument("--seed", type=int, default=2017)
    return parser.parse_args(argv)


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- runs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pass:
    """One measured run: which Celery app the single worker runs, which queues it consumes."""

    label: str
    prefix: str
    app: str
    queues: str


PASSES = (
    # As `make run`'s worker: every queue, so the worker also delivers the SMS the feed causes.
    Pass(
        "1 worker, also delivering the notifications",
        "S",
        "workers.main",
        "tracker,notifications,status_out",
    ),
    # As `make worker` runs it: the notices wait on their own queue for `make worker-deliveries`.
    Pass("1 worker, notifications delivered elsewhere", "A", "workers.main", "tracker"),
)


def start_worker(stack: contextlib.ExitStack, env: dict, log: Path, run: Pass) -> Path:
    """One `celery worker` process, solo pool (a single process does all the applying)."""
    command = [
        sys.executable, "-m", "celery", "-A", run.app, "worker", "--pool", "solo",
        "-Q", run.queues, "--loglevel", "INFO", "--without-mingle", "--without-gossip",
        "--hostname", f"bench-{run.prefix}@%h",
    ]  # fmt: skip
    handle = stack.enter_context(log.open("ab"))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=handle)
    stack.callback(_stop, process)
    deadline = time.monotonic() + 60
    while b"ready." not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"celery worker did not start: {log.read_text()[-3000:]}")
        time.sleep(0.1)
    return log


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def post_all(
    port: int, token: str, secret: str, bodies: list[bytes], connections: int
) -> list[int]:
    """POST every batch signed, as the post would (keep-alive, `connections` at once); their
    batch ids."""

    def poster(share: list[bytes]) -> list[int]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        ids = []
        for body in share:
            signature = webhooks.sign(secret, f"msg_{secrets.token_hex(12)}", body)
            connection.request(
                "POST", "/api/v1/feeds/postal", body=body, headers={**headers, **signature}
            )
            response = connection.getresponse()
            answer = json.loads(response.read())
            if response.status != 202 or answer["refused"]:
                raise RuntimeError(f"batch refused: {response.status} {str(answer)[:500]}")
            ids.append(answer["batch_id"])
        connection.close()
        return ids

    shares = [bodies[k::connections] for k in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        return [i for ids in pool.map(poster, shares) for i in ids]


def wait_applied(engine, batch_ids: list[int], log: Path, timeout: float = 900) -> None:
    query = text(
        "SELECT count(*) FROM feed_batches WHERE processed_at IS NOT NULL AND id = ANY(:ids)"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.scalar(query, {"ids": batch_ids}) == len(batch_ids):
                return
        time.sleep(0.02)
    raise RuntimeError(f"not applied after {timeout}s; worker log:\n{log.read_text()[-3000:]}")


def outcome_counts(engine, batch_ids: list[int]) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT state, count(*) FROM feed_events WHERE batch_id = ANY(:ids) GROUP BY state"
            ),
            {"ids": batch_ids},
        )
        return dict(rows.all())


def raw_insert(engine, prefix: str) -> tuple[int, float]:
    """The status events one pass wrote, inserted again raw (one executemany, as SQLAlchemy
    Core sends it) into `status_events` itself, under another source, then rolled back."""
    with engine.connect() as connection:
        rows = [
            {**row._mapping, "source": "bench_raw"}
            for row in connection.execute(
                text("SELECT * FROM status_events WHERE source_event_id LIKE :p ORDER BY id"),
                {"p": f"{prefix}-%"},
            )
        ]
        for row in rows:
            del row["id"]
        table = Table("status_events", MetaData(), autoload_with=connection)
        connection.commit()
        started = time.perf_counter()
        connection.execute(insert(table), rows)
        seconds = time.perf_counter() - started
        connection.rollback()
    return len(rows), seconds


def run_http(
    options, env, feeds: dict[str, list[dict]], token: str, workdir: Path, postmaster: int
) -> list:
    settings = GunicornSettings(workers=2)
    full_env = {**os.environ, **env}
    engine = create_engine(env["DATABASE_URL"])
    with Gunicorn("wsgi:app", settings, full_env, workdir / "gunicorn.log", "/readyz") as server:
        rows = [
            run_pass(
                options,
                full_env,
                engine,
                server.port,
                feeds[run.prefix],
                run,
                token,
                workdir,
                postmaster,
            )
            for run in PASSES
        ]
    count, raw_seconds = raw_insert(engine, PASSES[-1].prefix)
    engine.dispose()
    return [*rows, ("raw INSERT of the same status events (baseline)", count, raw_seconds)]


def run_pass(
    options,
    env: dict[str, str],
    engine,
    port: int,
    events: list[dict],
    run: Pass,
    token: str,
    workdir: Path,
    postmaster: int,
) -> tuple:
    """One measured pass: its batches POSTed to the tracker on `port`, applied by `run`'s worker;
    (label, events, seconds to take them in, seconds until applied, foreign cores, CPU seconds
    of this run's processes)."""
    watch = CpuWatch()
    # PostgreSQL's postmaster detaches from this process: its CPU is this run's too.
    watch.roots.add(postmaster)
    bodies = [
        json.dumps({"events": events[k : k + options.batch]}).encode()
        for k in range(0, len(events), options.batch)
    ]
    with contextlib.ExitStack() as worker:
        log = start_worker(worker, env, workdir / f"worker-{run.prefix}.log", run)
        progress(f"{run.label}: {len(events):,} events in {len(bodies)} batches")
        watch.start()
        started = time.perf_counter()
        batch_ids = post_all(port, token, env["FEED_POSTAL_SECRET"], bodies, options.connections)
        intake = time.perf_counter() - started
        wait_applied(engine, batch_ids, log)
        total = time.perf_counter() - started
        foreign = watch.stop()
    if getattr(options, "keep_logs", None):
        (options.keep_logs / log.name).write_bytes(log.read_bytes())
    progress(f"outcomes: {outcome_counts(engine, batch_ids)}")
    return (run.label, len(events), intake, total, foreign, watch.own_seconds)


def run_profile(options, env, events) -> None:
    from tracker import create_app
    from tracker.extensions import db
    from tracker.feeds import operations
    from tracker.feeds.schemas import check_events
    from workers.feeds import apply_batch

    with environment(env):
        app = create_app()
        with app.app_context():
            batch_ids = []
            started = time.perf_counter()
            for k in range(0, len(events), options.batch):
                valid, _ = check_events("postal", enumerate(events[k : k + options.batch]))
                batch = operations.receive_batch("postal", valid, refused=0, submitted_by=None)
                db.session.commit()
                batch_ids.append(batch.id)
            intake = time.perf_counter() - started
            # The first half plain (the honest in-process figure), the second half profiled.
            half = len(batch_ids) // 2
            started = time.perf_counter()
            for batch_id in batch_ids[:half]:
                apply_batch.run(batch_id)
                db.session.commit()
            plain = time.perf_counter() - started
            profile = cProfile.Profile()
            profile.enable()
            for batch_id in batch_ids[half:]:
                apply_batch.run(batch_id)
                db.session.commit()
            profile.disable()
    print(f"intake in-process: {len(events) / intake:,.0f} events/s")
    print(f"apply in-process: {half * options.batch / plain:,.0f} events/s (first half)")
    stats = pstats.Stats(profile).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def render(rows: list, options: argparse.Namespace) -> str:
    *passes, (raw_label, raw_count, raw_seconds) = rows
    raw_rate = raw_count / raw_seconds
    head = (
        f"{'measure':46}  {'events':>7}  {'202s in':>8}  {'applied':>8}  {'events/s':>8}  "
        f"{'x raw':>6}  {'target':>10}  result"
    )
    lines = [
        f"postal feed, end to end on PostgreSQL: HTTP batches of {options.batch:,} events "
        f"({options.mix}) -> gunicorn (2 sync workers) -> outbox -> Redis -> ONE Celery worker "
        f"process (solo pool) -> applied in the database; {options.background:,} background "
        f"dossiers; {os.cpu_count()} CPU cores shared by PostgreSQL, Redis, gunicorn, the "
        "worker and this client",
        "",
        head,
        "-" * len(head),
    ]
    for label, count, intake, total, foreign, _ in passes:
        rate = count / total
        verdict = "PASS" if rate >= TARGET_PER_S else "MISS"
        lines.append(
            f"{label:46}  {count:7,}  {intake:7.1f}s  {total:7.1f}s  {rate:8,.0f}  "
            f"{rate / raw_rate:6.3f}  {'>= ' + format(TARGET_PER_S, ',.0f'):>10}  {verdict}"
        )
        if foreign >= 0.1:
            lines.append(
                f"{'':8}note: processes not started by this run used {foreign:.2f} of "
                f"{os.cpu_count()} cores meanwhile: figures pessimistic"
            )
    lines.append(
        f"{raw_label:46}  {raw_count:7,}  {'':8}  {raw_seconds:7.2f}s  {raw_rate:8,.0f}  {1:6.3f}"
    )
    return "\n".join(lines)


def summary(rows: list) -> list[dict]:
    """`bench.run`'s row: the run with notifications on their own queue (as configured by
    default), beside the raw executemany of the same events."""
    *passes, (_, raw_count, raw_seconds) = rows
    label, count, _, total, _, _ = passes[-1]
    rate, raw_rate = count / total, raw_count / raw_seconds
    return [
        {
            "what": f"postal feed end to end ({label})",
            "figure": rate,
            "unit": "events/s",
            "floor": raw_rate,
            "floor_label": "raw executemany of the same status events",
            "target": f">= {TARGET_PER_S:,.0f} events/s and >= {TARGET_RATIO:g} x raw",
            "met": rate >= TARGET_PER_S and rate / raw_rate >= TARGET_RATIO,
        }
    ]


def worker_env(workdir: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of the tracker's processes in a feed benchmark: production settings, fresh
    secrets, the run's PostgreSQL and Redis, files in the run's own directory."""
    return {
        "TRACKER_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "FEED_POSTAL_SECRET": webhooks.new_secret(),
        "FEED_AGENCY_SECRET": webhooks.new_secret(),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
        "NOTIFICATION_LOG": str(workdir / "notifications.log"),
        "BEAT_SCHEDULE_FILE": str(workdir / "beat-schedule"),
    }


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so that the ExitStack stops what was started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tracker-feeds-")))
        progress("starting Redis and PostgreSQL")
        redis_url = start_redis(stack)
        database_url, postmaster = start_postgres(stack)
        env = worker_env(workdir, database_url, redis_url)
        progress(f"loading {options.background:,} background dossiers and the feed's dossiers")
        feeds, token, _ = prepare(options, env, [run.prefix for run in PASSES])
        if options.profile:
            run_profile(options, env, feeds[PASSES[-1].prefix])
            return 0
        rows = run_http(options, env, feeds, token, workdir, postmaster)
        print()
        print(durability())
        print(render(rows, options))
        if options.json:
            options.json.write_text(json.dumps(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
