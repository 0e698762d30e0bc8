"""What `make run` starts: web server, one worker and its beat from one command, on SQLite and
the server-less broker; with the demo simulation on, statuses move on their own."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _flask(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def _fed_events(database: Path) -> int:
    with sqlite3.connect(database, timeout=30) as connection:
        return connection.execute(
            "SELECT count(*) FROM status_events WHERE source IN ('agency_feed', 'postal_feed')"
        ).fetchone()[0]


def _healthz(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def test_one_command_runs_web_worker_and_beat_and_statuses_move(tmp_path):
    database = tmp_path / "tracker.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
        "TRACKER_ENV": "development",
        "DATABASE_URL": f"sqlite:///{database}",
        "BROKER_DIR": str(tmp_path / "broker"),
        "BEAT_SCHEDULE_FILE": str(tmp_path / "beat-schedule"),
        "NOTIFICATION_LOG": str(tmp_path / "notifications.log"),
        "DEMO_SIMULATION": "1",
    }
    _flask(env, "db", "upgrade")
    _flask(env, "demo", "seed", "--dossiers", "40", "--password", "demo-password-1")
    port = free_port()
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(BIN / "python"), "-m", "workers.embedded", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        web_up = moved = False
        while time.monotonic() < deadline and not (web_up and moved):
            assert process.poll() is None, log_path.read_text()
            with contextlib.suppress(OSError):
                web_up = web_up or _healthz(port) == 200
            moved = moved or _fed_events(database) > 0
            time.sleep(0.5)
        assert web_up, log_path.read_text()[-4000:]
        assert moved, log_path.read_text()[-4000:]
        # Exactly one beat: the one embedded in the one worker.
        assert log_path.read_text().count("beat: Starting") == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
    assert process.returncode == 0, log_path.read_text()[-4000:]
