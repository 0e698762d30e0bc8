"""Driving an import job from its first chunk to its last.

Unlike the operations, the runner owns its transaction, as a request handler does: it commits
after every chunk, so that progress shows while the job runs and a crash loses one chunk at
most. The `imports.run` task and `flask import dossiers` call it. A job resumes where its last
committed chunk ended (`rows_done`); natural keys would make even a full rerun create nothing
twice. A per-job lease, renewed at every chunk, keeps a second process off a running job, and
should two runs overlap anyway (a worker thought dead wakes up), each chunk's compare-and-set on
`rows_done` lets only one of them commit it (`operations.JobTakenOver`).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import timedelta
from pathlib import Path
from queue import Empty, Full, Queue
from typing import TypeVar

from flask import Flask, current_app, g

from tracker.csvfile import FileProblem, RowError
from tracker.extensions import db
from tracker.imports import files, keys, operations
from tracker.imports.models import ImportJob
from tracker.imports.rows import RowChecker, check_chunks, read_header
from tracker.outbox.operations import acquire_lease, release_lease
from tracker.unit_of_work import discard, unit_of_work

log = logging.getLogger(__name__)
T = TypeVar("T")
# Chunks the reader may be ahead of the writer.
AHEAD = 2
# The lease of all imports; each job's own is "imports.run:<id>".
ALL_IMPORTS = "imports.run"
Progress = Callable[[ImportJob], None]


class ImportsBusy(Exception):
    """Another job is importing. Imports run one at a time: two jobs with the same rows would
    each check their keys before the other's inserts commit, and both insert them."""


def run_job(
    job_id: int, *, local_path: Path | None = None, on_progress: Progress | None = None
) -> ImportJob | None:
    """Run or resume job `job_id` to its end. None when it is finished already or another
    process runs it; ImportsBusy while another job imports. A file that turns out unreadable
    fails the job, with the line."""
    ttl = timedelta(seconds=current_app.config["IMPORT_STALLED_AFTER_SECONDS"])
    discard()  # end the caller's read: on SQLite a lease needs the write lock
    with _leases(job_id, ttl) as renew:
        if renew is None:
            log.info("import %s is being run by another process", job_id)
            return None
        with unit_of_work():
            run = operations.start_job(job_id)
        if run is None:
            return None
        try:
            _import_file(run, local_path, renew, on_progress)
        except operations.JobTakenOver as exc:
            log.warning("%s: this run stops", exc)
            return None
        except FileProblem as problem:
            # The chunk it broke was rolled back with its unit; the rows before it stay.
            with unit_of_work():
                operations.fail_job(job_id, str(problem.error))
        else:
            with unit_of_work():
                operations.finish_job(run)
        return run.job


@contextmanager
def _leases(job_id: int, ttl: timedelta) -> Iterator[Callable[[], bool] | None]:
    """Hold the job's lease (else yield None) and the one of all imports (else ImportsBusy);
    yields the function that renews both."""
    job_lease = f"{ALL_IMPORTS}:{job_id}"
    if not acquire_lease(job_lease, ttl):
        yield None
        return
    try:
        if not acquire_lease(ALL_IMPORTS, ttl):
            raise ImportsBusy(f"import {job_id} waits: another import is running")
        try:
            yield lambda: acquire_lease(job_lease, ttl) and acquire_lease(ALL_IMPORTS, ttl)
        finally:
            discard()  # on SQLite, releasing needs the write lock
            release_lease(ALL_IMPORTS)
    finally:
        discard()
        release_lease(job_lease)


def _import_file(
    run: operations.ImportRun,
    local_path: Path | None,
    renew_lease: Callable[[], bool],
    on_progress: Progress | None,
) -> None:
    job = run.job
    size = current_app.config["IMPORT_CHUNK_ROWS"]
    with files.local_copy(job.id, job.file_format, local_path) as path:
        discard()  # the copy read the stored parts: end that read
        for chunk in _chunks(run, path, job.file_format, size, skip=run.position):
            with unit_of_work():
                operations.import_chunk(run, chunk)
            if not renew_lease():  # this run was too slow: another one may have taken over
                raise operations.JobTakenOver(f"import {job.id}: lease lost at row {run.position}")
            if on_progress is not None:
                on_progress(job)


