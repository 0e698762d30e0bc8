"""The requests each benchmark sends, and closed-loop runs of them with wrk.

wrk keeps C connections busy back to back (closed loop): it finds the most requests per second
the server can answer. Its latencies are those of a saturated server and hide the queueing a
constant arrival rate would see (coordinated omission); `bench.openloop` measures that instead.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from bench.catalogue import CatalogueRefs
from bench.dataset import Staff
from bench.report import Measurement
from tracker.dossiers import s10

LUA_SCRIPT = Path(__file__).with_name("replay.lua")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str | None = None
    body: str | None = None
    # What the server should answer: a lookup of an unknown code must get its 404.
    expect: int = 200

    def line(self) -> str:
        return "\t".join((self.method, self.path, self.token or "-", self.body or "-"))

    def raw(self, host: str) -> bytes:
        """The HTTP/1.1 request as sent on a keep-alive connection."""
        head = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
        body = (self.body or "").encode()
        if self.body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def bare_requests() -> list[Request]:
    return [Request("GET", "/status")]


def track_requests(lookups: list[tuple[str, str]], path: str = "/api/v1/track") -> list[Request]:
    """Public lookups by code and secret: the API's by default; `path="/track"` asks the
    citizen's page the same, as the receipt's QR code does."""
    return [
        Request("GET", f"{path}?" + urlencode({"code": code, "secret": secret}))
        for code, secret in lookups
    ]


# The citizens' traffic: a few dossiers are looked up again and again (Zipf), and one lookup in ten
# is wrong (half an unknown code, half a known code with a wrong secret).
ZIPF_EXPONENT = 1.0
MISS_SHARE = 0.10


def track_traffic(
    rng: random.Random, lookups: list[tuple[str, str]], count: int, path: str = "/api/v1/track"
) -> list[Request]:
    """`count` lookups by code and secret, codes drawn with a Zipf law over `lookups` (the rank
    of a dossier is its place in that list, which the dataset shuffled), `MISS_SHARE` of them
    expecting a 404: an unknown code (a date before any dossier, so it cannot exist) or a known
    code with a wrong secret. Neither a cache of answers nor a cheap "not found" can flatter it."""
    weights = [1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(lookups))]
    picked = rng.choices(lookups, weights, k=count)
    requests = []
    for code, secret in picked:
        expect = 200
        if rng.random() < MISS_SHARE:
            expect = 404
            if rng.random() < 0.5:
                agency = code.rsplit("-", 2)[0]
                code = f"{agency}-190101-{rng.randrange(1, 10_000):04d}"
            else:
                secret = f"{secret[:5]}-{_other_symbols(rng, secret[6:])}"
        query = urlencode({"code": code, "secret": secret})
        requests.append(Request("GET", f"{path}?{query}", expect=expect))
    return requests


def _other_symbols(rng: random.Random, symbols: str) -> str:
    """Five symbols of the secret alphabet that differ from `symbols`."""
    while True:
        other = "".join(rng.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in symbols)
        if other != symbols:
            return other


def staff_view_requests(views: list[tuple[str, str]]) -> list[Request]:
    return [Request("GET", f"/api/v1/dossiers/{quote(code)}", token) for token, code in views]


def create_requests(
    rng: random.Random, refs: CatalogueRefs, clerks: list[Staff], count: int, first_serial: int
) -> list[Request]:
    """`count` intake payloads as clerks send them; each carries a postal item number of its own
    (items are unique within 12 months, a repeat would answer 409)."""
    popular = refs.procedures[:200]  # the busiest procedures, across many agencies
    forms = ("return_only", "two_way", "send_only")
    requests = []
    for number in range(count):
        clerk = clerks[number % len(clerks)]
        procedure = rng.choice(popular)
        allowed = [f for f in forms if f in procedure.service_forms]
        form = rng.choices(allowed, [(0.7, 0.2, 0.1)[forms.index(f)] for f in allowed])[0]
        serial = f"{first_serial + number:08d}"
        payload = {
            "service_form": form,
            "procedure_code": procedure.code,
            "applicant": {
                "name": "Trần Thị Bích Ngọc",
                "phone": f"09{rng.randrange(10**8):08d}",
                "id_number": f"0{rng.randrange(10**11):011d}",
            },
            "delivery_address": "45 Phạm Văn Thuận, phường Tân Mai, Biên Hòa, Đồng Nai",
            "documents": [
                {"name": "Tờ khai", "kind": "original", "count": 1},
                {"name": "Căn cước công dân", "kind": "certified_copy", "count": 1},
            ],
            "postal_item_number": f"RR{serial}{s10.check_digit(serial)}VN",
            "fee_vnd": procedure.fee_vnd,
        }
        requests.append(
            Request(
                "POST", "/api/v1/dossiers", clerk.token, json.dumps(payload, ensure_ascii=False)
            )
        )
    return requests


def write_requests(path: Path, requests: list[Request]) -> Path:
    path.write_text("".join(r.line() + "\n" for r in requests), encoding="utf-8")
    return path


def find_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return found


def run_wrk(
    port: int,
    request_file: Path,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    accept: frozenset[int] = frozenset(),
) -> Measurement:
    """A closed-loop run: `connections` keep-alive connections, each sending back to back.
    Answers of a status >= 400 are errors, except those in `accept` (a 404 the traffic asks for)."""
    command = [
        find_wrk(),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        str(request_file),
        str(threads),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    summary = next(
        (line for line in completed.stdout.splitlines() if line.startswith("WRK_JSON ")), None
    )
    if completed.returncode != 0 or summary is None:
        raise RuntimeError(
            f"wrk failed ({completed.returncode}): {completed.stderr.strip()}"
            f"\n{completed.stdout.strip()}"
        )
    data = json.loads(summary.removeprefix("WRK_JSON "))
    statuses = {int(status): count for status, count in data["statuses"].items()}
    refused = {s: n for s, n in statuses.items() if s >= 400 and s not in accept}
    kinds = ("connect_errors", "read_errors", "write_errors", "timeouts")
    errors = sum(data[k] for k in kinds) + sum(refused.values())
    notes = [f"{data[k]} {k.replace('_', ' ')}" for k in kinds if data[k]]
    notes += [f"{count} x HTTP {status}" for status, count in sorted(refused.items())]
    return Measurement(
        requests=data["requests"] - sum(refused.values()),
        seconds=data["duration_us"] / 1e6,
        errors=errors,
        p50=data["p50_us"] / 1000,
        p95=data["p95_us"] / 1000,
        p99=data["p99_us"] / 1000,
        max=data["max_us"] / 1000,
        notes=notes,
        statuses=statuses,
    )
