"""Read side of imports: jobs in a user's scope, the stored file, and the per-chunk look-ups of
natural keys (one query per chunk, never one per row)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import Select, select

from tracker.accounts.models import User
from tracker.accounts.visibility import visible_to
from tracker.catalogue.models import Agency, Office, Procedure
from tracker.database import MAX_ID, among, batches
from tracker.dossiers.models import Dossier
from tracker.errors import NotFound
from tracker.extensions import db
from tracker.imports.models import ImportFile, ImportJob, ImportRowError
from tracker.imports.rows import Catalogue, OfficeRef, ProcedureRef


def scope(query: Select, user: User) -> Select:
    """Jobs `user` may see (`visible_to`): a clerk their office's, an agency officer their
    agency's."""
    return visible_to(user, query, office=ImportJob.office_id, agency=ImportJob.agency_id)


def get_job(job_id: int, user: User) -> ImportJob:
    """The job if `user` may see it; otherwise 404, exactly as a missing one."""
    job = None
    if 0 < job_id <= MAX_ID:
        job = db.session.scalar(scope(select(ImportJob).where(ImportJob.id == job_id), user))
    if job is None:
        raise NotFound(f"no import job {job_id}")
    return job


def row_errors(job_id: int) -> Iterator[tuple[int, str, str]]:
    """(line, field, message) in file order, streamed in batches."""
    errors = ImportRowError.__table__.c
    query = (
        select(errors.line, errors.field, errors.message)
        .where(errors.job_id == job_id)
        .order_by(errors.line, errors.id)
    )
    for row in db.session.execute(query.execution_options(yield_per=2000)):
        yield row.line, row.field, row.message


def file_parts(job_id: int) -> Iterator[bytes]:
    """The stored parts in order, one in memory at a time."""
    parts = ImportFile.__table__.c
    numbers = db.session.scalars(
        select(parts.part).where(parts.job_id == job_id).order_by(parts.part)
    ).all()
    if not numbers:
        raise LookupError(f"import job {job_id} has no stored file")
    for number in numbers:
        yield db.session.scalar(
            select(parts.content).where(parts.job_id == job_id, parts.part == number)
        )


def load_catalogue() -> Catalogue:
    """Every procedure (with its agency's active period) and office, by code."""
    rows = db.session.execute(
        select(
            Procedure.id,
            Procedure.code,
            Procedure.agency_id,
            Agency.code,
            Procedure.active_from,
            Procedure.active_to,
            Agency.active_from,
            Agency.active_to,
            Procedure.allows_two_way,
            Procedure.allows_return_only,
            Procedure.allows_send_only,
        ).join(Agency, Agency.id == Procedure.agency_id)
    )
    procedures = {}
    for *ref, two_way, return_only, send_only in rows:
        allowed = (("two_way", two_way), ("return_only", return_only), ("send_only", send_only))
        forms = tuple(form for form, ok in allowed if ok)
        procedures[ref[1]] = ProcedureRef(*ref, forms)
    offices = {
        code: OfficeRef(id_, code, channel_id, start, end)
        for id_, code, channel_id, start, end in db.session.execute(
            select(Office.id, Office.code, Office.channel_id, Office.active_from, Office.active_to)
        )
    }
    return Catalogue(procedures, offices)


def office_ref(office_id: int) -> OfficeRef:
    office = db.session.get(Office, office_id)
    return OfficeRef(
        office.id, office.code, office.channel_id, office.active_from, office.active_to
    )


def existing_references(keys: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """The (agency id, agency reference) pairs among `keys` that a dossier already carries."""
    wanted = set(keys)
    columns = Dossier.__table__.c
    found: set[tuple[int, str]] = set()
    for references in batches(sorted({reference for _, reference in wanted})):
        rows = db.session.execute(
            select(columns.agency_id, columns.agency_reference).where(
                among(columns.agency_reference, references)
            )
        )
        # The same reference may belong to another agency's dossier: not this key.
        found.update(key for key in rows.tuples() if key in wanted)
    return found


def items_in_use(items: Iterable[str]) -> dict[str, list[datetime]]:
    """item number -> when each dossier carrying it was received (S10 numbers are reused after
    12 months: the caller compares the dates). Looked up by item only, so that the item index
    serves the query however large the table."""
    found: dict[str, list[datetime]] = defaultdict(list)
    columns = Dossier.__table__.c
    for batch in batches(sorted(set(items))):
        rows = db.session.execute(
            select(columns.postal_item_number, columns.received_at).where(
                among(columns.postal_item_number, batch)
            )
        )
        for item, received_at in rows:
            found[item].append(received_at)
    return found


def stalled_jobs(cutoff: datetime) -> list[int]:
    """Jobs not finished whose last sign of life (heartbeat, else creation) is before `cutoff`."""
    last_seen = db.func.coalesce(ImportJob.heartbeat_at, ImportJob.created_at)
    return list(
        db.session.scalars(
            select(ImportJob.id)
            .where(ImportJob.state.in_(("queued", "running")), last_seen < cutoff)
            .order_by(ImportJob.id)
        )
    )
