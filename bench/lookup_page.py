"""python -m bench.lookup_page: the citizen's lookup page against the bare lookup API.

The issue's target: under load the page (GET /track?code=..&secret=.., what the receipt's QR
code opens) keeps at least 0.5 x the throughput of GET /api/v1/track?code=..&secret=.. measured
in the same run: same gunicorn, same dataset, same (code, secret) pairs. Both run the same query;
the page adds the HTML (Jinja, translations, date formatting).

A run reuses bench.endpoints' pieces: a throwaway Redis (rate-limit storage, limiter on with a limit
never reached), per backend a fresh database with the schema from the migrations and N generated
dossiers (bench/dataset.py), the tracker under gunicorn; then closed loops (wrk) alternating API
and page for `--rounds` rounds, so that a drift of the machine hits both alike. Prints the table,
each side's throughput, the page / API ratio of each round and whether their median meets the
target. Nothing is asserted: the exit status only says whether the run completed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench import loads
from bench.dataset import Dataset
from bench.endpoints import BACKENDS, Options, Runner, _subset, progress
from bench.report import Measurement, Row, render
from bench.services import Gunicorn, GunicornSettings, start_redis

RATIO_TARGET = 0.5
API = "GET /api/v1/track"
PAGE = "GET /track (page)"


def parse_args(argv: list[str] | None) -> tuple[Options, int]:
    parser = argparse.ArgumentParser(prog="python -m bench.lookup_page", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=20_000, help="dossiers to generate")
    parser.add_argument("--duration", type=float, default=8, help="seconds of each wrk run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up before each")
    parser.add_argument("--rounds", type=int, default=3, help="API-then-page rounds")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--backends", default="sqlite", help=f"comma-separated subset of {','.join(BACKENDS)}"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=2, help="threads per gthread worker")
    parser.add_argument("--seed", type=int, default=2017)
    args = parser.parse_args(argv)
    options = Options(
        dossiers=args.dossiers,
        seconds=args.duration,
        open_seconds=0,
        warmup=args.warmup,
        rate=0,
        connections=args.connections,
        open_connections=0,
        benchmarks=("track",),
        backends=_subset(parser, "--backends", args.backends, BACKENDS),
        gunicorn=GunicornSettings(args.workers, args.worker_class, args.threads),
        limiter=True,
        seed=args.seed,
    )
    return options, max(1, args.rounds)


class PageRunner(Runner):
    """bench.endpoints' runner with one load: the API and the page, alternately."""

    def __init__(self, options: Options, rounds: int, workdir: Path, redis_url: str) -> None:
        super().__init__(options, workdir, redis_url)
        self.rounds = rounds
        self.verdicts: list[str] = []

    def run_loads(self, backend: str, server: Gunicorn, dataset: Dataset) -> None:
        sides = {
            API: loads.track_requests(dataset.lookups),
            PAGE: loads.track_requests(dataset.lookups, path="/track"),
        }
        check_page_answers(server.port, sides[PAGE][0].path)
        measured: dict[str, list[Measurement]] = {API: [], PAGE: []}
        for number in range(1, self.rounds + 1):
            for endpoint, requests in sides.items():
                progress(f"{backend}: {endpoint}, round {number} of {self.rounds}")
                run = self.closed(server, f"{backend}-{len(measured[endpoint])}", requests)
                measured[endpoint].append(run)
                self.rows.append(Row(backend, f"{self.closed_label} #{number}", endpoint, run))
        self.verdicts.append(verdict(backend, measured[API], measured[PAGE]))


def check_page_answers(port: int, path: str) -> None:
    """The page must find the dossier (a 404 page is cheaper and would flatter the ratio)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    answer = connection.getresponse()
    body = answer.read().decode()
    if answer.status != 200 or "lookup-answer" not in body:
        raise RuntimeError(f"the page did not find the dossier of {path}: {answer.status}")


def throughput(runs: list[Measurement]) -> float:
    """Successful answers per second over all rounds together."""
    seconds = sum(run.seconds for run in runs)
    return sum(run.requests for run in runs) / seconds if seconds else 0.0


def verdict(backend: str, api: list[Measurement], page: list[Measurement]) -> str:
    """Judged on the median of the rounds' ratios: a round that another process on the machine
    disturbed (see the notes) moves the median less than the sums."""
    ratios = sorted(p.rate / a.rate if a.rate else 0.0 for a, p in zip(api, page, strict=True))
    middle = len(ratios) // 2
    median = ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2
    errors = sum(run.errors for run in api + page)
    met = "MET" if median >= RATIO_TARGET and errors == 0 else "MISSED"
    return (
        f"{backend}: page {throughput(page):,.1f} req/s, API {throughput(api):,.1f} req/s "
        f"(all rounds); page / API per round {', '.join(f'{r:.2f}' for r in ratios)}, "
        f"median {median:.2f} (target >= {RATIO_TARGET:g}: {met}"
        f"{f'; {errors} errors' if errors else ''})"
    )


def main(argv: list[str] | None = None) -> int:
    options, rounds = parse_args(argv)
    loads.find_wrk()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tracker-bench-")))
        progress("starting Redis")
        runner = PageRunner(options, rounds, workdir, start_redis(stack))
        try:
            for backend in options.backends:
                runner.run_backend(backend)
        except KeyboardInterrupt:
            progress("interrupted: stopping what was started")
            return 130
        finally:
            if runner.rows:
                print(
                    f"\nlookup page vs lookup API: {options.dossiers:,} dossiers per backend; "
                    f"{options.gunicorn.describe()}; limiter on (Redis), never reached; "
                    f"wrk c={options.connections}, API and page alternately, {rounds} rounds"
                )
                print("\n".join(runner.context) + "\n")
                print(render(runner.rows))
                print("\n" + "\n".join(runner.verdicts))
                print(f"\n(total {time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