def check_file(
    job: ImportJob, path: Path, on_errors: Callable[[list[RowError]], None]
) -> ImportJob:
    """A dry run of an unsaved job over a local file: every check, nothing written. The
    errors go to `on_errors` chunk by chunk."""
    run = operations.dry_run(job)
    for chunk in _chunks(run, path, job.file_format, current_app.config["IMPORT_CHUNK_ROWS"]):
        on_errors(operations.import_chunk(run, chunk))
    return job


def _chunks(run: operations.ImportRun, path: Path, file_format: str, size: int, skip: int = 0):
    """The file's chunks, checked and sorted out (new, existing, refused) by a reader thread
    while this one writes the chunks before them."""
    limits = files.ReadLimits.from_config(current_app.config)
    with files.open_records(path, file_format, limits) as opened:
        columns, ignored = read_header(opened.header, run.scope)
        _describe(run.job, ignored, opened.total_rows)
        checker = RowChecker(run.catalogue, run.scope, columns, run.now)
        checked = check_chunks(itertools.islice(opened.records, skip, None), checker, size)
        # Chunks queued or being written may not be committed: their keys are kept in memory.
        recent = keys.RecentKeys(None if run.dry_run else AHEAD + 1)
        ready = keys.sort_out(checked, recent)
        if not run.dry_run:
            actor_id = run.job.created_by_id  # read here: the job belongs to this thread
            ready = (operations.prepare_chunk(chunk, actor_id) for chunk in ready)
        yield from prefetch(ready, AHEAD, _reading_session(current_app._get_current_object()))


def _describe(job: ImportJob, ignored: list[str], total_rows: int | None) -> None:
    """What only the worker learns of an XLSX file (the upload did not parse it): the columns
    it ignores, its rows as the sheet counts them."""
    if ignored and not job.message:
        job.message = f"ignored column(s): {', '.join(ignored)}"
    if job.total_rows is None:
        job.total_rows = total_rows


@contextmanager
def _reading_session(app: Flask) -> Iterator[None]:
    """The reader thread's own app context, hence its own session; it only reads, so on
    SQLite it takes no write lock."""
    with app.app_context():
        g.write_transaction = False
        try:
            yield
        finally:
            db.session.remove()


def prefetch(
    items: Iterable[T], depth: int, context: AbstractContextManager | None = None
) -> Iterator[T]:
    """`items`, produced by a background thread (inside `context`) up to `depth` ahead.

    Reading, checking and looking up keys is Python and queries on a second connection;
    writing is mostly the database's work on the first: the two overlap. An exception in the
    producer is raised in the consumer; a consumer that stops early stops the producer.
    """
    producer = _Producer(items, depth, context)
    try:
        yield from producer
    finally:
        producer.stop()


class _Producer:
    _DONE = object()

    def __init__(self, items: Iterable, depth: int, context: AbstractContextManager | None):
        self.items = items
        self.context = context or nullcontext()
        self.queue: Queue = Queue(maxsize=depth)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._produce, name="import-reader", daemon=True)
        self.thread.start()

    def __iter__(self) -> Iterator:
        while True:
            item, error = self.queue.get()
            if error is not None:
                raise error
            if item is self._DONE:
                return
            yield item

    def stop(self) -> None:
        self.stopping.set()
        while self.thread.is_alive():  # unblock a put, let the thread see `stopping`
            with suppress(Empty):
                self.queue.get(timeout=0.1)
        self.thread.join()

    def _produce(self) -> None:
        try:
            with self.context:
                for item in self.items:
                    if not self._put((item, None)):
                        return
            self._put((self._DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((self._DONE, exc))

    def _put(self, entry: tuple) -> bool:
        while not self.stopping.is_set():
            with suppress(Full):
                self.queue.put(entry, timeout=0.1)
                return True
        return False
