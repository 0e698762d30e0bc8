"""Tasks: imports. A job commits after every chunk (tracker/imports/runner.py): a run that dies
loses one chunk's transaction, and the next run carries on from the last committed row."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy.exc import OperationalError

from tracker.imports import operations, runner

# A lost connection or a deadlock victim: try again later (the base adds backoff and jitter).
RETRY = {"autoretry_for": (OperationalError,), "max_retries": 10}


# Imports run one at a time; a job that finds another importing asks again this much later.
BUSY_RETRY_SECONDS = 30


@shared_task(name="imports.run", bind=True, **RETRY)
def run(self, job_id: int) -> dict[str, int] | None:
    """Run (or resume) import job `job_id`; nothing when it is done or another run holds it."""
    try:
        job = runner.run_job(job_id)
    except runner.ImportsBusy as exc:
        raise self.retry(exc=exc, countdown=BUSY_RETRY_SECONDS, max_retries=None) from exc
    if job is None:
        return None
    return {
        "rows": job.rows_done,
        "created": job.created_count,
        "existing": job.existing_count,
        "refused": job.error_count,
    }


@shared_task(name="imports.resume_stalled", lease_seconds=110)
def resume_stalled() -> int:
    """Beat: hand out again the jobs whose worker died mid-import."""
    return operations.resume_stalled()
