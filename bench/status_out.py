"""python -m bench.status_out: status out to the agencies, end to end on PostgreSQL.

Starts PostgreSQL and Redis, loads a province's catalogue and background dossiers and one-way
dossiers carrying item numbers (`bench.feeds_data`), subscribes every agency to one local
receiver (a threaded HTTP server in this process answering 204 at once), serves the tracker with
gunicorn and runs two Celery worker processes (solo pool): one applies the postal feed (queue
`tracker`), the other sends the status deliveries (queue `status_out`, `bench.status_out_worker`).

1. **Latency under load**: the postal feed's batches go in over HTTP as fast as the worker
   applies them; every applied event writes a delivery with it. Reported: the feed's apply rate,
   and the latency from the status change's commit to its delivery (p50, p99), from each
   delivery's `latency_ms`.
2. **Deliveries per second, one worker**: every delivery is replayed at once (same webhook-ids)
   and the clock stops when the sending worker has delivered them all.

One table is printed. The receiver does not verify signatures (the tests do): its CPU is this
machine's too.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.feeds import Pass, post_all, progress, start_worker, wait_applied, worker_env
from bench.feeds_data import prepare
from bench.services import (
    Gunicorn,
    GunicornSettings,
    environment,
    start_postgres,
    start_redis,
)
from tests.servers import free_port
from tracker import webhooks

FEED = Pass("feed worker", "L", "bench.status_out_worker", "tracker")
SENDER = Pass("delivery worker", "D", "bench.status_out_worker", "status_out")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.status_out", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="postal feed events")
    parser.add_argument("--batch", type=int, default=2_000, help="events per HTTP batch")
    parser.add_argument("--connections", type=int, default=2, help="batches posted at once")
    parser.add_argument("--background", type=int, default=20_000, help="other dossiers")
    parser.add_argument("--mix", default="moves", choices=("moves", "tracking"))
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="feed events per second offered (batches paced); 0: as fast as they are taken",
    )
    parser.add_argument("--seed", type=int, default=2017)
    return parser.parse_args(argv)


class Sink:
    """The agencies' receiver: 204 to every POST, counted (keep-alive, HTTP/1.1)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.count = 0
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with lock:
                    sink.count += 1
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def subscribe_all(env: dict[str, str], url: str) -> int:
    """One subscription per agency, all to the sink; returns how many."""
    from tracker import create_app
    from tracker.accounts.operations import create_user
    from tracker.catalogue.models import Agency
    from tracker.extensions import db
    from tracker.status_out import operations

    with environment(env):
        app = create_app()
        with app.app_context():
            admin = create_user("bench-admin", "admin", "bench-password-not-secret")
            codes = db.session.scalars(db.select(Agency.code)).all()
            for code in codes:
                operations.create_subscription({"agency_code": code, "url": url}, admin)
            db.session.commit()
            db.engine.dispose()
    return len(codes)


def replay_all(env: dict[str, str]) -> int:
    """Every delivery queued again (same webhook-ids), published to the sender's queue."""
    from bench.status_out_worker import ROUTES
    from tracker import create_app
    from tracker.accounts.models import User
    from tracker.extensions import db
    from tracker.status_out import operations
    from tracker.unit_of_work import unit_of_work

    with environment(env):
        app = create_app()
        app.extensions["celery"].conf.task_routes = ROUTES
        with app.app_context():
            admin = db.session.scalar(db.select(User).where(User.username == "bench-admin"))
            now = datetime.now(UTC)
            with unit_of_work():
                queued = operations.replay_range(None, now - timedelta(days=1), now, admin)
            db.engine.dispose()
    return queued


