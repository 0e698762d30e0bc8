"""The rules of imports. Operations flush, never commit: the request, the task or the runner
(`tracker.imports.runner`, which commits after every chunk) owns the transaction.

An imported row becomes a one-way dossier in `result_collected`, with its first status event
(source "import"), exactly as if a clerk had logged it, except: codes are reserved in blocks, no
receipt is printed (the lookup secret is drawn and hashed, never shown; the citizen tracks the
result by item number and phone, or a clerk reissues a receipt), and no notification is queued
(`queue_notifications` has none for `result_collected`, so none is skipped). The audit log gets
one entry per job, not one per row; each event's `data` names the job and the line.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy import delete, update

from tracker.accounts.models import User
from tracker.audit.operations import record_audit
from tracker.calendar import utcnow
from tracker.catalogue.models import Agency, Office
from tracker.csvfile import FileProblem, RowError
from tracker.dossiers import codes, lifecycle, signals
from tracker.dossiers.rows import new_dossier_row
from tracker.dossiers.signals import ReceivedRow
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.imports import bulk, files, queries
from tracker.imports.models import ImportFile, ImportJob
from tracker.imports.rows import SERVICE_FORM, Catalogue, Chunk, ParsedRow, Scope
from tracker.outbox.operations import enqueue

log = logging.getLogger(__name__)

SOURCE = "import"
STATUS = lifecycle.INITIAL_STATUS[SERVICE_FORM]


@dataclass
class ImportRun:
    """A job while it runs: the catalogue as it stands and whose rows the job may hold."""

    job: ImportJob
    catalogue: Catalogue
    scope: Scope
    now: datetime
    dry_run: bool = False
    # Rows this run has seen committed (the job's rows_done as far as this run knows).
    position: int = 0


def create_job(
    stream: BinaryIO,
    filename: str,
    actor: User | None,
    *,
    agency: Agency | None = None,
    office: Office | None = None,
    max_bytes: int | None = None,
    store: bool = True,
) -> ImportJob:
    """A job for the file in `stream`, checked without parsing a workbook (format, size, a CSV's
    encoding, header and lines, an XLSX's zip directory: `files.store_file`) and stored in the
    database so that any worker can run it. A clerk's job imports their office's results, an
    agency officer's their agency's. Enqueue it (or run it) after this. Raises ValidationFailed
    (422) or, past a size cap, FileTooLarge (413); the caller rolls back, no job is left.

    With `store=False` (a dry run from the command line) the file is only checked.
    """
    if actor is not None and actor.role == "clerk":
        office, agency = actor.office, None
    elif actor is not None and actor.role == "agency":
        office, agency = None, actor.agency
    job = _new_job(filename, actor, agency, office)
    if store:
        db.session.add(job)
        db.session.flush()
    limits = files.ReadLimits.from_config(current_app.config)
    try:
        stored = files.store_file(job.id, stream, job_scope(job), limits, max_bytes, store=store)
    except FileProblem as problem:
        raise ValidationFailed.field("file", str(problem.error)) from None
    job.file_format, job.size_bytes, job.sha256 = stored.file_format, stored.size, stored.sha256
    job.total_rows = stored.total_rows
    if stored.ignored:
        job.message = f"ignored column(s): {', '.join(stored.ignored)}"
    if store:
        db.session.flush()
    return job


def _new_job(
    filename: str, actor: User | None, agency: Agency | None, office: Office | None
) -> ImportJob:
    # Column defaults apply only at INSERT; a dry run's job is never inserted.
    return ImportJob(
        kind="dossiers",
        filename=(filename or "upload")[-255:],
        file_format="csv",
        size_bytes=0,
        sha256="",
        state="queued",
        rows_done=0,
        created_count=0,
        existing_count=0,
        error_count=0,
        created_by_id=actor.id if actor else None,
        agency_id=agency.id if agency else None,
        office_id=office.id if office else None,
        created_at=utcnow(),
    )


def queue_job(job: ImportJob) -> None:
    """Have a worker run the job once this transaction commits."""
    enqueue("imports.run", job_id=job.id)


def job_scope(job: ImportJob) -> Scope:
    agency = db.session.get(Agency, job.agency_id) if job.agency_id else None
    return Scope(
        agency_id=job.agency_id,
        agency_code=agency.code if agency else None,
        office=queries.office_ref(job.office_id) if job.office_id else None,
    )


def start_job(job_id: int) -> ImportRun | None:
    """Mark the job running (or resumed); None when it is finished or gone."""
    job = db.session.get(ImportJob, job_id)
    if job is None or job.state in ("done", "failed"):
        return None
    now = utcnow()
    if job.state == "queued":
        job.state, job.started_at = "running", now
    else:
        log.info("import %s resumed after %s rows", job.id, job.rows_done)
    job.heartbeat_at = now
    db.session.flush()
    return ImportRun(job, queries.load_catalogue(), job_scope(job), now, position=job.rows_done)


def dry_run(job: ImportJob) -> ImportRun:
    """A run of an unsaved job that checks everything and writes nothing."""
    return ImportRun(job, queries.load_catalogue(), job_scope(job), utcnow(), dry_run=True)


def import_chunk(run: ImportRun, chunk: Chunk) -> list[RowError]:
    """Insert the chunk's new dossiers (sorted out by `keys.sort_out`) with their first events,
    record the errors, move the job's progress. Returns the errors."""
    job = run.job
    if not run.dry_run:
        _claim(job.id, run.position)
        _insert_new(run, chunk)
        bulk.insert_errors(
            [
                {"job_id": job.id, "line": e.line, "field": e.field, "message": e.reason}
                for e in chunk.errors
            ]
        )
        job.heartbeat_at = utcnow()
    job.rows_done += chunk.records
    job.created_count += len(chunk.rows)
    job.existing_count += chunk.existing
    job.error_count += chunk.refused
    run.position += chunk.records
    if not run.dry_run:
        db.session.flush()
    return chunk.errors


class JobTakenOver(Exception):
    """Another run of the job (its worker was thought dead) has moved its progress."""


def _claim(job_id: int, position: int) -> None:
    """Compare-and-set on `rows_done`, first thing in the chunk's transaction: of two runs of
    the same job, only one can commit the rows after a given point (the other's UPDATE waits
    for the first's commit, then matches nothing)."""
    table = ImportJob.__table__
    claimed = db.session.execute(
        update(table)
        .where(table.c.id == job_id, table.c.rows_done == position, table.c.state == "running")
        .values(heartbeat_at=utcnow())
    )
    if claimed.rowcount != 1:
        raise JobTakenOver(f"import {job_id} moved past row {position} in another run")


def prepare_chunk(chunk: Chunk, actor_id: int | None) -> Chunk:
    """The columns of the chunk's dossiers and first events that need neither its transaction
    nor its codes. The runner's reader thread builds them (Python, while the writer waits on
    the database for the chunk before); `_insert_new` adds the ids, codes and secrets."""
    # By agency and day (file order within): each day's codes follow the file, and the code
    # index receives neighbouring keys.
    chunk.rows.sort(key=lambda row: (row.procedure.agency_code, row.day))
    now = utcnow()
    chunk.dossiers = [_dossier_row(r, actor_id, now) for r in chunk.rows]
    chunk.events = [
        {
            "dossier_id": None, "to_status": STATUS, "applied": True,
            "occurred_at": r.received_at, "recorded_at": now, "source": SOURCE,
            "actor_id": actor_id, "office_id": r.office.id, "line": r.line,
        }
        for r in chunk.rows
    ]  # fmt: skip
    return chunk


def _insert_new(run: ImportRun, chunk: Chunk) -> None:
    """Codes in blocks, then dossiers and their first events in two bulk inserts."""
    if not chunk.rows:
        return
    if chunk.dossiers is None:
        prepare_chunk(chunk, run.job.created_by_id)
    rows = chunk.rows
    dossier_codes = _allocate(rows)
    hashes = codes.hash_secrets(dossier_codes, codes.new_lookup_secrets(len(rows)))
    ids = bulk.reserve_dossier_ids(len(rows))
    for dossier, event, dossier_id, code, hashed in zip(
        chunk.dossiers, chunk.events, ids, dossier_codes, hashes, strict=True
    ):
        dossier["id"] = event["dossier_id"] = dossier_id
        dossier["code"], dossier["lookup_secret_hash"] = code, hashed
    bulk.insert_dossiers(chunk.dossiers)
    bulk.insert_events(chunk.events, run.job.id)
    signals.dossiers_received.send(
        rows=[
            ReceivedRow(r.day, r.office.id, r.office.channel_id, r.procedure.id,
                        r.procedure.agency_id, SERVICE_FORM, r.item, dossier_id, STATUS)
            for r, dossier_id in zip(rows, ids, strict=True)
        ]
    )  # fmt: skip


def _dossier_row(r: ParsedRow, actor_id: int | None, now: datetime) -> dict[str, Any]:
    """The dossier of an imported row, as the intake builds it, but for its id, code and
    secret (`_insert_new`)."""
    return new_dossier_row(
        code="",
        service_form=SERVICE_FORM,
        procedure=r.procedure,
        office=r.office,
        agency_reference=r.reference,
        applicant_name=r.name,
        applicant_phone=r.phone,
        applicant_id_number=r.id_number,
        applicant_email=r.email,
        delivery_address=r.address,
        postal_item_number=r.item,
        fee_vnd=r.fee,
        note=r.note,
        received_at=r.received_at,
        appointment_date=r.appointment,
        lookup_secret_hash="",
        created_by_id=actor_id,
        now=now,
    )


def _allocate(rows: list[ParsedRow]) -> list[str]:
    counts = Counter((row.procedure.agency_code, row.day) for row in rows)
    following = codes.allocate_code_blocks(counts)
    prefixes = {key: codes.code_prefix(*key) for key in counts}
    allocated = []
    for row in rows:
        key = (row.procedure.agency_code, row.day)
        sequence = following[key]
        following[key] = sequence + 1
        allocated.append(f"{prefixes[key]}{sequence:04d}")
    return allocated


def finish_job(run: ImportRun) -> None:
    """The job is done: exact totals, one audit entry, the stored file dropped."""
    job = run.job
    _claim(job.id, run.position)  # a second run that got here too finishes nothing
    job.state, job.finished_at = "done", utcnow()
    job.total_rows = job.rows_done
    job.heartbeat_at = job.finished_at
    _close(job)
    log.info(
        "import %s done: %s rows, %s created, %s existing, %s refused",
        job.id, job.rows_done, job.created_count, job.existing_count, job.error_count,
    )  # fmt: skip


def fail_job(job_id: int, message: str) -> None:
    """The file cannot be read on (rows before the problem stay imported)."""
    job = db.session.get(ImportJob, job_id)
    job.state, job.finished_at, job.message = "failed", utcnow(), message[:2000]
    _close(job)
    log.warning("import %s failed: %s", job.id, message)


def _close(job: ImportJob) -> None:
    # The job keeps the file's name, size and SHA-256; the bytes served their purpose.
    db.session.execute(delete(ImportFile).where(ImportFile.job_id == job.id))
    record_audit(
        job.created_by_id,
        f"import.{job.state}",
        "import_job",
        str(job.id),
        after={
            "filename": job.filename,
            "sha256": job.sha256,
            "rows": job.rows_done,
            "created": job.created_count,
            "existing": job.existing_count,
            "refused": job.error_count,
            "message": job.message,
        },
    )
    db.session.flush()


def resume_stalled() -> int:
    """Hand out again the jobs whose worker died (no heartbeat for a while)."""
    stalled_after = timedelta(seconds=current_app.config["IMPORT_STALLED_AFTER_SECONDS"])
    now = utcnow()
    ids = queries.stalled_jobs(now - stalled_after)
    for job_id in ids:
        db.session.get(ImportJob, job_id).heartbeat_at = now  # handed out once, not every beat
        enqueue("imports.run", job_id=job_id)
    if ids:
        log.warning("import job(s) %s stalled: handed out again", ids)
    return len(ids)
