"""The beat schedule. Exactly one beat runs (see README); periodic tasks also hold a lease."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab


def beat_schedule(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    schedule = {
        "outbox-relay": {"task": "outbox.relay", "schedule": float(config["OUTBOX_RELAY_SECONDS"])},
        "notifications-deliver": {"task": "notifications.deliver", "schedule": 30.0},
        # Retries of status deliveries that are due, and runs a dead worker left.
        "status-out-dispatch": {
            "task": "status_out.dispatch",
            "schedule": float(config["STATUS_OUT_DISPATCH_SECONDS"]),
        },
        "sweeps-overdue-stuck": {
            "task": "sweeps.mark_overdue_and_stuck",
            "schedule": crontab(minute=5),
        },
        "sweeps-reconcile": {"task": "sweeps.reconcile", "schedule": crontab(minute=35)},
        # The hourly run looks at recent events only; once a week everything is looked at.
        "sweeps-reconcile-full": {
            "task": "sweeps.reconcile",
            "schedule": crontab(day_of_week=0, hour=3, minute=50),
            "kwargs": {"full": True},
        },
        # Safety net: unmatched postal events whose item number a dossier has taken since.
        "feeds-retry-unmatched": {"task": "feeds.retry_unmatched", "schedule": crontab(minute=50)},
        "imports-resume": {"task": "imports.resume_stalled", "schedule": 120.0},
        # Beat keeps Vietnam time (CELERY timezone in config.py): 01:15 in Vietnam, a quiet hour;
        # the snapshots an hour later read the rollups the recompute has just checked.
        "reports-recompute": {"task": "reports.recompute", "schedule": crontab(hour=1, minute=15)},
        "reports-snapshot": {"task": "reports.snapshot", "schedule": crontab(hour=2, minute=15)},
    }
    if config["DEMO_SIMULATION"]:
        schedule["demo-simulate"] = {"task": "demo.simulate", "schedule": 10.0}
    return schedule
