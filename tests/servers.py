"""Throwaway PostgreSQL and Redis servers on loopback, for tests and benchmarks.

Each server lives in a temporary directory, listens on 127.0.0.1 on a free port and is stopped
(and its directory removed) on exit. `find_*` returns None when the binaries are not installed;
callers decide whether that is a skip (a newcomer's laptop) or a failure (CI).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_postgres_bin() -> Path | None:
    """Directory holding initdb/pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def _as_postgres_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, so drop to the `postgres` account.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


# Tests trade durability for speed; a benchmark's headline figures keep PostgreSQL's defaults.
FAST_SETTINGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresServer:
    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.durable = durable
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        self.data = self.directory / "data"

    def _run(self, *args: str) -> None:
        subprocess.run(
            _as_postgres_user([str(self.bin_dir / args[0]), *args[1:]]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        options = f"-h 127.0.0.1 -p {self.port} -k {self.directory} -c max_connections=200"
        if not self.durable:
            options += f" {FAST_SETTINGS}"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="tracker-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or start again, on the same port, after `stop(keep_directory=True)`)."""
        self.directory.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self, *, keep_directory: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if not keep_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GunicornServer:
    """`gunicorn wsgi:app` on a free loopback port, for tests that need real worker processes."""

    def __init__(self, env: dict[str, str], *, workers: int = 2) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> GunicornServer:
        root = Path(__file__).resolve().parent.parent
        gunicorn = Path(os.environ.get("VIRTUAL_ENV", root / ".venv")) / "bin" / "gunicorn"
        if not gunicorn.exists():
            gunicorn = Path(shutil.which("gunicorn") or "gunicorn")
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=root,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.process.stderr.read().decode()}")
            try:
                if self.get("/healthz")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not answer /healthz")

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()

    def __enter__(self) -> GunicornServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _venv_bin(name: str) -> str:
    root = Path(__file__).resolve().parent.parent
    candidate = Path(os.environ.get("VIRTUAL_ENV", root / ".venv")) / "bin" / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


class CeleryWorker:
    """A real `celery -A workers.main worker` process (one process, solo pool), optionally with
    the embedded beat. Its log goes to a file the test can read when something fails."""

    def __init__(
        self, env: dict[str, str], log_path: Path, *, beat: bool = False, queues: str | None = None
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.beat = beat
        # Comma-separated; None: every queue of the configuration, as `make run` consumes them.
        self.queues = queues
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        root = Path(__file__).resolve().parent.parent
        command = [
            _venv_bin("celery"),
            "-A",
            "workers.main",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            f"test-{free_port()}@%h",
        ]
        if self.queues is not None:
            command += ["--queues", self.queues]
        if self.beat:
            command += ["--beat", "--schedule", str(self.log_path.with_suffix(".beat"))]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # Tests may hand the worker classes of their own (e.g. tests.gateways).
        env = {**self.env, "PYTHONPATH": str(root)}
        self.process = subprocess.Popen(
            command, cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.log()}")
            if b"ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"celery worker did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def wait_for(
        self,
        condition: Callable[[], Any],
        seconds: float = 30.0,
        *,
        every: float = 0.2,
        before_each: Callable[[], None] | None = None,
        describe: Callable[[], str] | None = None,
    ) -> Any:
        """Poll `condition` until it is truthy and return its value; on timeout fail with what
        `describe` says and this worker's log."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if before_each is not None:
                before_each()
            result = condition()
            if result:
                return result
            time.sleep(every)
        detail = f"; {describe()}" if describe else ""
        raise AssertionError(f"timed out after {seconds}s{detail}; worker log:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task without acknowledging anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._log.close()

    def __enter__(self) -> CeleryWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
