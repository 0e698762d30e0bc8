"""The CPU cost of applying the postal feed, in-process, on a throwaway PostgreSQL.

`python -m bench.feed_cpu` loads `--background` dossiers (`bench.dataset`) and the feed's
one-way dossiers (`bench.feeds_data`), takes in the events as `POST /api/v1/feeds/postal`
would (`tracker.feeds.operations.receive_batch`), then applies the batches as the worker's task
does (`workers.feeds.apply_batch`: chunks of 1,000, each committed with its hooks: rollups,
notifications, status out, outbox). It prints events/s and this process's CPU per event
(`time.process_time`, which a shared machine disturbs far less than a wall clock), the
database server's CPU per event (its processes' /proc times), the floor (a raw executemany of
the same status events) and, with `--profile`, a cProfile top-20 of a second set of batches.

The same script measures older code: copy it into a checkout of that code and run it there.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from bench.services import environment, start_postgres, start_redis

TICKS = os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_cpu", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events measured plainly")
    parser.add_argument("--batch", type=int, default=5_000, help="events per feed batch")
    parser.add_argument("--background", type=int, default=20_000, help="other dossiers")
    parser.add_argument("--mix", choices=("moves", "tracking"), default="moves")
    parser.add_argument("--profile", action="store_true", help="profile as many events again")
    parser.add_argument("--dump", type=Path, help="also write the profile's stats to this file")
    parser.add_argument("--seed", type=int, default=2017)
    return parser.parse_args(argv)


def progress(message: str) -> None:
    print(f"[feed_cpu {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def server_cpu(postmaster: int) -> float:
    """CPU seconds used so far by the PostgreSQL postmaster's children (the backends)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])
    return total / TICKS


def take_in(events: list[dict], size: int) -> list[int]:
    from tracker.extensions import db
    from tracker.feeds import operations
    from tracker.feeds.schemas import check_events

    batch_ids = []
    for k in range(0, len(events), size):
        valid, _ = check_events("postal", enumerate(events[k : k + size]))
        batch = operations.receive_batch("postal", valid, refused=0, submitted_by=None)
        db.session.commit()
        batch_ids.append(batch.id)
    return batch_ids


def apply_all(batch_ids: list[int]) -> None:
    from tracker.extensions import db
    from workers.feeds import apply_batch

    for batch_id in batch_ids:
        apply_batch.run(batch_id)
        db.session.commit()


def raw_executemany(prefix: str) -> tuple[int, float]:
    """The floor: the same status events (the applied ones of `prefix`), inserted again by a
    plain executemany on the same database, in one transaction."""
    from tracker.extensions import db

    columns = (
        "dossier_id, from_status, to_status, occurred_at, recorded_at, source, "
        "source_event_id, raw_code, actor_id, office_id, note, applied"
    )
    rows = [
        dict(row._mapping)
        for row in db.session.execute(
            text(f"SELECT {columns} FROM status_events WHERE source_event_id LIKE :p"),
            {"p": f"{prefix}-%"},
        )
    ]
    for row in rows:
        row["source_event_id"] = "RAW" + row["source_event_id"]
    db.session.commit()
    names = [name.strip() for name in columns.split(",")]
    statement = f"INSERT INTO status_events ({columns}) VALUES ({', '.join('%s' for _ in names)})"
    connection = db.engine.raw_connection()
    try:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.executemany(statement, [[row[name] for name in names] for row in rows])
        connection.commit()
        return len(rows), time.perf_counter() - started
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    from bench.feeds import worker_env
    from bench.feeds_data import prepare

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="feed-cpu-")))
        progress("starting PostgreSQL and Redis")
        redis_url = start_redis(stack)
        database_url, postmaster = start_postgres(stack)
        env = worker_env(workdir, database_url, redis_url)
        prefixes = ["P", "Q"] if options.profile else ["P"]
        progress(f"loading {options.background:,} background dossiers and the feed's")
        feeds, _token, _dataset = prepare(options, env, prefixes)
        from tracker import create_app
        from tracker.extensions import db

        with environment(env):
            app = create_app()
            with app.app_context():
                events = feeds["P"]
                batch_ids = take_in(events, options.batch)
                progress(f"applying {len(events):,} events")
                server_before = server_cpu(postmaster)
                cpu, wall = time.process_time(), time.perf_counter()
                apply_all(batch_ids)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                server = server_cpu(postmaster) - server_before
                states = dict(
                    db.session.execute(
                        text("SELECT state, count(*) FROM feed_events GROUP BY state")
                    ).all()
                )
                db.session.commit()
                raw_count, raw_seconds = raw_executemany("P")
                profile = None
                if options.profile:
                    batch_ids = take_in(feeds["Q"], options.batch)
                    profile = cProfile.Profile()
                    profile.enable()
                    apply_all(batch_ids)
                    profile.disable()
                db.engine.dispose()
    count = len(events)
    print(f"\nfeed apply in-process, PostgreSQL, {options.background:,} background dossiers, "
          f"mix {options.mix}, batches of {options.batch:,} (chunks of 1,000)")  # fmt: skip
    print(f"outcomes: {states}")
    print(f"events/s (wall, in-process):      {count / wall:10,.0f}")
    print(f"worker CPU per event:             {cpu / count * 1e6:10,.0f} us")
    print(f"PostgreSQL CPU per event:         {server / count * 1e6:10,.0f} us")
    print(f"events/s per worker CPU second:   {count / cpu:10,.0f}")
    raw_rate = raw_count / raw_seconds
    print(f"raw executemany of the same rows: {raw_rate:10,.0f} rows/s ({raw_count:,} rows)")
    print(f"events/s / raw rows/s:            {count / wall / raw_rate:10.3f}")
    if profile is not None:
        stats = pstats.Stats(profile).strip_dirs()
        if options.dump:
            stats.dump_stats(options.dump)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
