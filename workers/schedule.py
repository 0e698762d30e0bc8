"""The beat schedule. Exactly one beat runs (see README); periodic tasks also hold a lease."""

from __future__ import annotations

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "outbox-relay": {"task": "outbox.relay", "schedule": 15.0},
    "notifications-deliver": {"task": "notifications.deliver", "schedule": 30.0},
    "sweeps-overdue-stuck": {
        "task": "sweeps.mark_overdue_and_stuck",
        "schedule": crontab(minute=5),
    },
    "sweeps-reconcile": {"task": "sweeps.reconcile", "schedule": crontab(minute=35)},
    "imports-resume": {"task": "imports.resume_stalled", "schedule": 120.0},
}
