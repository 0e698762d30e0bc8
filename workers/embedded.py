"""`python -m workers.embedded`: the whole service from one command, as `make run` starts it.

Starts the web server, one Celery worker consuming every queue (`config.QUEUES`: the feeds and
the other tasks, and the deliveries of notices and status out, which a deployment gives workers
of their own) and, inside that worker, the one beat. Without REDIS_URL the broker is a folder
under instance/ (no server to install); with it, Redis. Ctrl-C (or SIGTERM) stops all of them;
if one of them dies, the others are stopped too.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from config import QUEUES

BIN = Path(sys.executable).parent


def commands(host: str, port: int) -> dict[str, list[str]]:
    return {
        "web": [str(BIN / "flask"), "--app", "wsgi", "run", "--host", host, "--port", str(port)],
        # --beat embeds the scheduler in this worker: exactly one beat runs.
        "worker": [
            str(BIN / "celery"),
            "-A",
            "workers.main",
            "worker",
            "--beat",
            "--queues",
            ",".join(QUEUES),
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    children = {
        name: subprocess.Popen(command) for name, command in commands(args.host, args.port).items()
    }
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"embedded: {name} exited with {child.returncode}", file=sys.stderr)
                status = child.returncode or 1
                stopping = True
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
    return status


if __name__ == "__main__":
    os.environ.setdefault("FLASK_APP", "wsgi")
    sys.exit(main())