def post_paced(port: int, token: str, secret: str, bodies: list[bytes], every: float) -> list[int]:
    """One batch every `every` seconds (the feed offered at a steady rate), signed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started, ids = time.monotonic(), []
    for number, body in enumerate(bodies):
        time.sleep(max(0.0, started + number * every - time.monotonic()))
        signature = webhooks.sign(secret, f"msg_{secrets.token_hex(12)}", body)
        connection.request(
            "POST", "/api/v1/feeds/postal", body=body, headers={**headers, **signature}
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 202:
            raise RuntimeError(f"batch refused: {response.status} {str(answer)[:500]}")
        ids.append(answer["batch_id"])
    connection.close()
    return ids


def wait_delivered(engine, expected: int, log: Path, timeout: float = 900) -> None:
    query = text("SELECT count(*) FROM status_deliveries WHERE state = 'delivered'")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.scalar(query) >= expected:
                return
        time.sleep(0.05)
    raise RuntimeError(f"not delivered after {timeout}s; worker log:\n{log.read_text()[-3000:]}")


def latencies(engine) -> list[int]:
    with engine.connect() as connection:
        return sorted(
            connection.scalars(
                text("SELECT latency_ms FROM status_deliveries WHERE state = 'delivered'")
            )
        )


def percentile(values: list[int], share: float) -> float:
    return float(values[min(len(values) - 1, int(share * len(values)))]) if values else 0.0


def run(options, env, events, token, workdir: Path) -> dict:
    full_env = {**os.environ, **env}
    engine = create_engine(env["DATABASE_URL"])
    bodies = [
        json.dumps({"events": events[k : k + options.batch]}).encode()
        for k in range(0, len(events), options.batch)
    ]
    figures: dict = {}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            Gunicorn(
                "wsgi:app",
                GunicornSettings(workers=2),
                full_env,
                workdir / "gunicorn.log",
                "/readyz",
            )
        )
        feed_log = start_worker(stack, full_env, workdir / "worker-feed.log", FEED)
        sender_log = start_worker(stack, full_env, workdir / "worker-sender.log", SENDER)
        progress(f"latency: {len(events):,} feed events in {len(bodies)} batches")
        started = time.perf_counter()
        if options.rate:
            batch_ids = post_paced(
                server.port, token, env["FEED_POSTAL_SECRET"], bodies, options.batch / options.rate
            )
        else:
            batch_ids = post_all(
                server.port, token, env["FEED_POSTAL_SECRET"], bodies, options.connections
            )
        wait_applied(engine, batch_ids, feed_log)
        figures["applied_s"] = time.perf_counter() - started
        with engine.connect() as connection:
            expected = connection.scalar(text("SELECT count(*) FROM status_deliveries"))
        wait_delivered(engine, expected, sender_log)
        figures["delivered_s"] = time.perf_counter() - started
        figures["deliveries"] = expected
        figures["latencies"] = latencies(engine)

        progress(f"throughput: {expected:,} deliveries replayed to one worker")
        with engine.begin() as connection:  # the replays' count, not the first run's
            connection.execute(text("UPDATE status_deliveries SET state = 'failed'"))
        started = time.perf_counter()
        queued = replay_all(env)
        wait_delivered(engine, queued, sender_log)
        figures["replay_s"] = time.perf_counter() - started
        figures["replayed"] = queued
    engine.dispose()
    return figures


def render(figures: dict, events: int, subscriptions: int, options) -> str:
    values = figures["latencies"]
    offered = f"offered at {options.rate:,.0f}/s" if options.rate else "as fast as taken"
    lines = [
        f"status out, end to end on PostgreSQL: the postal feed ({events:,} events, {options.mix}, "
        f"HTTP batches of {options.batch:,}, "
        f"{offered}) applied by one worker writes a delivery per applied "
        f"change to one of {subscriptions} agency subscriptions; ONE worker process (solo pool) "
        f"sends them to a local receiver; {os.cpu_count()} CPU cores shared by everything",
        "",
        f"feed applied                      {events / figures['applied_s']:10,.0f} events/s",
        f"deliveries written                {figures['deliveries']:10,}",
        f"latency change -> delivered  p50  {percentile(values, 0.50):10,.0f} ms",
        f"latency change -> delivered  p99  {percentile(values, 0.99):10,.0f} ms",
        f"deliveries/s, one worker (replay) {figures['replayed'] / figures['replay_s']:10,.0f}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tracker-out-")))
        progress("starting Redis and PostgreSQL")
        redis_url = start_redis(stack)
        database_url, _postmaster = start_postgres(stack)
        env = worker_env(workdir, database_url, redis_url) | {"STATUS_OUT_ALLOW_HTTP": "1"}
        progress(f"loading {options.background:,} background dossiers and the feed's dossiers")
        feeds, token, _ = prepare(options, env, [FEED.prefix])
        sink = Sink()
        stack.callback(sink.stop)
        subscriptions = subscribe_all(env, sink.url)
        events = feeds[FEED.prefix]
        figures = run(options, env, events, token, workdir)
        print()
        print(render(figures, len(events), subscriptions, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
