"""`flask import dossiers FILE`: the import job, run here (or handed to a worker)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import g
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from tracker.catalogue.models import Agency, Office
from tracker.csvfile import RowError
from tracker.errors import DomainError
from tracker.extensions import db
from tracker.imports import files, operations, queries, runner
from tracker.imports.models import ImportJob
from tracker.unit_of_work import discard, unit_of_work

import_cli = AppGroup("import", help="Bulk imports of dossiers.")
SHOWN_ERRORS = 20


@import_cli.command("dossiers")
@click.argument(
    "path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--agency", help="agency code: only that agency's procedures may appear")
@click.option("--office", help="office code: rows are that office's (office_code may be empty)")
@click.option("--dry-run", is_flag=True, help="check every row and report; write nothing")
@click.option("--queue", is_flag=True, help="store the job and leave it to a worker")
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="write the refused rows' errors to this CSV file (line, field, message)",
)
@with_appcontext
def import_dossiers(
    path: Path,
    agency: str | None,
    office: str | None,
    dry_run: bool,
    queue: bool,
    errors_path: Path | None,
) -> None:
    """Import an agency's list of results handed to the post (one-way dossiers) from FILE, a
    CSV (UTF-8) or XLSX file with the columns listed in the README. Rows whose agency
    reference or item number is already imported count as existing; refused rows are listed
    with line, field and reason, and the exit status is 1."""
    if dry_run:
        g.write_transaction = False  # only reads: on SQLite, no write lock while it runs
    scope = {"agency": _by_code(Agency, agency), "office": _by_code(Office, office)}
    if dry_run:
        _dry_run(_create_job(path, scope, store=False), path, errors_path)
        return
    # The job is stored (and queued) in a unit of its own: the run commits chunk by chunk.
    with unit_of_work():
        job = _create_job(path, scope, store=True)
        if queue:
            operations.queue_job(job)
    if queue:
        click.echo(f"import job {job.id} stored and queued for a worker (imports.run)")
        return
    _run(job, path, errors_path)


def _create_job(path: Path, scope: dict, *, store: bool) -> ImportJob:
    with path.open("rb") as stream:
        try:
            return operations.create_job(stream, path.name, None, store=store, **scope)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc


def _run(job: ImportJob, path: Path, errors_path: Path | None) -> None:
    click.echo(f"import job {job.id}: {path.name}, about {job.total_rows} rows")
    job = _run_when_free(job.id, path)
    if job is None:
        raise click.ClickException("the job was taken by another process")
    _summary(job, "created")
    if errors_path is not None:
        _write_errors(errors_path, queries.row_errors(job.id))
    _show_errors(queries.row_errors(job.id), job.error_count, errors_path)
    discard()  # the reads of the errors end here
    if job.state == "failed" or job.error_count:
        raise SystemExit(1)


def _dry_run(job: ImportJob, path: Path, errors_path: Path | None) -> None:
    shown: list[tuple[int, str, str]] = []
    handle = errors_path.open("w", encoding="utf-8", newline="") if errors_path else None

    def collect(errors: list[RowError]) -> None:
        rows = [(e.line, e.field, e.reason) for e in errors]
        shown.extend(rows[: SHOWN_ERRORS - len(shown)])
        if handle is not None and rows:
            handle.writelines(files.errors_csv(rows, header=False))

    try:
        if handle is not None:
            handle.writelines(files.errors_csv([]))
        runner.check_file(job, path, collect)
    finally:
        if handle is not None:
            handle.close()
        discard()  # a dry run writes nothing
    _summary(job, "would create")
    _show_errors(iter(shown), job.error_count, errors_path)
    if job.error_count:
        raise SystemExit(1)


def _run_when_free(job_id: int, path: Path) -> ImportJob | None:
    """Imports run one at a time: wait for the one running (Ctrl-C leaves the job queued for
    a worker, which picks it up when it counts as stalled)."""
    waiting = False
    while True:
        try:
            return runner.run_job(job_id, local_path=path, on_progress=_Progress())
        except runner.ImportsBusy:
            if not waiting:
                click.echo("another import is running: waiting for it to finish ...")
                waiting = True
            time.sleep(5)


class _Progress:
    """One line every two seconds at most."""

    def __init__(self) -> None:
        self.started = self.shown = time.monotonic()

    def __call__(self, job: ImportJob) -> None:
        now = time.monotonic()
        if now - self.shown < 2:
            return
        self.shown = now
        rate = job.rows_done / max(now - self.started, 1e-9)
        total = f"/{job.total_rows}" if job.total_rows else ""
        click.echo(
            f"  {job.rows_done}{total} rows, {job.created_count} created, "
            f"{job.existing_count} existing, {job.error_count} refused ({rate:.0f} rows/s)"
        )


def _summary(job: ImportJob, verb: str) -> None:
    click.echo(
        f"{job.rows_done} rows: {job.created_count} {verb}, {job.existing_count} existing "
        f"(already imported), {job.error_count} refused"
    )
    if job.message:
        click.echo(job.message, err=job.state == "failed")


def _show_errors(errors, count: int, errors_path: Path | None) -> None:
    for shown, (line, column, message) in enumerate(errors):
        if shown == SHOWN_ERRORS:
            break
        click.echo(str(RowError(line, column, message)), err=True)
    if count > SHOWN_ERRORS and errors_path is None:
        click.echo("... and more: write them all with --errors FILE.csv", err=True)
    if errors_path is not None and count:
        click.echo(f"errors written to {errors_path}", err=True)


def _write_errors(target: Path, errors) -> None:
    with target.open("w", encoding="utf-8", newline="") as handle:
        handle.writelines(files.errors_csv(errors))


def _by_code(model, code: str | None):
    if code is None:
        return None
    found = db.session.scalar(select(model).where(model.code == code))
    if found is None:
        raise click.BadParameter(f"no {model.__tablename__[:-1]} with code {code}")
    return found
