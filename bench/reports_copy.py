"""Loading `bench.reports_data`'s rows into PostgreSQL: one forked process builds them as COPY
text while this one streams them to the server, so that Python and PostgreSQL each keep a core
busy. Secondary indexes and foreign keys are dropped for the load and built once after it, as
pg_restore does; the schema is checked to be the migrations' again at the end.
"""

from __future__ import annotations

import multiprocessing
import queue as queues
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from bench.reports_data import (
    DOCUMENT_COLUMNS,
    DOSSIER_COLUMNS,
    EVENT_COLUMNS,
    NOW,
    OfficeRef,
    ProcedureRef,
    daily_intake,
    produce,
)

PROGRESS_EVERY = 1_000_000


@dataclass
class LoadStats:
    dossiers: int
    events: int
    documents: int
    forms: Counter
    copy_seconds: float
    # Of copy_seconds, the time spent in COPY and commit (the rest: waiting for the generator).
    writing_seconds: float = 0.0
    index_seconds: float = 0.0
    vacuum_seconds: float = 0.0

    @property
    def total_seconds(self) -> float:
        return self.copy_seconds + self.index_seconds + self.vacuum_seconds


def generate(
    dsn: str,
    offices: list[OfficeRef],
    procedures: list[ProcedureRef],
    count: int,
    seed: int,
    now: datetime = NOW,
    progress=print,
) -> LoadStats:
    """Build `count` dossiers in a forked child and COPY them in, a transaction per chunk; then
    the code counters, the id sequences, and VACUUM ANALYZE (timed apart)."""
    intake = daily_intake(count, now)
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=4)
    child = context.Process(
        target=produce, args=(queue, seed, offices, procedures, intake, now), daemon=True
    )
    child.start()
    totals = Counter()
    try:
        deferred = _drop_indexes(dsn)
        with psycopg.connect(dsn) as connection:
            started = time.perf_counter()
            for kind, *payload in _chunks(queue, child):
                if kind == "done":
                    counters, forms = payload
                    break
                writing = time.perf_counter()
                before = totals["dossiers"]
                _copy_chunk(connection, payload, totals)
                totals["writing_us"] += int((time.perf_counter() - writing) * 1e6)
                if totals["dossiers"] // PROGRESS_EVERY > before // PROGRESS_EVERY:
                    _progress_line(progress, totals, time.perf_counter() - started)
            _finish(connection, counters)
            copy_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _rebuild_indexes(dsn, deferred)
        stats = LoadStats(
            totals["dossiers"], totals["events"], totals["documents"], forms, copy_seconds
        )
        stats.writing_seconds = totals["writing_us"] / 1e6
        stats.index_seconds = time.perf_counter() - started
        with psycopg.connect(dsn, autocommit=True) as connection:
            started = time.perf_counter()
            connection.execute("VACUUM (ANALYZE) dossiers, status_events, dossier_documents")
            stats.vacuum_seconds = time.perf_counter() - started
        return stats
    finally:
        if child.is_alive():
            child.terminate()
        child.join(10)


# Secondary indexes, unique and foreign-key constraints of the loaded tables (primary keys stay),
# in the order they are built: indexes and unique constraints, then foreign keys.
_DEFINITIONS = """
SELECT 1 AS step, 'index' AS kind, tablename, indexname, indexdef FROM pg_indexes i
WHERE tablename = ANY(%(tables)s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c
  WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)
UNION ALL
SELECT CASE contype WHEN 'u' THEN 1 ELSE 2 END, 'constraint', conrelid::regclass::text, conname,
       pg_get_constraintdef(oid)
FROM pg_constraint WHERE conrelid::regclass::text = ANY(%(tables)s) AND contype IN ('u', 'f')
ORDER BY 1, 3, 4
"""
LOADED_TABLES = ["dossiers", "status_events", "dossier_documents"]


def _drop_indexes(dsn: str) -> list[tuple]:
    """Drop what the load would otherwise maintain row by row; returns their definitions. As
    pg_restore does, they are built once after the load: a sorted build per index, one join per
    foreign key, instead of ten million index insertions and key lookups."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        definitions = connection.execute(_DEFINITIONS, {"tables": LOADED_TABLES}).fetchall()
        for _, kind, table, name, _ in reversed(definitions):
            if kind == "index":
                connection.execute(f'DROP INDEX "{name}"')
            else:
                connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return definitions


def _rebuild_indexes(dsn: str, definitions: list[tuple]) -> None:
    """Build again what `_drop_indexes` dropped, and check the schema is the migrations' again."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        for _, kind, table, name, definition in definitions:
            if kind == "index":
                connection.execute(definition)
            else:
                connection.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        rebuilt = connection.execute(_DEFINITIONS, {"tables": LOADED_TABLES}).fetchall()
    if rebuilt != definitions:
        raise RuntimeError(f"indexes differ after the load: {set(definitions) ^ set(rebuilt)}")


def _chunks(queue, child) -> Iterator[tuple]:
    while True:
        try:
            item = queue.get(timeout=2)
        except queues.Empty:
            if not child.is_alive():
                raise RuntimeError(f"the generator exited ({child.exitcode})") from None
            continue
        if item[0] == "error":
            raise RuntimeError(f"the generator failed: {item[1]}")
        yield item


def _copy_chunk(connection: psycopg.Connection, payload: list, totals: Counter) -> None:
    dossiers, events, documents, n_dossiers, n_events, n_documents = payload
    _copy(connection, "dossiers", DOSSIER_COLUMNS, dossiers)
    _copy(connection, "status_events", EVENT_COLUMNS, events)
    _copy(connection, "dossier_documents", DOCUMENT_COLUMNS, documents)
    connection.commit()
    totals.update(dossiers=n_dossiers, events=n_events, documents=n_documents)


def _copy(
    connection: psycopg.Connection, table: str, columns: tuple[str, ...], data: bytes
) -> None:
    if not data:
        return
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor().copy(statement) as copy:
        for start in range(0, len(data), 1 << 20):
            copy.write(data[start : start + (1 << 20)])


def _finish(connection: psycopg.Connection, counters: dict[tuple[str, date], int]) -> None:
    """Counters at the last number handed out, so that new intake continues each sequence; ids
    were given here, so the sequences move past them."""
    lines = "".join(
        f"{agency}\t{day}\t{last}\n" for (agency, day), last in sorted(counters.items())
    )
    _copy(connection, "code_counters", ("agency_code", "day", "last_seq"), lines.encode())
    for table in ("dossiers", "status_events", "dossier_documents"):
        connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" (SELECT coalesce(max(id), 1) FROM {table}))"
        )
    connection.commit()


def _progress_line(progress, totals: Counter, seconds: float) -> None:
    progress(
        f"  {totals['dossiers']:,} dossiers, {totals['events']:,} events in {seconds:.0f} s "
        f"({totals['dossiers'] / seconds:,.0f} dossiers/s)"
    )
