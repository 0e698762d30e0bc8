"""How much CPU processes this run did not start used during a measurement (Linux /proc).

On a 2-core machine a test suite or a build running beside the benchmark takes a large share of
what the server could use; the table says so instead of silently reporting lower figures.

Busy time of the whole machine comes from /proc/stat (user + nice + system); this run's share is
the CPU of every process descending from the roots (this process, the PostgreSQL postmaster,
which detaches), their own time plus that of the children they reaped (wrk runs, PostgreSQL
backends that exited). The rest belongs to someone else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class _Sample:
    at: float
    busy: int
    ours: dict[int, int]


def _machine_busy() -> int:
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    user, nice, system = (int(v) for v in fields[1:4])
    return user + nice + system


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks of the process and its reaped children)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        found[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    return found


def _descendants(processes: dict[int, tuple[int, int]], roots: Iterable[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    found, stack = set(), [pid for pid in roots if pid in processes]
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    return found


class CpuWatch:
    def __init__(self) -> None:
        self.roots: set[int] = {os.getpid()}
        self._begin: _Sample | None = None
        # CPU seconds this run's processes used between the last `start` and `stop`: the cost of
        # the work measured, which other processes on the machine do not inflate.
        self.own_seconds = 0.0

    def _sample(self) -> _Sample:
        processes = _processes()
        ours = {pid: processes[pid][1] for pid in _descendants(processes, self.roots)}
        return _Sample(time.monotonic(), _machine_busy(), ours)

    def start(self) -> None:
        self._begin = self._sample()

    def stop(self) -> float:
        """Average number of cores used by other processes since `start`."""
        begin, end = self._begin, self._sample()
        if begin is None or end.at <= begin.at:
            return 0.0
        ours = sum(ticks - begin.ours.get(pid, 0) for pid, ticks in end.ours.items())
        self.own_seconds = ours / _TICKS
        foreign = max(0, end.busy - begin.busy - ours)
        return foreign / _TICKS / (end.at - begin.at)
