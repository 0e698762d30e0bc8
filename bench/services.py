"""The processes a benchmark run starts: gunicorn (the tracker and the bare baseline), and the
throwaway PostgreSQL and Redis servers of `tests.servers`. Everything listens on 127.0.0.1 and is
stopped by the ExitStack that started it, also on an error or Ctrl-C."""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.servers import (
    PostgresServer,
    RedisServer,
    find_postgres_bin,
    find_redis_server,
    free_port,
)

ROOT = Path(__file__).resolve().parent.parent
# PostgreSQL's durability in a benchmark: its defaults (fsync and synchronous_commit on) unless
# BENCH_FSYNC=off, the tests' settings (`bench.run` runs each benchmark both ways).
DURABILITY_VARIABLE = "BENCH_FSYNC"


def durable() -> bool:
    return os.environ.get(DURABILITY_VARIABLE, "on") != "off"


def durability() -> str:
    """How this run's PostgreSQL writes, as printed above each table."""
    if durable():
        return "fsync and synchronous_commit on (PostgreSQL's defaults)"
    return "fsync, synchronous_commit and full_page_writes off (BENCH_FSYNC=off)"


@dataclass(frozen=True)
class GunicornSettings:
    workers: int = 2
    worker_class: str = "sync"
    threads: int = 1

    def describe(self) -> str:
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.workers} {self.worker_class} workers{threads}"


class Gunicorn:
    """One gunicorn master serving `app_spec` on 127.0.0.1, in its own process group."""

    def __init__(
        self,
        app_spec: str,
        settings: GunicornSettings,
        env: dict[str, str],
        log_path: Path,
        ready_path: str,
    ) -> None:
        self.app_spec = app_spec
        self.settings = settings
        self.env = env
        self.log_path = log_path
        self.ready_path = ready_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.settings.workers),
            "--worker-class",
            self.settings.worker_class,
            "--threads",
            str(self.settings.threads if self.settings.worker_class == "gthread" else 1),
            # The default control socket is one fixed path per user: two masters would collide.
            "--no-control-socket",
            "--log-level",
            "warning",
            "--chdir",
            str(ROOT),
            self.app_spec,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app_spec} exited: {self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", self.ready_path)
                if connection.getresponse().status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(
            f"gunicorn {self.app_spec} not ready after {timeout}s: {self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The master's group: the master and the workers it forked, nothing else.
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(
    stack: contextlib.ExitStack, settings: dict[str, str] | None = None
) -> tuple[str, int]:
    """A fresh PostgreSQL on loopback with an empty `bench` database: its URL and the pid of its
    postmaster (which detaches from this process). `settings` are written with ALTER SYSTEM and
    the server restarted, since some (shared_buffers) only take effect then. Durable unless
    BENCH_FSYNC=off (`durable`)."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
    server = stack.enter_context(PostgresServer(bin_dir, durable=durable()))
    url = server.create_database("bench")
    if settings:
        with psycopg.connect(plain_url(url), autocommit=True) as connection:
            for name, value in settings.items():
                connection.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        server._run("pg_ctl", "-D", str(server.data), "-w", "restart")
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    return url, postmaster


# Same shape as the production default (a per-minute and a per-hour window), never reached.
HUGE_RATE_LIMIT = "100000000 per minute;1000000000 per hour"


def production_env(database_url: str, redis_url: str, *, limiter: bool = True) -> dict[str, str]:
    """The tracker's environment in a benchmark: production settings (which refuse to run
    without the rate limiter: `limiter=False` runs as development), fresh secrets, the run's
    PostgreSQL and Redis, the lookup limit in its production shape but never reached."""
    from tracker.webhooks import new_secret

    return {
        "TRACKER_ENV": "production" if limiter else "development",
        "SECRET_KEY": secrets.token_urlsafe(48),
        # Production refuses to start without them.
        "FEED_POSTAL_SECRET": new_secret(),
        "FEED_AGENCY_SECRET": new_secret(),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACK_RATE_LIMIT": HUGE_RATE_LIMIT,
        "RATELIMIT_ENABLED": "1" if limiter else "0",
        "PYTHONPATH": str(ROOT),
    }


def plain_url(url: str) -> str:
    """The SQLAlchemy URL as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def start_redis(stack: contextlib.ExitStack) -> str:
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install -y redis-server)")
    return stack.enter_context(RedisServer(binary)).url


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """Set environment variables for this process (config.py reads them) and restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
