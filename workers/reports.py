"""Report tasks: the nightly rollup recompute and snapshots, and recomputes managers ask for.

The nightly tasks hold a lease (two runs never overlap); the recompute commits after every year
and renews its lease there, so the lease only has to outlast one year's work. A refresh job holds
a lease of its own (`tracker.reports.jobs.run_refresh`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task

from tracker.outbox.operations import acquire_lease
from tracker.reports import jobs, recompute

# Longer than the recompute of any one year, or all the snapshots.
LEASE_SECONDS = 1800


@shared_task(name="reports.recompute", lease_seconds=LEASE_SECONDS)
def recompute_rollups() -> list[dict[str, Any]]:
    """Nightly: recompute the rollups of every year from the dossiers and events, fix the drift
    and log it; one transaction per year."""

    def renew_lease(_result: recompute.RecomputeResult) -> None:
        # After the year's commit: on SQLite the lease needs the write lock.
        acquire_lease("reports.recompute", timedelta(seconds=LEASE_SECONDS))

    return [result.as_dict() for result in recompute.recompute_all(on_year=renew_lease)]


@shared_task(name="reports.snapshot", lease_seconds=LEASE_SECONDS)
def snapshot_reports() -> list[int]:
    """Nightly: store this year's growth report as of today, and last year's as it now stands."""
    years = jobs.nightly_snapshot_years()
    jobs.snapshot_years(years)
    return years


@shared_task(name="reports.refresh")
def refresh(job_id: int) -> dict[str, Any] | None:
    """Run the refresh job `job_id` a manager asked for (its year and progress are in its row)."""
    job = jobs.run_refresh(job_id)
    if job is None:
        return None
    return {"state": job.state, "years": job.years_done, "rows_fixed": job.rows_fixed}
