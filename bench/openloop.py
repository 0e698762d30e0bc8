"""Open-loop load at a constant rate, free of coordinated omission.

Request i is due at start + i / rate whatever happened to the ones before it. A pool of
keep-alive connections takes the due requests in order; when every connection is still waiting
for an answer, the next request goes out late, and its latency is counted from when it was due,
not from when it was sent. A server that stalls for 200 ms therefore shows ~200 ms on every
request that arrived meanwhile, as its users would see it (wrk, a closed loop, would simply send
fewer requests during the stall and report a fine p99).

Responses are read with a minimal HTTP/1.1 parser: status line, Content-Length, Connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bench.report import Measurement, percentile

TIMEOUT_SECONDS = 10.0
# A server far slower than the offered rate would take ages to drain the schedule: past this
# many seconds after the last due time no more requests are sent; the ones left are counted as
# errors with the latency they had already accumulated (a lower bound).
DRAIN_SECONDS = 10.0


@dataclass
class _State:
    requests: list[bytes]
    rate: float
    total: int
    accept: frozenset[int]
    start: float = 0.0
    deadline: float = 0.0
    next_index: int = 0
    latencies: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, close = 0, head.startswith(b"HTTP/1.0")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if length:
        await reader.readexactly(length)
    return status, close


async def _connection(state: _State, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    reader = writer = None
    while state.next_index < state.total and loop.time() < state.deadline:
        index = state.next_index
        state.next_index += 1
        due = state.start + index / state.rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        state.send_lags.append(loop.time() - due)
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(state.requests[index % len(state.requests)])
            status, close = await asyncio.wait_for(_read_response(reader), TIMEOUT_SECONDS)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            state.error(type(exc).__name__)
            state.latencies.append(loop.time() - due)
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        state.latencies.append(loop.time() - due)
        state.statuses[status] = state.statuses.get(status, 0) + 1
        if not 200 <= status < 300 and status not in state.accept:
            state.error(f"HTTP {status}")
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _run(state: _State, host: str, port: int, connections: int) -> float:
    loop = asyncio.get_running_loop()
    state.start = loop.time() + 0.05
    state.deadline = state.start + state.total / state.rate + DRAIN_SECONDS
    await asyncio.gather(*(_connection(state, host, port) for _ in range(connections)))
    unsent = state.total - state.next_index
    if unsent:
        state.errors["not sent (server too slow)"] = unsent
        state.latencies.extend(
            state.deadline - (state.start + index / state.rate)
            for index in range(state.next_index, state.total)
        )
    return loop.time() - state.start


def run_open_loop(
    port: int,
    requests: list[bytes],
    *,
    rate: float,
    seconds: float,
    connections: int = 64,
    host: str = "127.0.0.1",
    accept: frozenset[int] = frozenset(),
) -> Measurement:
    """Send `rate` requests per second for `seconds`, cycling through `requests`. Answers
    outside 2xx are errors, except those in `accept` (a 404 the traffic asks for)."""
    state = _State(requests=requests, rate=rate, total=max(1, round(rate * seconds)), accept=accept)
    elapsed = asyncio.run(_run(state, host, port, connections))
    ordered = sorted(state.latencies)
    lags = sorted(state.send_lags)
    errors = sum(state.errors.values())
    notes = [f"{count} x {kind}" for kind, count in sorted(state.errors.items())]
    return Measurement(
        requests=len(ordered) - errors,
        seconds=elapsed,
        errors=errors,
        p50=percentile(ordered, 0.50) * 1000,
        p95=percentile(ordered, 0.95) * 1000,
        p99=percentile(ordered, 0.99) * 1000,
        max=(ordered[-1] if ordered else 0) * 1000,
        send_lag_p99=percentile(lags, 0.99) * 1000,
        notes=notes,
        statuses=state.statuses,
    )
